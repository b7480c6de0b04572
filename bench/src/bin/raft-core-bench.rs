//! raft-core-bench: how many proposals per second the pure Raft core commits, with no I/O at all.
//!
//! A cluster of cores runs in one thread over a perfect in-memory network (FIFO, no loss, no delay);
//! "persisting" a `Ready` is free. Each round proposes a batch of commands at the leader and delivers
//! messages until the cluster is quiet; the figure counts commands the leader sees committed. It
//! measures the algorithm's own cost (log handling, message building, cloning), so later changes to
//! the core can be compared. Run with `cargo run --release -p bench --bin raft-core-bench`.

use anyhow::{Context, bail};
use clap::Parser;
use raft::{Config, Message, NodeId, Payload, Raft, Restored, Role};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Proposals per second committed by the Raft core in an in-memory simulation")]
struct Args {
    /// Seconds to measure each configuration.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Cluster sizes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![3u64, 5])]
    nodes: Vec<u64>,
    /// Proposals per round (all in flight together).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 64])]
    batch: Vec<usize>,
    /// Bytes per command.
    #[arg(long, default_value_t = 64)]
    command_bytes: usize,
}

struct Cluster {
    nodes: Vec<Raft>,
    network: VecDeque<Message>,
    messages: u64,
}

impl Cluster {
    fn new(n: u64) -> anyhow::Result<Cluster> {
        let peers: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let mut nodes = Vec::new();
        for &id in &peers {
            let mut config = Config::new(id, peers.clone());
            config.seed = 7;
            nodes.push(Raft::new(config, Restored::default()).context("building a core")?);
        }
        Ok(Cluster { nodes, network: VecDeque::new(), messages: 0 })
    }

    /// Drains every Ready and delivers every message until nothing moves; returns the commands the
    /// leader (node index `leader`) saw committed.
    fn pump(&mut self, leader: usize) -> u64 {
        let mut committed = 0;
        loop {
            for (i, node) in self.nodes.iter_mut().enumerate() {
                while node.has_ready() {
                    let rd = node.ready();
                    if i == leader {
                        committed += rd
                            .committed_entries
                            .iter()
                            .filter(|e| matches!(e.payload, Payload::Command(_)))
                            .count() as u64;
                    }
                    self.messages += (rd.messages.len() + rd.persisted_messages.len()) as u64;
                    self.network.extend(rd.messages);
                    self.network.extend(rd.persisted_messages);
                    node.advance();
                }
            }
            if self.network.is_empty() {
                return committed;
            }
            while let Some(m) = self.network.pop_front() {
                let to = (m.to.0 - 1) as usize;
                self.nodes[to].step(m);
            }
        }
    }

    fn elect(&mut self) -> anyhow::Result<usize> {
        for _ in 0..1000 {
            for node in &mut self.nodes {
                node.tick();
            }
            self.pump(0);
            if let Some(l) = self.nodes.iter().position(|n| n.status().role == Role::Leader) {
                return Ok(l);
            }
        }
        bail!("no leader elected in 1000 ticks")
    }
}

struct Row {
    nodes: u64,
    batch: usize,
    committed: u64,
    secs: f64,
    messages: u64,
}

fn measure(n: u64, batch: usize, secs: f64, command_bytes: usize) -> anyhow::Result<Row> {
    let mut c = Cluster::new(n)?;
    let leader = c.elect()?;
    c.pump(leader);
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let messages_before = c.messages;
    let mut committed = 0;
    let mut round: u64 = 0;
    while start.elapsed() < budget {
        for k in 0..batch {
            let mut cmd = (round * batch as u64 + k as u64).to_le_bytes().to_vec();
            cmd.resize(command_bytes.max(8), 0);
            c.nodes[leader].propose(cmd).context("the leader refused a proposal")?;
        }
        committed += c.pump(leader);
        // A heartbeat now and then, as real time would bring.
        if round.is_multiple_of(8) {
            c.nodes[leader].tick();
            committed += c.pump(leader);
        }
        if c.nodes[leader].status().role != Role::Leader {
            bail!("the leader lost leadership on a perfect network");
        }
        round += 1;
    }
    Ok(Row {
        nodes: n,
        batch,
        committed,
        secs: start.elapsed().as_secs_f64(),
        messages: c.messages - messages_before,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!("raft core, in-memory network, {} byte commands, {:.1}s per row", args.command_bytes, args.secs);
    println!(
        "{:>5} {:>6} {:>12} {:>8} {:>14} {:>14}",
        "nodes", "batch", "committed", "secs", "proposals/s", "msgs/proposal"
    );
    for &n in &args.nodes {
        for &batch in &args.batch {
            let r = measure(n, batch, args.secs, args.command_bytes)?;
            println!(
                "{:>5} {:>6} {:>12} {:>8.2} {:>14.0} {:>14.2}",
                r.nodes,
                r.batch,
                r.committed,
                r.secs,
                r.committed as f64 / r.secs,
                r.messages as f64 / r.committed.max(1) as f64
            );
        }
    }
    Ok(())
}
