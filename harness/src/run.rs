//! `faultline run`: one test from start to verdict.
//!
//! The phases (see [`workloads::phases`]): set up the store and the cluster and wait for a leader;
//! **run** the workload with `concurrency` client processes while the nemesis follows its schedule
//! and a poller records every node's `/status`; **recover** (heal everything, restart what is down,
//! wait for a leader); **final reads** of every key from every node; then fetch every node's committed
//! log, tear the cluster down, and check the stored run exactly as `faultline check` would. The
//! cluster is torn down on success, on error and on Ctrl-C (and by its `Drop` as a last resort).

use crate::analysis::{self, RunResults};
use crate::client::{Client, Outcome};
use crate::cluster::{self, Backend, Cluster, ClusterConfig, ClusterError, NodeSpec, System};
use crate::logwatch::NodeWatch;
use crate::nemesis::Nemesis;
use crate::recorder::{Draft, Recorder};
use crate::store::{self, ExecutedFault, RunOutcome, StoreError, TestSpec};
use checker::history::{EventType, Process};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use workloads::generator::{Rate, TimeLimit};
use workloads::nemesis::schedule;
use workloads::{Context, Generator, NemesisSpec, Next, ProcessTable, Workload, WorkloadOptions};

/// Everything a run needs, validated (the CLI builds it; so can tests and benchmarks).
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub nodes: usize,
    /// The system under test; its binary is `node_bin`.
    pub system: System,
    pub time_limit: Duration,
    pub workload: Workload,
    pub workload_options: WorkloadOptions,
    pub nemesis: NemesisSpec,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub seed: u64,
    pub node_bin: PathBuf,
    pub node_args: Vec<String>,
    pub store: PathBuf,
    pub net: Backend,
    pub op_timeout: Duration,
    pub recover_timeout: Duration,
    /// Write history.jsonl (off only in the recording-overhead benchmark).
    pub record: bool,
    /// Run the checkers at the end.
    pub check: bool,
    /// Show a progress bar / progress lines.
    pub progress: bool,
}

impl RunConfig {
    /// The store's directory name for this test.
    pub fn test_name(&self) -> String {
        let nemesis = if self.nemesis.kinds.is_empty() {
            "none".to_string()
        } else {
            self.nemesis.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join("+")
        };
        format!("{}-{}-{nemesis}", self.system.name(), self.workload)
    }

    /// The command line that reproduces this run.
    pub fn reproduce_command(&self) -> String {
        let mut parts = vec!["faultline run".to_string(), format!("--system {}", self.system.name())];
        if let Some(o) = self.system.etcd_options() {
            if o.serializable_reads {
                parts.push("--etcd-serializable-reads".into());
            }
            if o.pre_vote {
                parts.push("--etcd-pre-vote".into());
            }
        }
        parts.extend([
            format!("--nodes {}", self.nodes),
            format!("--time-limit {}ms", self.time_limit.as_millis()),
            format!("--workload {}", self.workload),
        ]);
        if self.nemesis.kinds.is_empty() {
            parts.push("--nemesis none".into());
        } else {
            let kinds: Vec<&str> = self.nemesis.kinds.iter().map(|k| k.name()).collect();
            parts.push(format!("--nemesis {}", kinds.join(",")));
            parts.push(format!("--nemesis-interval {}ms", self.nemesis.interval / 1_000_000));
        }
        parts.push(format!("--concurrency {}", self.concurrency));
        if let Some(r) = self.rate {
            parts.push(format!("--rate {r}"));
        }
        parts.push(format!("--seed {}", self.seed));
        parts.push(format!("--net {}", self.net.name()));
        let bin_flag = if self.system == System::RaftNode { "--node-bin" } else { "--etcd-bin" };
        parts.push(format!("{bin_flag} {}", shell_quote(&self.node_bin.display().to_string())));
        for a in &self.node_args {
            parts.push(format!("--node-arg={}", shell_quote(a)));
        }
        parts.push(format!("--store {}", shell_quote(&self.store.display().to_string())));
        parts.join(" ")
    }
}

pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Why a run could not complete. Each is a harness error (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("bad run configuration: {0}")]
    Config(String),
    #[error("no leader emerged within {secs}s of starting the cluster; see the node logs in {dir}/nodes/")]
    NoLeader { secs: u64, dir: PathBuf },
    #[error("interrupted (Ctrl-C); the cluster was torn down")]
    Interrupted,
    #[error("a harness task failed: {0}")]
    Task(String),
}

/// What `run` hands back.
#[derive(Debug)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub results: Option<RunResults>,
    pub operations: u64,
    pub counts: (u64, u64, u64),
    /// Wall time of the run phase.
    pub run_phase: Duration,
}

/// Pause of a process after a failed operation (during elections every attempt fails at once).
const FAIL_BACKOFF: Duration = Duration::from_millis(20);

type SharedCluster = Arc<Mutex<Box<dyn Cluster>>>;

/// State shared by the run's tasks.
#[derive(Debug)]
struct Shared {
    recorder: Recorder,
    urls: Vec<String>,
    names: Vec<String>,
    system: System,
    /// etcd member ids by node index, learned from each node's own status answers.
    members: Mutex<Vec<Option<u64>>>,
    leader: Mutex<Option<String>>,
    faults: Mutex<String>,
    in_flight: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, what: String) {
        let mut e = self.first_error.lock().expect("error slot lock is never held across a panic");
        if e.is_none() {
            tracing::error!(error = %what, "run error");
            *e = Some(what);
        }
    }

    fn error(&self) -> Option<String> {
        self.first_error.lock().expect("error slot lock is never held across a panic").clone()
    }
}

/// Runs a whole test; see the module documentation.
pub async fn run(config: RunConfig) -> Result<RunSummary, RunError> {
    run_with_schedule(config, None).await
}

