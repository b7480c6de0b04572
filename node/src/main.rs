//! The `raft-node` binary: parses flags, recovers storage, starts the transport, the HTTP API and the
//! server task, and runs until SIGTERM / Ctrl-C.
//!
//! Exit codes: 0 after a clean shutdown; 1 when the node cannot start or stops on an error (bad flags
//! after parsing, unreadable or corrupt storage, a port in use, a failed fsync); 2 for flags clap
//! rejects; 101 after a panic, which is also announced by one stderr line starting with
//! `raft-node: PANIC` so a test harness can tell a crash caused by a bug from a kill.

use anyhow::Context;
use clap::Parser;
use node::api::{ApiState, router};
use node::config::{Args, NodeConfig};
use node::server::Server;
use node::storage::{Storage, StorageOptions};
use node::transport::{self, Transport};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

/// Queued client requests before HTTP handlers wait (back-pressure).
const REQUEST_QUEUE: usize = 4096;
/// Queued inbound peer messages before peer readers wait.
const MESSAGE_QUEUE: usize = 4096;

fn install_panic_marker() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        eprintln!("raft-node: PANIC in thread {}: {info}", thread.name().unwrap_or("unnamed"));
        default(info);
        // A panicking task would otherwise leave a half-dead server running: stop the process.
        std::process::exit(101);
    }));
}

fn main() {
    install_panic_marker();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            error!(error = format!("{e:#}"), "raft-node stopped");
            eprintln!("raft-node: error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: Args) -> anyhow::Result<()> {
    let cfg = NodeConfig::from_args(args).context("invalid flags")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("raft-node")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(cfg))
}

async fn serve(cfg: NodeConfig) -> anyhow::Result<()> {
    info!(
        id = cfg.id.0,
        peers = ?cfg.peers,
        client_addrs = ?cfg.client_addrs,
        listen_peer = %cfg.listen_peer,
        listen_client = %cfg.listen_client,
        data_dir = %cfg.data_dir.display(),
        tick = ?cfg.tick,
        election_ticks = cfg.election_ticks,
        heartbeat_ticks = cfg.heartbeat_ticks,
        snapshot_threshold = cfg.snapshot_threshold,
        seed = cfg.seed,
        bugs = ?cfg.bugs.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        request_timeout = ?cfg.request_timeout,
        max_body_bytes = cfg.max_body_bytes,
        pre_vote = cfg.pre_vote,
        check_quorum = cfg.check_quorum,
        max_entries_per_append = cfg.max_entries_per_append,
        "raft-node starting"
    );
    let opts = StorageOptions {
        lazy: cfg.has_bug(node::config::BugName::LazyPersist),
        fsync_lag: cfg.has_bug(node::config::BugName::FsyncLag),
        ..StorageOptions::default()
    };
    let (storage, recovered) = Storage::open(&cfg.data_dir, opts)
        .with_context(|| format!("cannot recover the data directory {}", cfg.data_dir.display()))?;

    let peer_listener = TcpListener::bind(cfg.listen_peer)
        .await
        .with_context(|| format!("cannot listen for peers on {}", cfg.listen_peer))?;
    let client_listener = TcpListener::bind(cfg.listen_client)
        .await
        .with_context(|| format!("cannot serve clients on {}", cfg.listen_client))?;

    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let (msg_tx, msg_rx) = mpsc::channel(MESSAGE_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let transport = Transport::start(cfg.id, &cfg.peers, cfg.own_peer_ip());
    let peer_task = tokio::spawn(transport::serve(peer_listener, cfg.id, msg_tx));
    let api = router(ApiState {
        requests: req_tx,
        timeout: cfg.request_timeout,
        max_body_bytes: cfg.max_body_bytes,
    });
    let mut http_shutdown = shutdown_rx.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(client_listener, api)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.changed().await;
            })
            .await
    });
    let id = cfg.id;
    let server = Server::new(cfg, storage, recovered, transport).context("cannot start the raft core")?;
    let mut server_task = tokio::spawn(server.run(req_rx, msg_rx, shutdown_rx));
    info!(node = %id, "raft-node ready");

    let result = tokio::select! {
        r = &mut server_task => r.context("the server task failed")?.context("the server stopped"),
        () = shutdown_signal() => {
            info!(node = %id, "shutdown signal received");
            let _ = shutdown_tx.send(true);
            server_task.await.context("the server task failed")?.context("the server stopped while shutting down")
        }
    };
    let _ = shutdown_tx.send(true);
    peer_task.abort();
    http_task.abort();
    result
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the node");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
