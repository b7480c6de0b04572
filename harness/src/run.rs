//! `faultline run`: one test from start to verdict, as a sequence of phases.
//!
//! 1. **Set up**: the run directory ([`RunDir`]) with `test.json`, the history recorder, the cluster;
//!    start every node and wait until it is ready ([`ready`]: a system file's probe, a Maelstrom
//!    node's `init_ok`) and, for systems whose status says who leads, for a leader.
//! 2. **Run**: the [`interpreter`] drives the workload with `concurrency` client slots while the
//!    nemesis follows its schedule, [`observe`] records every node's status (and follows raft-node's
//!    committed logs) and [`progress`] shows what happens.
//! 3. **Recover**: heal everything, restart what is down, wait for readiness and a leader.
//! 4. **Final reads** of every key the run touched from every node; then the committed logs.
//! 5. **Tear down** the cluster (on success, on error and on Ctrl-C; its `Drop` is the last resort),
//!    keep a system file's data files, write the message network's counters (`network.json`) and the
//!    outcome into `test.json`.
//! 6. **Check** the history, handed over in memory, exactly as `faultline check` would check the
//!    stored run ([`analysis`]), and write `report.html`.
//!
//! Every task of the run shares one [`Stop`]: the first failure (a history that cannot be written, a
//! failed `iptables` call) stops them all, and the run ends with that error (exit 3).

use crate::analysis::{self, RunResults};
use crate::client::{Client, ClientSetup};
use crate::cluster::{self, Cluster, ClusterConfig, ClusterError};
use crate::config::{ConfigError, RunConfig, replay_command};
use crate::elections::ElectionEvent;
use crate::follow;
use crate::interpreter;
use crate::logwatch::NodeWatch;
use crate::nemesis::{FaultOutcome, Nemesis, NemesisError, Sighting, Timing};
use crate::nodes::NodeSpec;
use crate::observe::{self, Observer, laggard_of, leadership_of};
use crate::progress;
use crate::ready::{self, NotReady};
use crate::recorder::{RecordError, Recorder};
use crate::stop::Stop;
use crate::store::{self, ExecutedFault, NodeFile, RunDir, RunOutcome, StoreError, TestSpec};
use crate::systemfile::{NodeContext, Probe};
use checker::history::{Event, EventType, Process};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use workloads::generator::{Rate, TimeLimit};
use workloads::{Generator, ProcessTable, ScheduledFault};