/// [`run`] with a fault schedule given instead of drawn from `config.nemesis` and the seed (the
/// planted-bug matrix uses targeted schedules; `faultline repro` replays a stored one).
pub async fn run_with_schedule(
    config: RunConfig,
    fixed: Option<Vec<workloads::ScheduledFault>>,
) -> Result<RunSummary, RunError> {
    validate(&config)?;
    let dir = store::create_run_dir(&config.store, &config.test_name())?;
    let time_limit_ns = config.time_limit.as_nanos() as u64;
    let plan = workloads::phases::plan(time_limit_ns, config.recover_timeout.as_nanos() as u64);
    // A given schedule (a matrix scenario, a replay) is not what `faultline run` would draw from the
    // same flags: such a run is reproduced by replaying its own test.json.
    let reproduce = match &fixed {
        Some(_) => crate::repro::command(&dir),
        None => config.reproduce_command(),
    };
    let sched = match fixed {
        Some(s) => s,
        None => schedule(&config.nemesis, config.nodes, time_limit_ns, config.seed)
            .map_err(|e| RunError::Config(e.to_string()))?,
    };
    let mut spec = TestSpec {
        name: config.test_name(),
        system: config.system.name().into(),
        etcd: config.system.etcd_options(),
        workload: config.workload,
        models: config.workload.models().iter().map(|m| m.to_string()).collect(),
        workload_options: config.workload_options.clone(),
        nodes: config.nodes,
        time_limit_ms: config.time_limit.as_millis() as u64,
        nemesis: config.nemesis.kinds.clone(),
        nemesis_interval_ms: config.nemesis.interval / 1_000_000,
        concurrency: config.concurrency,
        rate: config.rate,
        seed: config.seed,
        op_timeout_ms: config.op_timeout.as_millis() as u64,
        recover_timeout_ms: config.recover_timeout.as_millis() as u64,
        net: config.net,
        node_bin: config.node_bin.display().to_string(),
        node_bin_crc32: store::file_crc32(&config.node_bin),
        node_args: config.node_args.clone(),
        schedule: sched.clone(),
        plan,
        reproduce,
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: store::timestamp(store::unix_now(), true),
        outcome: None,
    };
    spec.save(&dir)?;
    println!("faultline: seed {}; run directory {}", config.seed, dir.display());
    println!("faultline: reproduce with: {}", spec.reproduce);

    let start = Instant::now();
    let recorder = if config.record {
        Recorder::create(&dir.join("history.jsonl"), start).map_err(|e| RunError::Io {
            what: format!("create {}/history.jsonl", dir.display()),
            source: e,
        })?
    } else {
        Recorder::disabled(start)
    };
    let cluster_config = ClusterConfig {
        nodes: config.nodes,
        system: config.system,
        node_bin: config.node_bin.clone(),
        node_args: config.node_args.clone(),
        nodes_dir: dir.join("nodes"),
        seed: config.seed,
        proxied: config.nemesis.kinds.iter().any(|k| k.needs_proxy()),
        state_dir: crate::state::state_dir(),
    };
    let cluster = cluster::create(config.net, cluster_config).await?;
    let specs: Vec<NodeSpec> = cluster.nodes().to_vec();
    let cluster: SharedCluster = Arc::new(Mutex::new(cluster));
    let shared = Arc::new(Shared {
        recorder,
        urls: specs.iter().map(NodeSpec::url).collect(),
        names: specs.iter().map(|s| s.name.clone()).collect(),
        system: config.system,
        members: Mutex::new(vec![None; specs.len()]),
        leader: Mutex::new(None),
        faults: Mutex::new(String::new()),
        in_flight: AtomicUsize::new(0),
        first_error: Mutex::new(None),
    });
    let mut outcome = RunOutcome { cluster: specs, ..RunOutcome::default() };

    let phases = phases(&config, &dir, cluster.clone(), shared.clone(), sched, &mut outcome);
    let result = tokio::select! {
        r = phases => r,
        _ = tokio::signal::ctrl_c() => Err(RunError::Interrupted),
    };
    // Teardown happens whatever the phases did.
    let teardown = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster.lock().expect("cluster lock poisoned only by a panic").teardown()
        })
        .await
        .map_err(|e| RunError::Task(e.to_string()))
        .and_then(|r| r.map_err(RunError::from))
    };
    if let Err(e) = &result {
        outcome.error = Some(e.to_string());
    }
    outcome.operations = shared.recorder.counts.snapshot().0
        + shared.recorder.counts.snapshot().1
        + shared.recorder.counts.snapshot().2;
    spec.outcome = Some(outcome.clone());
    spec.save(&dir)?;
    result?;
    teardown?;

    let results = if config.check && config.record {
        let r = analysis::check_run_dir(&dir).map_err(|e| RunError::Config(e.to_string()))?;
        // A report that cannot be drawn does not change the verdict; say so and go on.
        if let Err(e) = crate::report::write_report(&dir) {
            tracing::warn!(error = %e, "could not write report.html");
            eprintln!("faultline: warning: report.html not written: {e}");
        }
        Some(r)
    } else {
        None
    };
    let counts = shared.recorder.counts.snapshot();
    Ok(RunSummary {
        dir,
        results,
        operations: outcome.operations,
        counts,
        run_phase: Duration::from_nanos(outcome.run_end.saturating_sub(outcome.run_start)),
    })
}

fn validate(c: &RunConfig) -> Result<(), RunError> {
    if c.nodes == 0 || c.nodes > 50 {
        return Err(RunError::Config(format!("--nodes must be between 1 and 50, got {}", c.nodes)));
    }
    if c.concurrency == 0 {
        return Err(RunError::Config("--concurrency must be at least 1".into()));
    }
    if c.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(RunError::Config(format!("--rate must be a positive number, got {:?}", c.rate)));
    }
    match c.system {
        System::RaftNode if !c.node_bin.is_file() => {
            return Err(RunError::Config(format!(
                "node binary {} does not exist; build it with `cargo build -p node --bin raft-node` or pass --node-bin",
                c.node_bin.display()
            )));
        }
        System::RaftNode => {}
        System::Etcd(_) => validate_etcd(c)?,
    }
    c.workload_options.validate().map_err(|e| RunError::Config(e.to_string()))
}

/// The node argument that switches on a planted bug (`--bug` or `--bug=NAME`), if any.
pub fn planted_bug_arg(node_args: &[String]) -> Option<&String> {
    node_args.iter().find(|a| *a == "--bug" || a.starts_with("--bug="))
}

