//! `harness`: the `faultline` command.
//!
//! Jepsen's roles as Rust modules: a cluster backend starts real node processes (each in its own
//! network namespace when run as root, on loopback behind a fault proxy otherwise); clients drive the
//! operations a `workloads` generator yields; a nemesis injects faults; every operation and fault is
//! recorded in a history; `checker` turns the history into verdicts and `reports` into an HTML file; the
//! store keeps every run on disk so it can be re-checked and reproduced.
//!
//! The modules, outside in:
//!
//! - [`cli`]: the `faultline` subcommands' arguments and their validation into a [`run::RunConfig`].
//! - [`run`]: one test from start to verdict (phases: run, recover, final reads; then check).
//! - [`cluster`]: the [`cluster::Cluster`] trait and its `netns` and `loopback` backends.
//! - [`nemesis`]: executes fault schedules against a cluster and records what it did.
//! - [`client`]: HTTP clients and the one place operation outcomes are classified.
//! - [`etcd`]: etcd as a second system under test (command line, `/v3` gateway, status).
//! - [`report`]: `report.html` of a stored run (the `reports` crate, fed from the store).
//! - [`campaign`]: `faultline campaign FILE.toml`, a matrix of runs with an index page.
//! - [`recorder`]: `history.jsonl`, line by line; [`store`]: the run directory and `test.json`.
//! - [`logwatch`]: raft-node's committed logs watched during the run (union, replaced entries).
//! - [`analysis`]: checks a stored run (`results.json`); what `faultline check RUN_DIR` runs.
//! - [`check`]: `faultline check PATH` (a history file or a stored run).
//! - Actuation, kept narrow: [`netcmd`] is the only module that runs `ip`/`iptables`, [`signals`] the
//!   only one that sends signals (to pids we spawned), [`proxy`] the fault proxy; [`state`] records
//!   everything created so it is always removed.

pub mod analysis;
pub mod campaign;
pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod etcd;
pub mod logwatch;
pub mod matrix;
pub mod nemesis;
pub mod netcmd;
pub mod proxy;
pub mod recorder;
pub mod report;
pub mod repro;
pub mod run;
pub mod signals;
pub mod state;
pub mod store;