/// Why a run could not complete. Each is a harness error (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("bad run configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("could not set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("no leader emerged within {secs}s of starting the cluster; see the node logs in {dir}/nodes/")]
    NoLeader { secs: u64, dir: PathBuf },
    #[error(transparent)]
    NotReady(#[from] NotReady),
    #[error("interrupted (Ctrl-C); the cluster was torn down")]
    Interrupted,
    #[error("{0}")]
    Failed(String),
    #[error("checking the run: {0}")]
    Check(#[from] analysis::AnalysisError),
}

impl From<NemesisError> for RunError {
    fn from(e: NemesisError) -> RunError {
        match e {
            NemesisError::Cluster(e) => RunError::Cluster(e),
            NemesisError::Record(e) => RunError::Record(e),
        }
    }
}

/// What `run` hands back.
#[derive(Debug)]
pub struct RunSummary {
    pub dir: RunDir,
    pub results: Option<RunResults>,
    pub operations: u64,
    /// Completions: ok, fail, info.
    pub counts: (u64, u64, u64),
    /// Wall time of the run phase.
    pub run_phase: Duration,
    /// The command that reproduces this run.
    pub reproduce: String,
}

type SharedCluster = Arc<Mutex<Box<dyn Cluster>>>;

/// Runs a whole test with the schedule drawn from `config.nemesis` and the seed; see the module
/// documentation.
pub async fn run(config: RunConfig) -> Result<RunSummary, RunError> {
    run_with_schedule(config, None).await
}

/// [`run`] with a fault schedule given instead of drawn (the planted-bug matrix uses targeted
/// schedules; `faultline repro` replays a stored one).
pub async fn run_with_schedule(
    config: RunConfig,
    fixed: Option<Vec<ScheduledFault>>,
) -> Result<RunSummary, RunError> {
    let config = config.validate()?;
    let run_dir = RunDir::create(&config.store, &config.test_name())?;
    let time_limit_ns = config.time_limit.as_nanos() as u64;
    let plan = workloads::phases::plan(time_limit_ns, config.recover_timeout.as_nanos() as u64);
    // A given schedule (a matrix scenario, a replay) is not what `faultline run` would draw from the
    // same flags: such a run is reproduced by replaying its own test.json.
    let reproduce = match &fixed {
        Some(_) => replay_command(run_dir.path()),
        None => config.reproduce_command(),
    };
    let sched = match fixed {
        Some(s) => s,
        None => {
            config.schedule().map_err(|e| RunError::Failed(format!("drawing the fault schedule: {e}")))?
        }
    };
    let started_at = store::timestamp(store::unix_now(), true);
    let mut spec = config.test_spec(sched.clone(), plan, reproduce.clone(), started_at);
    run_dir.save_spec(&spec)?;
    println!("faultline: seed {}; run directory {}", config.seed, run_dir.path().display());
    println!("faultline: reproduce with: {reproduce}");

    let start = Instant::now();
    let recorder = Arc::new(if config.record {
        Recorder::create(&run_dir.history(), start)?
    } else {
        Recorder::disabled(start)
    });
    let cluster_config = ClusterConfig {
        nodes: config.nodes,
        system: config.system.clone(),
        node_bin: config.node_bin.clone(),
        node_args: config.node_args.clone(),
        nodes_dir: run_dir.nodes_dir(),
        seed: config.seed,
        proxied: config.nemesis.kinds.iter().any(|k| k.needs_proxy())
            || sched.iter().any(|f| f.fault.needs_proxy()),
        lazyfs: config.lazyfs_mounted().then_some(config.lazyfs_metadata),
        state_dir: crate::state::state_dir(),
        message_types: config.nemesis.message_types.clone(),
        ssh: config.ssh.clone(),
    };
    let mut cluster = cluster::create(config.net, cluster_config).await?;
    let nodes: Vec<NodeSpec> = cluster.nodes().to_vec();
    let network = cluster.network();
    let token = cluster.procs().0.token().to_string();
    let cluster: SharedCluster = Arc::new(Mutex::new(cluster));
    let mut outcome = RunOutcome { cluster: nodes.clone(), ..RunOutcome::default() };

    let stop = Stop::new();
    let clients = ClientSetup {
        system: config.system.clone(),
        nodes: nodes.clone().into(),
        timeout: config.op_timeout,
        empty_read: config.workload.empty_read(),
        seed: config.seed,
        shim_logs: run_dir.clients_dir(),
        network: network.clone(),
    };
    let phases = Phases {
        config: &config,
        run_dir: &run_dir,
        cluster: cluster.clone(),
        nodes: nodes.clone(),
        recorder: recorder.clone(),
        stop: stop.clone(),
        clients,
        network: network.clone(),
        token: token.clone(),
    };
    let result = tokio::select! {
        r = phases.all(sched, &mut outcome) => r,
        _ = tokio::signal::ctrl_c() => Err(RunError::Interrupted),
    };
    // Whatever the phases did: every task stops, the cluster is torn down.
    stop.finish();
    outcome.messages_dropped =
        cluster.lock().expect("cluster lock poisoned only by a panic").messages_dropped();
    let teardown = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster.lock().expect("cluster lock poisoned only by a panic").teardown()
        })
        .await
        .map_err(|e| RunError::Failed(format!("tearing down the cluster: {e}")))
        .and_then(|r| r.map_err(RunError::from))
    };
    if let Some(file) = config.system.file() {
        for node in &nodes {
            let ctx = NodeContext {
                spec: node,
                all: &nodes,
                seed: config.seed,
                token: &token,
                shared_peers: config.system.shared_peer_addresses(),
            };
            for kept in file.keep_data_files(&ctx) {
                if let Err(e) = kept {
                    tracing::warn!(node = %node.name, error = %e, "could not keep a data file");
                }
            }
        }
    }
    if let Some(net) = &network {
        store::write_json(&run_dir.network(), &net.stats())?;
    }
    let events = recorder.take_events();
    if let Err(e) = &result {
        outcome.error = Some(e.to_string());
    }
    let (ok, fail, info) = recorder.counts.snapshot();
    outcome.operations = ok + fail + info;
    outcome.executed = executed_faults(&events);
    spec.outcome = Some(outcome.clone());
    run_dir.save_spec(&spec)?;
    result?;
    teardown?;

    let results = if config.check && config.record {
        let history = checker::History::from_events(&run_dir.history().display().to_string(), &events, None)
            .map_err(|e| RunError::Failed(format!("{}: {e}", run_dir.history().display())))?;
        let r = analysis::check_run(&run_dir, &spec, &history, analysis::Budget::default())?;
        // A report that cannot be drawn does not change the verdict; say so and go on.
        if let Err(e) = crate::report::write_report_from(&run_dir, &spec, events, &r) {
            tracing::warn!(error = %e, "could not write report.html");
            eprintln!("faultline: warning: report.html not written: {e}");
        }
        Some(r)
    } else {
        None
    };
    Ok(RunSummary {
        dir: run_dir,
        results,
        operations: outcome.operations,
        counts: (ok, fail, info),
        run_phase: Duration::from_nanos(outcome.run_end.saturating_sub(outcome.run_start)),
        reproduce,
    })
}

