//! Report rendering at scale: `cargo run --release -p bench --bin report-bench [OPS...]`.
//!
//! For each size (default 1,000, 10,000 and 100,000 client operations) it generates a synthetic
//! register run of a five-node cluster with partitions and kills (`reports::synthetic::run`), renders
//! its report three times and prints the best rendering time, the HTML size and the size of the
//! embedded data. The target is a 100,000-operation report well under 20 MB.

use anyhow::{Context, bail};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = match std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().with_context(|| format!("bad size {a:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?
    {
        v if v.is_empty() => vec![1_000, 10_000, 100_000],
        v => v,
    };
    println!(
        "{:>9} {:>9} {:>10} {:>12} {:>11} {:>11} {:>12}",
        "ops", "events", "generate", "render(best)", "html MB", "data MB", "bytes/op"
    );
    for ops in sizes {
        let t = Instant::now();
        let run = reports::synthetic::run(ops, 42);
        let generate = t.elapsed();
        let mut best = Duration::MAX;
        let mut html = String::new();
        for _ in 0..3 {
            let t = Instant::now();
            html = reports::render_run(&run);
            best = best.min(t.elapsed());
        }
        let data = reports::data::script_json(&reports::data::page_data(&run)).len();
        if html.len() >= 20_000_000 {
            bail!("the report of {ops} operations is {} bytes, over the 20 MB budget", html.len());
        }
        println!(
            "{:>9} {:>9} {:>8.0}ms {:>10.1}ms {:>11.2} {:>11.2} {:>12.1}",
            ops,
            run.history.len(),
            generate.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e3,
            html.len() as f64 / 1e6,
            data as f64 / 1e6,
            html.len() as f64 / ops.max(1) as f64
        );
    }
    Ok(())
}