/// What etcd runs cannot do, said before anything starts.
fn validate_etcd(c: &RunConfig) -> Result<(), RunError> {
    if !c.node_bin.is_file() {
        return Err(RunError::Config(format!(
            "etcd binary {} does not exist; install it with `{}` or pass --etcd-bin",
            c.node_bin.display(),
            crate::etcd::INSTALL_HINT
        )));
    }
    if c.workload != Workload::Register {
        return Err(RunError::Config(format!(
            "--system etcd runs the register workload only, not {}",
            c.workload
        )));
    }
    if planted_bug_arg(&c.node_args).is_some() {
        return Err(RunError::Config("planted bugs (--bug) exist only in raft-node, not in etcd".into()));
    }
    Ok(())
}

/// Setup wait, run, recover, final reads, log fetch. Records phase times into `outcome`.
async fn phases(
    config: &RunConfig,
    dir: &Path,
    cluster: SharedCluster,
    shared: Arc<Shared>,
    sched: Vec<workloads::ScheduledFault>,
    outcome: &mut RunOutcome,
) -> Result<(), RunError> {
    // Start every node, then wait for a leader.
    blocking(&cluster, |c| {
        for i in 0..c.nodes().len() {
            c.start(i)?;
        }
        Ok(())
    })
    .await?;
    let status_client =
        Client::new(Duration::from_millis(500), Value::Null).map_err(http_setup)?.for_system(config.system);
    if wait_for_leader(&status_client, &shared, config.recover_timeout).await.is_none() {
        return Err(RunError::NoLeader { secs: config.recover_timeout.as_secs(), dir: dir.to_path_buf() });
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let status_path = dir.join("status.jsonl");
    let poller =
        tokio::spawn(poll_status(shared.clone(), status_client.clone(), status_path, stop_rx.clone()));
    // raft-node's committed logs, watched from now on (see crate::logwatch); etcd has no /debug/log.
    let log_watch = (config.system == System::RaftNode)
        .then(|| {
            Ok::<_, RunError>(tokio::spawn(watch_logs(shared.clone(), log_watch_client()?, stop_rx.clone())))
        })
        .transpose()?;
    let progress =
        config.progress.then(|| tokio::spawn(show_progress(shared.clone(), config.time_limit, stop_rx)));

    // Run phase.
    let table = Arc::new(Mutex::new(ProcessTable::new(config.concurrency, config.nodes)));
    let base = config
        .workload
        .generator(&config.workload_options, config.seed)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let base: Box<dyn Generator> = match config.rate {
        Some(r) => Box::new(Rate::new(base, r, config.seed)),
        None => base,
    };
    let generator: Arc<Mutex<Box<dyn Generator>>> =
        Arc::new(Mutex::new(Box::new(TimeLimit::new(base, config.time_limit.as_nanos() as u64))));
    outcome.run_start = shared.recorder.now();
    let run_start = Instant::now();
    let nemesis = Arc::new(Mutex::new(Nemesis::new(config.seed)));
    // The nemesis's own look at the leader: short, so a paused node cannot hold a fault back for long.
    let nemesis_client =
        Client::new(Duration::from_millis(100), Value::Null).map_err(http_setup)?.for_system(config.system);
    let nemesis_task = tokio::spawn(run_nemesis(
        cluster.clone(),
        nemesis.clone(),
        shared.clone(),
        nemesis_client,
        sched,
        run_start,
    ));
    let empty = if config.workload == Workload::Append { json!([]) } else { Value::Null };
    drive(config, &shared, &table, generator.clone(), &empty).await?;
    // The schedule ends with a heal at the time limit; let it finish.
    nemesis_task.await.map_err(|e| RunError::Task(e.to_string()))??;
    outcome.run_end = shared.recorder.now();
    if let Some(e) = shared.error() {
        return Err(RunError::Task(e));
    }

    // Recover: heal whatever is still broken (idempotent), wait for a leader.
    let healed = {
        let nemesis = nemesis.clone();
        blocking(&cluster, move |c| nemesis.lock().expect("nemesis lock poisoned only by a panic").heal(c))
            .await?
    };
    if healed["restarted"].as_array().is_some_and(|a| !a.is_empty()) || healed["network"] == json!(true) {
        let _ = shared.recorder.record(Draft {
            process: Process::NEMESIS,
            kind: EventType::Info,
            f: "heal".into(),
            key: None,
            value: healed,
            node: None,
            error: None,
        });
    }
    *shared.faults.lock().expect("faults lock is never held across a panic") = "recovering".into();
    outcome.recovered_at =
        wait_for_leader(&status_client, &shared, config.recover_timeout).await.map(|_| shared.recorder.now());
    if outcome.recovered_at.is_none() {
        tracing::warn!("no leader after recovery; final reads will likely fail");
    }

    // Final reads: every key the run touched, from every node.
    *shared.faults.lock().expect("faults lock is never held across a panic") = "final reads".into();
    let keys = generator.lock().expect("generator lock is never held across a panic").keys();
    let finals: Box<dyn Generator> = Box::new(config.workload.final_reads(&keys, config.nodes));
    outcome.final_reads_start = shared.recorder.now();
    drive(config, &shared, &table, Arc::new(Mutex::new(finals)), &empty).await?;
    outcome.final_reads_end = shared.recorder.now();

    let _ = stop_tx.send(true);
    let _ = poller.await;
    if let Some(p) = progress {
        let _ = p.await;
    }

    // Committed logs (raft-node only: etcd has no /debug/log): one last whole fetch joins what the
    // watcher saw during the run; the union and any replaced entries are stored for the checker.
    if let Some(watch) = log_watch {
        let mut watches = watch.await.map_err(|e| RunError::Task(e.to_string()))?;
        let client = status_client_long()?;
        for (i, url) in shared.urls.iter().enumerate() {
            let node = &shared.names[i];
            match client.get_text(&format!("{url}/debug/log?from=0")).await {
                Ok(text) => {
                    if let Err(e) = watches[i].observe(&text, shared.recorder.now()) {
                        shared.fail(format!("{node}: /debug/log: {e}"));
                    }
                }
                Err(e) => tracing::warn!(node = %node, error = %e, "could not fetch the committed log"),
            }
            let node_dir = dir.join("nodes").join(node);
            let write = |name: &str, value: &Value| {
                let path = node_dir.join(name);
                std::fs::write(&path, value.to_string())
                    .map_err(|e| RunError::Io { what: format!("write {}", path.display()), source: e })
            };
            if watches[i].seen() {
                write("log.json", &watches[i].body())?;
            }
            if !watches[i].changes().is_empty() {
                tracing::warn!(node = %node, changes = watches[i].changes().len(), "committed entries were replaced");
                write(crate::logwatch::CHANGES_FILE, &json!(watches[i].changes()))?;
            }
        }
    }
    outcome.executed = executed_faults(dir);
    if let Some(e) = shared.error() {
        return Err(RunError::Task(e));
    }
    Ok(())
}

fn http_setup(e: reqwest::Error) -> RunError {
    RunError::Config(format!("could not set up the HTTP client: {e}"))
}

/// The log watcher's client: a node that does not answer within 2 s is asked again at its next round.
fn log_watch_client() -> Result<Client, RunError> {
    Client::new(Duration::from_secs(2), Value::Null).map_err(http_setup)
}

/// A client with a generous timeout for fetching whole logs.
fn status_client_long() -> Result<Client, RunError> {
    Client::new(Duration::from_secs(10), Value::Null).map_err(http_setup)
}

/// Runs a closure on the cluster off the async threads (it runs `ip`/`iptables` and waits on them).
async fn blocking<T: Send + 'static>(
    cluster: &SharedCluster,
    f: impl FnOnce(&mut dyn Cluster) -> Result<T, ClusterError> + Send + 'static,
) -> Result<T, RunError> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = cluster.lock().expect("cluster lock poisoned only by a panic");
        f(c.as_mut())
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))?
    .map_err(RunError::from)
}