/// What the phases share.
struct Phases<'a> {
    config: &'a RunConfig,
    run_dir: &'a RunDir,
    cluster: SharedCluster,
    nodes: Vec<NodeSpec>,
    recorder: Arc<Recorder>,
    stop: Stop,
    clients: ClientSetup,
    network: Option<crate::msgnet::Network>,
    /// The run's cluster token (a system file's `{token}`).
    token: String,
}

impl Phases<'_> {
    /// Every phase before teardown; records phase times into `outcome`.
    async fn all(&self, sched: Vec<ScheduledFault>, outcome: &mut RunOutcome) -> Result<(), RunError> {
        let config = self.config;
        let system = &config.system;
        // Set up: start every node, then wait until each is ready and (where known) one leads.
        blocking(&self.cluster, |c| {
            for i in 0..c.nodes().len() {
                c.start(i)?;
            }
            Ok(())
        })
        .await?;
        let started = Instant::now();
        self.wait_ready().await?;
        let mut observer = Observer::new(system.clone(), &self.nodes, Duration::from_millis(500))?;
        if system.capabilities().roles
            && observer.wait_for_leader(config.recover_timeout, &self.stop).await.is_none()
        {
            return Err(RunError::NoLeader {
                secs: config.recover_timeout.as_secs(),
                dir: self.run_dir.path().to_path_buf(),
            });
        }
        // The run's first election, the first sample of what one takes here (see workloads::roles).
        let first_election = started.elapsed();

        // Observers for the run phase, the recovery and the final reads.
        let observers = Stop::new();
        // The poller publishes its first sighting at once.
        let (leader_tx, leader_rx) = watch::channel(None);
        let (faults_tx, faults_rx) = watch::channel(String::new());
        let poller = tokio::spawn(observe::poll_status(
            Observer::new(system.clone(), &self.nodes, Duration::from_millis(500))?,
            self.recorder.clone(),
            self.run_dir.status(),
            leader_tx,
            self.linked(&observers),
        ));
        let log_watch = system.capabilities().committed_log.then(|| {
            // A node that does not answer within 2 s is asked again at its next round.
            let client = Client::new(system.clone(), Duration::from_secs(2), Value::Null)?;
            Ok::<_, RunError>(tokio::spawn(observe::watch_logs(
                self.nodes.clone(),
                client,
                self.recorder.clone(),
                self.linked(&observers),
            )))
        });
        let log_watch = log_watch.transpose()?;
        let progress = config.progress.then(|| {
            tokio::spawn(progress::show(
                self.recorder.clone(),
                config.time_limit,
                faults_rx,
                self.linked(&observers),
            ))
        });

        // Run phase.
        let mut table = ProcessTable::new(config.concurrency, config.nodes);
        let base = config
            .workload
            .generator(&config.workload_options, config.seed)
            .map_err(|e| RunError::Failed(format!("the workload generator: {e}")))?;
        let base: Box<dyn Generator> = match config.rate {
            Some(r) => Box::new(Rate::new(base, r, config.seed)),
            None => base,
        };
        let generator: Box<dyn Generator> =
            Box::new(TimeLimit::new(base, config.time_limit.as_nanos() as u64));
        outcome.run_start = self.recorder.now();
        let mut nem = Nemesis::new(config.seed);
        nem.roles.first_election(first_election.as_nanos() as u64);
        let nemesis = Arc::new(Mutex::new(nem));
        // Waits for an event read the nodes' logs as they are written.
        let events = sched.iter().any(|f| matches!(f.fault, workloads::Fault::Await { .. })).then(|| {
            crate::follow::follow(self.nodes.iter().map(|n| (n.name.clone(), n.stderr_log())).collect())
        });
        let nemesis_task = tokio::spawn(run_nemesis(
            self.cluster.clone(),
            nemesis.clone(),
            // The nemesis's own look at the leader: short, so a paused node cannot hold a fault back.
            Observer::new(system.clone(), &self.nodes, LOOK_WITHIN)?,
            leader_rx,
            faults_tx.clone(),
            self.recorder.clone(),
            sched,
            events,
            NemesisClock {
                run_start: Instant::now(),
                run_start_ns: outcome.run_start,
                time_limit: config.time_limit,
                election: config.election_timeout(),
                composed: config.nemesis.composed,
            },
            self.stop.clone(),
        ));
        let generator = self.drive(generator, &mut table).await?;
        // The schedule ends with a heal at the time limit; let it finish.
        nemesis_task.await.map_err(|e| RunError::Failed(format!("the nemesis task: {e}")))??;
        outcome.run_end = self.recorder.now();
        self.check_stop()?;

        // Recover: heal whatever is still broken (idempotent), wait for a leader.
        {
            let (nemesis, recorder) = (nemesis.clone(), self.recorder.clone());
            blocking_with(&self.cluster, move |c| {
                nemesis.lock().expect("nemesis lock poisoned only by a panic").heal_and_record(c, &recorder)
            })
            .await?;
        }
        faults_tx.send_replace("recovering".into());
        outcome.recovered_at = match self.wait_ready().await {
            Err(e) => {
                tracing::warn!(error = %e, "not every node is ready after recovery; final reads will likely fail");
                None
            }
            Ok(()) if system.capabilities().roles => observer
                .wait_for_leader(config.recover_timeout, &self.stop)
                .await
                .map(|_| self.recorder.now()),
            Ok(()) => Some(self.recorder.now()),
        };
        if outcome.recovered_at.is_none() {
            tracing::warn!("the cluster did not recover; final reads will likely fail");
        }

        // Final reads: every key the run touched, from every node.
        faults_tx.send_replace("final reads".into());
        let finals: Box<dyn Generator> =
            Box::new(config.workload.final_reads(&generator.keys(), config.nodes));
        outcome.final_reads_start = self.recorder.now();
        self.drive(finals, &mut table).await?;
        outcome.final_reads_end = self.recorder.now();

        observers.finish();
        let _ = poller.await;
        if let Some(p) = progress {
            let _ = p.await;
        }
        if let Some(watch) = log_watch {
            let watches = watch.await.map_err(|e| RunError::Failed(format!("the log watcher: {e}")))?;
            self.store_committed_logs(watches).await?;
        }
        self.check_stop()
    }

    /// Waits until every node is ready: a Maelstrom node has answered `init`, a system file's probe
    /// passes. Systems without either are ready when started (raft-node and etcd then wait for a
    /// leader).
    async fn wait_ready(&self) -> Result<(), RunError> {
        if let Some(net) = &self.network {
            ready::wait_init(net, &self.nodes, self.config.recover_timeout).await?;
        }
        let system = &self.config.system;
        if let (Some(r), Some(file)) = (system.readiness(), system.file()) {
            let commands: Vec<Vec<String>> = match &r.probe {
                Probe::Command(words) => self
                    .nodes
                    .iter()
                    .map(|spec| {
                        let ctx = NodeContext {
                            spec,
                            all: &self.nodes,
                            seed: self.config.seed,
                            token: &self.token,
                            shared_peers: system.shared_peer_addresses(),
                        };
                        words.iter().map(|w| w.expand(&ctx, &file.dir())).collect()
                    })
                    .collect(),
                _ => Vec::new(),
            };
            ready::wait_probe(&r.probe, &self.nodes, &commands, r.timeout, &self.stop).await?;
        }
        Ok(())
    }

    /// A stop signal for a helper task that fires when the run stops or when `phase` ends.
    fn linked(&self, phase: &Stop) -> Stop {
        let linked = Stop::new();
        let (run, phase, out) = (self.stop.clone(), phase.clone(), linked.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = run.stopped() => match run.failure() {
                    Some(e) => out.fail(e),
                    None => out.finish(),
                },
                _ = phase.stopped() => out.finish(),
            }
        });
        // A helper's failure stops the run.
        let (helper, run) = (linked.clone(), self.stop.clone());
        tokio::spawn(async move {
            helper.stopped().await;
            if let Some(e) = helper.failure() {
                run.fail(e);
            }
        });
        linked
    }

    fn check_stop(&self) -> Result<(), RunError> {
        match self.stop.failure() {
            Some(e) => Err(RunError::Failed(e)),
            None => Ok(()),
        }
    }

    /// Drives `generator` with one client per slot (see [`interpreter`]).
    async fn drive(
        &self,
        generator: Box<dyn Generator>,
        table: &mut ProcessTable,
    ) -> Result<Box<dyn Generator>, RunError> {
        let clients = (0..self.config.concurrency)
            .map(|slot| self.clients.client(slot))
            .collect::<Result<Vec<_>, _>>()
            .map_err(RunError::Failed)?;
        let generator =
            interpreter::drive(generator, table, clients, &self.nodes, self.recorder.clone(), &self.stop)
                .await;
        self.check_stop()?;
        Ok(generator)
    }

    /// One last whole fetch of each node's committed log joins what the watcher saw during the run;
    /// the union and any replaced entries are stored for the checker.
    async fn store_committed_logs(&self, mut watches: Vec<NodeWatch>) -> Result<(), RunError> {
        let client = Client::new(self.config.system.clone(), Duration::from_secs(10), Value::Null)?;
        for (node, watch) in self.nodes.iter().zip(watches.iter_mut()) {
            match client.get_text(&format!("{}/debug/log?from=0", node.url())).await {
                Ok(text) => {
                    if let Err(e) = watch.observe(&text, self.recorder.now()) {
                        return Err(RunError::Failed(format!("{}: /debug/log: {e}", node.name)));
                    }
                }
                Err(e) => tracing::warn!(node = %node.name, error = %e, "could not fetch the committed log"),
            }
            if watch.seen() {
                store::write_json(
                    &self.run_dir.node_file(&node.name, NodeFile::CommittedLog),
                    &watch.body(),
                )?;
            }
            if !watch.changes().is_empty() {
                tracing::warn!(node = %node.name, changes = watch.changes().len(), "committed entries were replaced");
                store::write_json(
                    &self.run_dir.node_file(&node.name, NodeFile::LogChanges),
                    watch.changes(),
                )?;
            }
        }
        Ok(())
    }
}

