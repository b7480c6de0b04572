//! `raft-node-bench`: throughput and latency of a 3-node raft-node cluster on loopback, and of a
//! 3-node etcd cluster under the same load when `etcd` is installed.
//!
//! ```sh
//! cargo build --release -p node --bin raft-node
//! cargo run --release -p bench --bin raft-node-bench -- --seconds 5
//! ```
//!
//! Both clusters run with fsync on, with their data directories on the same file system, and are driven
//! by the same closed-loop HTTP clients: each of C clients sends one request, waits for the answer and
//! sends the next, for a fixed time. Requests go to the current leader (raft-node: `/kv/...`; etcd: its
//! `/v3/kv/*` JSON gateway with base64 keys and values, which is linearizable by default). Runs of the
//! two systems alternate cell by cell so slow drift of a shared machine hits both alike. The table
//! shows successful ops/s and p50/p99 latency of successful requests; the ratios compare raft-node with
//! etcd in the same run.

use anyhow::{Context, bail};
use clap::Parser;
use harness::etcd::b64;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Benchmark raft-node (and etcd, if installed) on loopback")]
struct Args {
    /// Seconds each (system, op, clients) cell runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Client counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Operations, comma-separated: put, get (linearizable), cas.
    #[arg(long, value_delimiter = ',', default_value = "put,get,cas")]
    ops: Vec<String>,
    /// Number of distinct keys the clients spread over.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// The raft-node binary [default: next to this binary].
    #[arg(long)]
    raft_node: Option<PathBuf>,
    /// Skip etcd even if it is installed.
    #[arg(long)]
    no_etcd: bool,
    /// Where the clusters keep their data [default: a temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    RaftNode,
    Etcd,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::RaftNode => "raft-node",
            System::Etcd => "etcd",
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Child processes killed and reaped on drop.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Cluster {
    system: System,
    client_urls: Vec<String>,
    _procs: Procs,
}

fn raft_node_cluster(bin: &Path, dir: &Path) -> anyhow::Result<Cluster> {
    let peers: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let clients: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let list = |ports: &[u16]| {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut procs = Procs(Vec::new());
    for id in 1..=3 {
        let log = std::fs::File::create(dir.join(format!("raft-node-{id}.log")))?;
        let child = Command::new(bin)
            .args(["--id", &id.to_string(), "--peers", &list(&peers), "--client-addrs", &list(&clients)])
            .arg("--data-dir")
            .arg(dir.join(format!("raft-node-{id}")))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        procs.0.push(child);
    }
    Ok(Cluster {
        system: System::RaftNode,
        client_urls: clients.iter().map(|p| format!("http://127.0.0.1:{p}")).collect(),
        _procs: procs,
    })
}

fn etcd_cluster(dir: &Path) -> anyhow::Result<Cluster> {
    let peers: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let clients: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let initial = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("e{}=http://127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut procs = Procs(Vec::new());
    for i in 0..3 {
        let log = std::fs::File::create(dir.join(format!("etcd-{}.log", i + 1)))?;
        let peer = format!("http://127.0.0.1:{}", peers[i]);
        let client = format!("http://127.0.0.1:{}", clients[i]);
        let child = Command::new("etcd")
            .args(["--name", &format!("e{}", i + 1)])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd-{}", i + 1)))
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--initial-cluster", &initial, "--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "raft-node-bench", "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start etcd")?;
        procs.0.push(child);
    }
    Ok(Cluster {
        system: System::Etcd,
        client_urls: clients.iter().map(|p| format!("http://127.0.0.1:{p}")).collect(),
        _procs: procs,
    })
}

/// The client URL of the current leader.
async fn leader(http: &reqwest::Client, c: &Cluster) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for url in &c.client_urls {
            let is_leader = match c.system {
                System::RaftNode => match http.get(format!("{url}/status")).send().await {
                    Ok(r) => r.json::<Value>().await.ok().is_some_and(|s| s["role"] == "leader"),
                    Err(_) => false,
                },
                System::Etcd => {
                    match http.post(format!("{url}/v3/maintenance/status")).json(&json!({})).send().await {
                        Ok(r) => r.json::<Value>().await.ok().is_some_and(|s| {
                            s["leader"].is_string() && s["leader"] == s["header"]["member_id"]
                        }),
                        Err(_) => false,
                    }
                }
            };
            if is_leader {
                return Ok(url.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{} elected no leader within 30 s", c.system.name())
}

/// Sends one operation; true if the system answered it successfully.
async fn one_op(http: &reqwest::Client, system: System, base: &str, op: &str, key: &str, n: u64) -> bool {
    let value = format!("v{n}");
    let prev = format!("v{}", n.wrapping_sub(1));
    let req = match (system, op) {
        (System::RaftNode, "put") => http.put(format!("{base}/kv/{key}")).json(&json!({"value": value})),
        (System::RaftNode, "get") => http.get(format!("{base}/kv/{key}")),
        (System::RaftNode, _) => {
            http.post(format!("{base}/kv/{key}/cas")).json(&json!({"from": prev, "to": value}))
        }
        (System::Etcd, "put") => {
            http.post(format!("{base}/v3/kv/put")).json(&json!({"key": b64(key), "value": b64(&value)}))
        }
        (System::Etcd, "get") => http.post(format!("{base}/v3/kv/range")).json(&json!({"key": b64(key)})),
        (System::Etcd, _) => http.post(format!("{base}/v3/kv/txn")).json(&json!({
            "compare": [{"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(&prev)}],
            "success": [{"requestPut": {"key": b64(key), "value": b64(&value)}}],
        })),
    };
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success() || (op == "get" && r.status() == 404);
            // Read the body so the connection goes back to the pool.
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct CellResult {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn run_cell(
    http: &reqwest::Client,
    system: System,
    base: &str,
    op: &str,
    clients: usize,
    keys: usize,
    time: Duration,
) -> CellResult {
    let start = Instant::now();
    let deadline = start + time;
    let base: Arc<str> = base.into();
    let op: Arc<str> = op.into();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, op) = (http.clone(), base.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let key = format!("k{}", (c * 7919 + n as usize) % keys);
                let t = Instant::now();
                if one_op(&http, system, &base, &op, &key, n).await {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            lat.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
        }
    };
    CellResult { ops_per_sec: lat.len() as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99), errors }
}

fn default_raft_node() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("this binary has no directory")?;
    Ok(dir.join("raft-node"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let bin = match &args.raft_node {
        Some(p) => p.clone(),
        None => default_raft_node()?,
    };
    if !bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p node --bin raft-node` (or pass --raft-node)",
            bin.display()
        );
    }
    for op in &args.ops {
        if !["put", "get", "cas"].contains(&op.as_str()) {
            bail!("unknown op {op:?}: use put, get or cas");
        }
    }
    let tmp;
    let dir = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let etcd_installed =
        Command::new("etcd").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let with_etcd = etcd_installed && !args.no_etcd;
    if !etcd_installed {
        eprintln!(
            "etcd not installed (apt-get install -y etcd-server etcd-client): measuring raft-node alone"
        );
    }
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(10)).build()?;
    let mut clusters = vec![raft_node_cluster(&bin, &dir)?];
    if with_etcd {
        clusters.push(etcd_cluster(&dir)?);
    }
    let mut leaders = Vec::new();
    for c in &clusters {
        leaders.push(leader(&http, c).await?);
    }
    eprintln!("data in {} ({} s per cell)", dir.display(), args.seconds);
    println!(
        "{:<10} {:<4} {:>7} {:>10} {:>9} {:>9} {:>7}",
        "system", "op", "clients", "ops/s", "p50 ms", "p99 ms", "errors"
    );
    let mut rows = Vec::new();
    for op in &args.ops {
        for &n in &args.clients {
            for (c, base) in clusters.iter().zip(&leaders) {
                let r = run_cell(&http, c.system, base, op, n, args.keys, Duration::from_secs(args.seconds))
                    .await;
                println!(
                    "{:<10} {:<4} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>7}",
                    c.system.name(),
                    op,
                    n,
                    r.ops_per_sec,
                    r.p50_ms,
                    r.p99_ms,
                    r.errors
                );
                rows.push((c.system, op.clone(), n, r));
            }
        }
    }
    if with_etcd {
        println!();
        println!("{:<4} {:>7} {:>22} {:>22}", "op", "clients", "throughput raft/etcd", "p99 raft/etcd");
        for op in &args.ops {
            for &n in &args.clients {
                let find =
                    |s| rows.iter().find(|(sys, o, c, _)| *sys == s && o == op && *c == n).map(|r| r.3);
                if let (Some(r), Some(e)) = (find(System::RaftNode), find(System::Etcd)) {
                    println!(
                        "{:<4} {:>7} {:>21.2}x {:>21.2}x",
                        op,
                        n,
                        r.ops_per_sec / e.ops_per_sec,
                        r.p99_ms / e.p99_ms
                    );
                }
            }
        }
    }
    Ok(())
}
