//! `harness`: the `faultline` command.
//!
//! Jepsen's roles as Rust modules: a cluster backend starts real node processes (each in its own
//! network namespace when run as root, on loopback behind a fault proxy otherwise); clients drive the
//! operations a `workloads` generator yields; a nemesis injects faults; every operation and fault is
//! recorded in a history; `checker` turns the history into verdicts and `reports` into an HTML file; the
//! store keeps every run on disk so it can be re-checked and reproduced.
//!
//! Data flows one way: CLI -> [`config::RunConfig`] -> [`run`] phases -> [`store::RunDir`] ->
//! [`analysis`] -> [`report`]. The modules, outside in (no module imports one that imports it back):
//!
//! - [`cli`]: `faultline`'s arguments, parsed and handed to [`config`]; the subcommands own theirs:
//!   [`check`], [`matrix`], [`repro`], [`report`], [`campaign`] (split over machines by [`shard`]),
//!   [`explore`].
//! - [`config`]: the one [`config::RunConfig`]: defaults, validation, `test.json` mapping, the
//!   reproduce command. Every subcommand builds its runs through it.
//! - [`run`]: one test from start to verdict, as phases; [`interpreter`] owns the generator and
//!   feeds the client workers; [`nemesis`] executes the fault schedule (its waits for an event read
//!   the nodes' logs live through [`follow`]); [`observe`] records statuses and committed logs
//!   ([`logwatch`]); [`progress`] shows it; [`stop`] stops every task at once.
//! - [`system`]: the system-under-test seam (how to start a node, speak to it, read its status);
//!   [`raftnode`] and [`etcd`] are the built-in systems, [`systemfile`] reads a system described in
//!   TOML (its client `http-kv`, `etcd-v3` or a [`shim`] process), [`maelstrom`] is Maelstrom's node
//!   protocol; [`client`] sends every kind of request and is the one place outcomes are classified;
//!   [`ready`] waits for nodes to take operations; [`protocol`] and [`nodes`] are the vocabulary they
//!   share.
//! - [`cluster`]: the [`cluster::Cluster`] trait and its `netns`, `loopback`, `ssh` (remote hosts)
//!   and `stdio` (Maelstrom nodes, with [`msgnet`], the message network the harness is for them)
//!   backends.
//! - [`store`]: [`store::RunDir`], the only module that knows a run directory's file names, and the
//!   [`durable`] the one writer of whole files (fsynced, atomic); [`recorder`] writes `history.jsonl`
//!   and keeps it in memory.
//! - [`analysis`]: checks a run (`results.json`: linearizability, or for a transactional workload
//!   the transactional checker; durability, logs, panics); [`findings`]: its anomaly classes and
//!   detection time.
//! - [`explore`]: `faultline explore`, greybox fuzzing of composed fault schedules guided by
//!   [`coverage`] (facts of a run's observed behaviour), with shrinking of the failures it finds.
//! - Actuation, kept narrow: [`netcmd`] is the only module that runs `ip`/`iptables`, [`signals`] the
//!   only one that sends signals (to pids we spawned), [`proxy`] the fault proxy, [`lazyfs`] the only
//!   one that mounts (each node's data directory, for power loss), [`diskfault`] the only one that
//!   damages a node's files; [`ssh`] the only one that runs `ssh`/`scp`, and [`remote`] what is done
//!   on a remote host through it (start, signal, our iptables chain there); [`state`] records
//!   everything created so it is always removed.
//! - [`units`]: durations and byte sizes as people write them.

pub mod analysis;
pub mod campaign;
pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod coverage;
pub mod diskfault;
pub mod durable;
pub mod elections;
pub mod etcd;
pub mod explore;
pub mod findings;
pub mod follow;
pub mod interpreter;
pub mod lazyfs;
pub mod logwatch;
pub mod maelstrom;
pub mod matrix;
pub mod msgnet;
pub mod nemesis;
pub mod netcmd;
pub mod nodes;
pub mod observe;
pub mod programs;
pub mod progress;
pub mod protocol;
pub mod proxy;
pub mod raftnode;
pub mod ready;
pub mod recorder;
pub mod remote;
pub mod report;
pub mod repro;
pub mod run;
pub mod shard;
pub mod shim;
pub mod shrink;
pub mod shrunk;
pub mod signals;
pub mod ssh;
pub mod state;
pub mod stop;
pub mod store;
pub mod system;
pub mod systemfile;
pub mod units;