/// When the nemesis's faults are due: absolute ones at their time from the start of the run phase,
/// relative ones ([`workloads::ScheduledFault::after`]) that many measured election times after the
/// previous fault fired, never later than the end of the run phase.
///
/// Two kinds of schedule keep time differently. A composed schedule (drawn by `faultline run`'s
/// default and by the explorer, or a replay of one) is paced by the run's elections: a sequence
/// keeps two elections of quiet after the previous one, and a fault aimed at the leader waits up
/// to one election for a leader to emerge. Every other schedule is explicit (the matrix's
/// choreographies with millisecond offsets, the alternating nemesis, replays of those): each
/// step fires at its planned time, its roles resolved from one bounded look at the cluster
/// ([`LOOK_WITHIN`]) or else the poller's latest view. Waiting there stretched forget-vote's
/// 200 ms choreography by 0.4-1.2 s and the matrix stopped finding it.
#[derive(Clone, Copy, Debug)]
struct NemesisClock {
    run_start: Instant,
    /// `run_start` on the recorder's clock (the history's times), for the faults' `due` stamps.
    run_start_ns: u64,
    time_limit: Duration,
    /// The system's configured election timeout (what an election takes before one was measured).
    election: Duration,
    /// A composed schedule: paced by elections (see above); otherwise every step is on time.
    composed: bool,
}