/// Drives `generator` with one task per slot until it is done.
async fn drive(
    config: &RunConfig,
    shared: &Arc<Shared>,
    table: &Arc<Mutex<ProcessTable>>,
    generator: Arc<Mutex<Box<dyn Generator>>>,
    empty_read: &Value,
) -> Result<(), RunError> {
    let mut workers = JoinSet::new();
    for slot in 0..config.concurrency {
        let client =
            Client::new(config.op_timeout, empty_read.clone()).map_err(http_setup)?.for_system(config.system);
        workers.spawn(worker(slot, client, shared.clone(), table.clone(), generator.clone()));
    }
    while let Some(r) = workers.join_next().await {
        r.map_err(|e| RunError::Task(e.to_string()))?;
    }
    Ok(())
}

async fn worker(
    slot: usize,
    client: Client,
    shared: Arc<Shared>,
    table: Arc<Mutex<ProcessTable>>,
    generator: Arc<Mutex<Box<dyn Generator>>>,
) {
    let rec = &shared.recorder;
    loop {
        if shared.error().is_some() {
            return;
        }
        let (process, pinned) = {
            let t = table.lock().expect("process table lock is never held across a panic");
            (t.process(slot), t.node(slot))
        };
        let ctx = Context { time: rec.now(), process, in_flight: shared.in_flight.load(Ordering::Relaxed) };
        let next = generator.lock().expect("generator lock is never held across a panic").next(&ctx);
        let op = match next {
            Next::Op(op) => op,
            Next::Pending { until } => {
                // Cap the nap so a worker notices errors and the end of the phase promptly.
                let wait =
                    Duration::from_nanos(until.saturating_sub(rec.now())).min(Duration::from_millis(100));
                tokio::time::sleep(wait).await;
                continue;
            }
            Next::Done => return,
        };
        let node = op.node.unwrap_or(pinned).min(shared.urls.len() - 1);
        let draft = |kind, value, error| Draft {
            process: Process::Client(process),
            kind,
            f: op.f().to_string(),
            key: Some(op.key.clone()),
            value,
            node: Some(shared.names[node].clone()),
            error,
        };
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = rec.record(draft(EventType::Invoke, op.invoke_value(), None)) {
            shared.fail(format!("writing the history: {e}"));
            return;
        }
        let (outcome, answered) = client.invoke(&shared.urls[node], &op).await;
        let mut completion = match &outcome {
            Outcome::Ok(v) => draft(EventType::Ok, v.clone(), None),
            Outcome::Fail(e) => draft(EventType::Fail, op.invoke_value(), Some(e.clone())),
            Outcome::Info(e) => draft(EventType::Info, op.invoke_value(), Some(e.clone())),
        };
        // The completion names the node that answered (a redirect goes to the leader).
        if let Some(i) = shared.urls.iter().position(|u| *u == answered) {
            completion.node = Some(shared.names[i].clone());
        }
        let recorded = rec.record(completion);
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Err(e) = recorded {
            shared.fail(format!("writing the history: {e}"));
            return;
        }
        match outcome {
            Outcome::Info(_) => {
                table.lock().expect("process table lock is never held across a panic").retire(slot);
            }
            // No leader, or the node is down: back off a little instead of spinning on failures.
            Outcome::Fail(_) => tokio::time::sleep(FAIL_BACKOFF).await,
            Outcome::Ok(_) => {}
        }
    }
}