impl NemesisClock {
    /// When `item` is due, given when the previous fault fired and what one election takes now.
    fn due(&self, item: &ScheduledFault, last_fired: Option<Instant>, election: Duration) -> Instant {
        let end = self.run_start + self.time_limit;
        match (item.after, last_fired) {
            (Some(k), Some(prev)) => (prev + election.mul_f64(k.max(0.0))).min(end),
            // A composed sequence starts at its planned time, but never within two elections of the
            // previous fault (slow elections stretch sequences; the quiet time between them stays).
            (None, Some(prev)) if self.composed && item.at < self.time_limit.as_nanos() as u64 => {
                (self.run_start + Duration::from_nanos(item.at)).max(prev + 2 * election)
            }
            _ => self.run_start + Duration::from_nanos(item.at),
        }
    }
}

/// How long the nemesis's look at the roles waits for a node's answer (a paused node must not
/// hold a fault back): the longest an explicit schedule's fault waits before it fires.
const LOOK_WITHIN: Duration = Duration::from_millis(100);

/// Follows the fault schedule until its end (or the run stops). Between faults it feeds the
/// poller's leader sightings into the nemesis's role history.
#[allow(clippy::too_many_arguments, reason = "one task's inputs, each used once")]
async fn run_nemesis(
    cluster: SharedCluster,
    nemesis: Arc<Mutex<Nemesis>>,
    mut observer: Observer,
    mut leader: watch::Receiver<Option<(String, u64)>>,
    faults: watch::Sender<String>,
    recorder: Arc<Recorder>,
    sched: Vec<ScheduledFault>,
    mut events: Option<mpsc::UnboundedReceiver<follow::Seen>>,
    clock: NemesisClock,
    stop: Stop,
) -> Result<(), RunError> {
    let roles =
        |n: &Arc<Mutex<Nemesis>>| n.lock().expect("nemesis lock poisoned only by a panic").roles.clone();
    let end = clock.run_start + clock.time_limit;
    let mut last_fired: Option<Instant> = None;
    for item in sched {
        let election = Duration::from_nanos(roles(&nemesis).election_time(clock.election.as_nanos() as u64));
        let due = clock.due(&item, last_fired, election);
        let mut watching = true;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => break,
                changed = leader.changed(), if watching => match changed {
                    Ok(()) => {
                        let seen = leader.borrow_and_update().clone();
                        let now = recorder.now();
                        nemesis
                            .lock()
                            .expect("nemesis lock poisoned only by a panic")
                            .roles
                            .observe(now, seen.as_ref().map(|(l, t)| (l.as_str(), *t)));
                    }
                    Err(_) => watching = false,
                },
                _ = stop.stopped() => return Ok(()),
            }
        }
        // A fault planned past the end of the run phase (its chain was stretched by slow elections)
        // is not run; the final heal is.
        if due >= end && !is_last_heal(&item, end, due) {
            continue;
        }
        let mut seen = Sighting { leader: leader.borrow().clone(), laggard: None, triggered: None };
        if let workloads::Fault::Await { event, within } = item.fault {
            let until = (Instant::now() + election.mul_f64(within.max(0.0))).min(end);
            if let Some(rx) = events.as_mut() {
                match wait_for(rx, event, until, &stop).await {
                    Some(found) => seen.triggered = found,
                    None => return Ok(()),
                }
            }
        }
        if item.fault.needs_leader() && !clock.composed {
            // On time: one look, bounded, for the leader and the laggard; a leader nobody names
            // in it (a paused leader does not answer) is the poller's, as it was last seen.
            // (The observer gives up on a node after LOOK_WITHIN.)
            let statuses = observer.poll().await;
            seen.leader = leadership_of(&statuses, observer.names()).or(seen.leader);
            let name = seen.leader.as_ref().map(|(l, _)| l.as_str());
            seen.laggard = laggard_of(&statuses, observer.names(), name);
        } else if item.fault.needs_leader() {
            // The poller's view can be a quarter of a second old, across an election; look again.
            // A fault aimed at the leader waits up to one election for one to emerge.
            let election = roles(&nemesis).election_time(clock.election.as_nanos() as u64);
            let patience = Instant::now() + Duration::from_nanos(election);
            let statuses = loop {
                let statuses = observer.poll().await;
                let found = leadership_of(&statuses, observer.names()).is_some();
                if found || !item.fault.aims_at_leader() || Instant::now() >= patience.min(end) {
                    break statuses;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(30)) => {}
                    _ = stop.stopped() => return Ok(()),
                }
            };
            // No node answering as leader is news too (a paused leader does not answer).
            seen.leader = leadership_of(&statuses, observer.names());
            let name = seen.leader.as_ref().map(|(l, _)| l.as_str());
            seen.laggard = laggard_of(&statuses, observer.names(), name);
        }
        last_fired = Some(Instant::now());
        let at = recorder.now();
        let timing = Timing {
            due: clock.run_start_ns + due.saturating_duration_since(clock.run_start).as_nanos() as u64,
            fired: at,
        };
        let (nem, rec) = (nemesis.clone(), recorder.clone());
        let fault = item.fault.clone();
        let done = blocking_with(&cluster, move |c| {
            nem.lock().expect("nemesis lock poisoned only by a panic").execute(c, &fault, timing, &seen, &rec)
        })
        .await;
        match done {
            Ok(outcome) => {
                let label = match (&item.fault, &outcome) {
                    (workloads::Fault::Heal, _) => String::new(),
                    (_, FaultOutcome::Skipped { .. }) => faults.borrow().clone(),
                    (f, o) => format!("{} {}", f.name(), o.summary()),
                };
                faults.send_replace(label);
            }
            Err(e) => {
                stop.fail(format!("nemesis {}: {e}", item.fault.name()));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The first `event` a node logs from now until `until` (`Some(None)`: none came), or None when
/// the run stopped meanwhile. Events logged before the wait began are not news.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<follow::Seen>,
    event: workloads::Event,
    until: Instant,
    stop: &Stop,
) -> Option<Option<ElectionEvent>> {
    while rx.try_recv().is_ok() {}
    loop {
        tokio::select! {
            seen = rx.recv() => match seen {
                Some(s) if s.event.what.event() == Some(event) => return Some(Some(s.event)),
                Some(_) => {}
                None => return Some(None),
            },
            _ = tokio::time::sleep_until(until.into()) => return Some(None),
            _ = stop.stopped() => return None,
        }
    }
}

/// Whether `item` is the schedule's final heal (at the end of the run phase).
fn is_last_heal(item: &ScheduledFault, end: Instant, due: Instant) -> bool {
    item.is_heal() && item.after.is_none() && due >= end
}

/// Runs a closure on the cluster off the async threads (it runs `ip`/`iptables` and waits on them).
async fn blocking<T: Send + 'static>(
    cluster: &SharedCluster,
    f: impl FnOnce(&mut dyn Cluster) -> Result<T, ClusterError> + Send + 'static,
) -> Result<T, RunError> {
    blocking_with(cluster, f).await
}

/// [`blocking`] for closures with their own error type.
async fn blocking_with<T: Send + 'static, E: Into<RunError> + Send + 'static>(
    cluster: &SharedCluster,
    f: impl FnOnce(&mut dyn Cluster) -> Result<T, E> + Send + 'static,
) -> Result<T, RunError> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = cluster.lock().expect("cluster lock poisoned only by a panic");
        f(c.as_mut())
    })
    .await
    .map_err(|e| RunError::Failed(format!("a cluster task failed: {e}")))?
    .map_err(Into::into)
}

/// The nemesis `info` events of the history.
fn executed_faults(events: &[Event]) -> Vec<ExecutedFault> {
    events
        .iter()
        .filter(|e| e.process == Process::NEMESIS && e.kind == EventType::Info)
        .map(|e| ExecutedFault { time: e.time, f: e.f.clone(), value: e.value.clone() })
        .collect()
}

/// The test spec of a stored run, for callers that need more than the summary.
pub fn spec_of(summary: &RunSummary) -> Result<TestSpec, StoreError> {
    summary.dir.load_spec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::{Fault, Target};

    fn clock(composed: bool) -> NemesisClock {
        NemesisClock {
            run_start: Instant::now(),
            run_start_ns: 0,
            time_limit: Duration::from_secs(12),
            election: Duration::from_millis(300),
            composed,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The regression: forget-vote's choreography (a kill 200 ms after a partition) ran 0.4-1.2 s
    /// late per step once every step kept two elections from the previous one, and the matrix
    /// stopped finding the bug.
    #[test]
    fn forget_votes_choreography_keeps_its_millisecond_offsets() {
        let c = clock(false);
        let kill = ScheduledFault::at(ms(1200).as_nanos() as u64, Fault::Kill { target: Target::Bridge });
        let prev = Some(c.run_start + ms(1000));
        assert_eq!(c.due(&kill, prev, ms(300)), c.run_start + ms(1200));
        // Even when the previous fault fired late, the next keeps its own planned time.
        assert_eq!(c.due(&kill, Some(c.run_start + ms(1150)), ms(300)), c.run_start + ms(1200));
    }

    #[test]
    fn composed_sequences_keep_two_elections_of_quiet_and_relative_steps_follow_the_last_fault() {
        let c = clock(true);
        let start = ScheduledFault::at(ms(1200).as_nanos() as u64, Fault::Kill { target: Target::Leader });
        let prev = c.run_start + ms(1000);
        assert_eq!(c.due(&start, Some(prev), ms(300)), prev + ms(600));
        let mut next = ScheduledFault::at(0, Fault::Heal);
        next.after = Some(1.5);
        assert_eq!(c.due(&next, Some(prev), ms(300)), prev + ms(450));
        // The first fault of the run has nothing to keep away from.
        assert_eq!(c.due(&start, None, ms(300)), c.run_start + ms(1200));
    }
}