async fn run_nemesis(
    cluster: SharedCluster,
    nemesis: Arc<Mutex<Nemesis>>,
    shared: Arc<Shared>,
    status_client: Client,
    sched: Vec<workloads::ScheduledFault>,
    run_start: Instant,
) -> Result<(), RunError> {
    for item in sched {
        tokio::time::sleep_until((run_start + Duration::from_nanos(item.at)).into()).await;
        if shared.error().is_some() {
            break;
        }
        let mut leader = shared.leader.lock().expect("leader lock is never held across a panic").clone();
        let mut laggard = None;
        if item.fault.needs_leader() {
            // The poller's view can be a quarter of a second old, across an election; look again.
            let statuses = poll_once(&status_client, &shared).await;
            leader = leader_of(&statuses, &shared.names).or(leader);
            laggard = laggard_of(&statuses, &shared.names, leader.as_deref());
        }
        let (nem, sh) = (nemesis.clone(), shared.clone());
        let fault = item.fault.clone();
        let done = blocking(&cluster, move |c| {
            nem.lock().expect("nemesis lock poisoned only by a panic").execute(
                c,
                &fault,
                workloads::View { leader: leader.as_deref(), laggard: laggard.as_deref() },
                &sh.recorder,
            )
        })
        .await;
        match done {
            Ok(v) => {
                let label = if matches!(item.fault, workloads::Fault::Heal) {
                    String::new()
                } else {
                    format!("{} {}", item.fault.name(), summarize(&v))
                };
                *shared.faults.lock().expect("faults lock is never held across a panic") = label;
            }
            Err(e) => {
                shared.fail(format!("nemesis {}: {e}", item.fault.name()));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A few words on what a fault hit, for the progress line.
fn summarize(v: &Value) -> String {
    if let Some(nodes) = v["nodes"].as_array() {
        let names: Vec<&str> = nodes.iter().filter_map(|n| n["node"].as_str()).collect();
        return names.join(",");
    }
    if let Some(t) = v["topology"].as_str() {
        return t.to_string();
    }
    String::new()
}

/// Polls every node's /status until the phase ends, appending to status.jsonl and keeping the
/// current leader for the nemesis.
async fn poll_status(
    shared: Arc<Shared>,
    client: Client,
    path: PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut file = match std::fs::File::create(&path) {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => {
            shared.fail(format!("create {}: {e}", path.display()));
            return;
        }
    };
    loop {
        let statuses = poll_once(&client, &shared).await;
        for (i, s) in statuses.iter().enumerate() {
            if let Some(s) = s {
                let line = json!({ "time": shared.recorder.now(), "node": shared.names[i], "status": s });
                let _ = writeln!(file, "{line}");
            }
        }
        let _ = file.flush();
        *shared.leader.lock().expect("leader lock is never held across a panic") =
            leader_of(&statuses, &shared.names);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Watches every node's committed log until the phase ends (see [`crate::logwatch`]), one task per
/// node so that a paused or partitioned node's timeouts never hold up the others; a node that does not
/// answer is simply asked again at its next round.
async fn watch_logs(
    shared: Arc<Shared>,
    client: Client,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<NodeWatch> {
    let tasks = (0..shared.urls.len()).map(|i| {
        let (shared, client, mut stop) = (shared.clone(), client.clone(), stop.clone());
        async move {
            let mut watch = NodeWatch::default();
            loop {
                let url = format!("{}/debug/log?from={}", shared.urls[i], watch.next_from());
                if let Ok(body) = client.get_text(&url).await
                    && let Err(e) = watch.observe(&body, shared.recorder.now())
                {
                    shared.fail(format!("{}: /debug/log: {e}", shared.names[i]));
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => return watch,
                }
            }
        }
    });
    futures_join_all(tasks).await
}

/// One status of every node, in raft-node's `/status` shape whatever the system.
async fn poll_once(client: &Client, shared: &Shared) -> Vec<Option<Value>> {
    let futures = shared.urls.iter().map(|u| {
        let (client, url) = (client.clone(), u.clone());
        async move { client.raw_status(&url).await }
    });
    let raw = futures_join_all(futures).await;
    if shared.system == System::RaftNode {
        return raw;
    }
    let mut members = shared.members.lock().expect("member table lock is never held across a panic");
    for (i, r) in raw.iter().enumerate() {
        if let Some(id) = r.as_ref().and_then(crate::etcd::member_id) {
            members[i] = Some(id);
        }
    }
    raw.iter()
        .enumerate()
        .map(|(i, r)| r.as_ref().and_then(|r| crate::etcd::status_to_contract(r, i, &members)))
        .collect()
}

/// Joins futures without an extra dependency (one per node: status requests, log watchers).
async fn futures_join_all<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("status request tasks do not panic"));
    }
    out
}

/// The leader with the highest term among the nodes that say they lead.
fn leader_of(statuses: &[Option<Value>], names: &[String]) -> Option<String> {
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| s["role"] == "leader")
        .max_by_key(|(_, s)| s["term"].as_u64().unwrap_or(0))
        .map(|(i, _)| names[i].clone())
}

/// The node other than `leader` with the shortest log among those that answered (ties: node order).
fn laggard_of(statuses: &[Option<Value>], names: &[String], leader: Option<&str>) -> Option<String> {
    statuses
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(names[*i].as_str()) != leader)
        .filter_map(|(i, s)| Some((i, s.as_ref()?["last_index"].as_u64()?)))
        .min_by_key(|&(i, last)| (last, i))
        .map(|(i, _)| names[i].clone())
}

/// Waits until every node names the same leader in the same term (or, at the deadline, at least a
/// majority does). Returns the leader.
async fn wait_for_leader(client: &Client, shared: &Shared, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let n = shared.urls.len();
    let mut best: Option<String> = None;
    while Instant::now() < deadline {
        let statuses = poll_once(client, shared).await;
        let views: Vec<(u64, u64)> = statuses
            .iter()
            .flatten()
            .filter_map(|s| Some((s["leader"].as_u64()?, s["term"].as_u64()?)))
            .collect();
        if let Some(&first) = views.first() {
            let agree = views.iter().filter(|v| **v == first).count();
            let name = format!("n{}", first.0);
            if agree == n {
                *shared.leader.lock().expect("leader lock is never held across a panic") = Some(name.clone());
                return Some(name);
            }
            if agree > n / 2 {
                best = Some(name);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    best
}

async fn show_progress(
    shared: Arc<Shared>,
    time_limit: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let start = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(time_limit.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        bar
    });
    let mut last_ops = 0u64;
    let mut last_log = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
        let (ok, fail, info) = shared.recorder.counts.snapshot();
        let ops = ok + fail + info;
        let faults = shared.faults.lock().expect("faults lock is never held across a panic").clone();
        let msg = format!(
            "{} ops/s  ok {ok} fail {fail} info {info}  faults: {}",
            ops - last_ops,
            if faults.is_empty() { "none" } else { &faults }
        );
        last_ops = ops;
        match &bar {
            Some(bar) => {
                bar.set_position(start.elapsed().as_secs());
                bar.set_message(msg);
            }
            None if last_log.elapsed() >= Duration::from_secs(5) => {
                eprintln!("faultline: {:>4}s  {msg}", start.elapsed().as_secs());
                last_log = Instant::now();
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// The nemesis `info` events of the stored history.
fn executed_faults(dir: &Path) -> Vec<ExecutedFault> {
    let Ok(text) = std::fs::read_to_string(dir.join("history.jsonl")) else { return Vec::new() };
    text.lines()
        .filter_map(|l| serde_json::from_str::<checker::history::Event>(l).ok())
        .filter(|e| e.process == Process::NEMESIS && e.kind == EventType::Info)
        .map(|e| ExecutedFault { time: e.time, f: e.f, value: e.value })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_is_the_highest_term_self_declared_leader() {
        let names: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into()];
        let s = vec![
            Some(json!({"role": "leader", "term": 2})),
            None,
            Some(json!({"role": "leader", "term": 3})),
        ];
        assert_eq!(leader_of(&s, &names), Some("n3".into()));
        assert_eq!(leader_of(&[None, None, Some(json!({"role": "follower", "term": 3}))], &names), None);
    }

    #[test]
    fn the_laggard_is_the_shortest_log_besides_the_leader() {
        let names: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()];
        let s = vec![
            Some(json!({"role": "leader", "last_index": 5})),
            Some(json!({"role": "follower", "last_index": 40})),
            None,
            Some(json!({"role": "follower", "last_index": 12})),
        ];
        // The leader's own short log does not count, nor does a node that did not answer.
        assert_eq!(laggard_of(&s, &names, Some("n1")), Some("n4".into()));
        assert_eq!(laggard_of(&s, &names, None), Some("n1".into()));
        assert_eq!(laggard_of(&[None, None, None, None], &names, None), None);
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("/a/b-c"), "/a/b-c");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
