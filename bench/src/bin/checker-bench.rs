//! `checker-bench`: how fast the checker decides, next to Porcupine's published times.
//!
//! Three parts, each printed as a table:
//!
//! 1. Every history of `checker/testdata/porcupine/EXPECTED.tsv` with the model its row names and
//!    the options `faultline check` uses (verdict first: the first invalid key cancels the others and is
//!    the only one explained). Per history: parse time, time to the verdict, the whole check with its
//!    explanation, parse + check (everything `faultline check` does but start the process and print),
//!    best of several runs for fast histories; the verdict (`!` when it is not the expected one); and
//!    two ratios to the row's `porcupine_ms`, which is Porcupine's `CheckEvents` benchmark (its
//!    benchmarks parse before starting the timer): check / Porcupine, like for like, and parse + check
//!    / Porcupine. Then totals per family.
//! 2. `kv/c50-bad.txt` twice: verdict first (the default), then every key decided and explained
//!    (`all_keys`, as `faultline check --all-keys`): per key, the search's steps, cache and time and the
//!    explanation's size and time; per run, the time to the verdict, the total and the process's peak
//!    resident memory (`VmHWM`, reset before the run).
//! 3. A generated history of 1,000,000 operations over 1,000 keys and 50 processes (read/write/cas with
//!    overlapping intervals, 1% indefinite writes), linearizable by construction: check time and peak
//!    resident memory.
//!
//! Run with `cargo run --release -p bench --bin checker-bench` (`--quick` skips part 3,
//! `--skip-reference` part 1, `--skip-all-keys` the `all_keys` run of part 2).

use anyhow::{Context, Result, bail};
use checker::history::{Event, EventType, Process};
use checker::{
    CheckOptions, History, LinearizabilityReport, ModelKind, ModelSpec, Verdict, check_linearizability,
    parse_history,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../checker/testdata/porcupine")
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak resident size to the current one (Linux `clear_refs` 5), so the next `VmHWM` is the
/// peak of what runs after; `false` when the kernel refused.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

fn main() -> Result<()> {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    if !has("--skip-reference") {
        reference_histories()?;
    }
    c50_bad(!has("--skip-all-keys"))?;
    if !has("--quick") {
        generated_million()?;
    }
    Ok(())
}

fn family(path: &str, model: &str) -> &'static str {
    if path.starts_with("jepsen/") {
        "etcd"
    } else if model.contains("nopartition") {
        "kv (unpartitioned)"
    } else {
        "kv (partitioned)"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn reference_histories() -> Result<()> {
    let dir = data_dir();
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv")).context("reading EXPECTED.tsv")?;
    println!(
        "== Porcupine reference histories (as `faultline check`: verdict first, first invalid key explained) =="
    );
    println!(
        "{:<28} {:<26} {:>8} {:>9} {:>10} {:>9} {:>11} {:>13} {:>10} {:>10}",
        "history",
        "model",
        "verdict",
        "parse_ms",
        "verdict_ms",
        "check_ms",
        "parse+check",
        "porcupine_ms",
        "check/porc",
        "total/porc"
    );
    // Per family: check, parse + check, Porcupine, rows.
    let mut totals: BTreeMap<&str, (f64, f64, f64, usize)> = BTreeMap::new();
    let opts = CheckOptions::default();
    let mut wrong = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, model, expected, porcupine_ms) =
            (cols[0], cols[1], cols[2], cols[4].parse::<f64>().unwrap_or(0.0));
        let text = std::fs::read_to_string(dir.join(path)).with_context(|| format!("reading {path}"))?;
        // Best of up to 20 runs within ~200 ms, one run for slow histories.
        let (mut parse, mut verdict_ms, mut check) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let mut best_total = f64::INFINITY;
        let mut verdict = Verdict::Unknown;
        let budget = Instant::now();
        for _ in 0..20 {
            let t = Instant::now();
            let parsed = parse_history(&text, None, path)?;
            let parsed_at = t.elapsed();
            let spec = ModelSpec::parse(model, parsed.format).map_err(anyhow::Error::msg)?;
            let t = Instant::now();
            let report = check_linearizability(&parsed.history, &spec, &opts)?;
            let checked = t.elapsed();
            if ms(parsed_at) + ms(checked) < best_total {
                best_total = ms(parsed_at) + ms(checked);
                (parse, verdict_ms, check) = (ms(parsed_at), report.verdict_us as f64 / 1000.0, ms(checked));
            }
            verdict = report.verdict;
            if budget.elapsed() > Duration::from_millis(200) {
                break;
            }
        }
        let expected = match expected {
            "ok" => Some(Verdict::Valid),
            "illegal" => Some(Verdict::Invalid),
            _ => None,
        };
        let mark = if expected.is_some_and(|e| e != verdict) {
            wrong += 1;
            "!"
        } else {
            ""
        };
        let per = |x: f64| if porcupine_ms > 0.0 { x / porcupine_ms } else { f64::NAN };
        println!(
            "{path:<28} {model:<26} {:>8} {parse:>9.3} {verdict_ms:>10.3} {check:>9.3} {best_total:>11.3} {porcupine_ms:>13.3} {:>10.3} {:>10.3}",
            format!("{verdict}{mark}"),
            per(check),
            per(best_total)
        );
        let t = totals.entry(family(path, model)).or_default();
        t.0 += check;
        t.1 += best_total;
        t.2 += porcupine_ms;
        t.3 += 1;
    }
    println!(
        "\n{:<22} {:>5} {:>10} {:>13} {:>13} {:>10} {:>10}",
        "family", "rows", "check_ms", "parse+check", "porcupine_ms", "check/porc", "total/porc"
    );
    for (fam, (check, total, porc, n)) in &totals {
        println!(
            "{fam:<22} {n:>5} {check:>10.3} {total:>13.3} {porc:>13.3} {:>10.3} {:>10.3}",
            check / porc,
            total / porc
        );
    }
    if wrong > 0 {
        bail!("{wrong} histories got another verdict than EXPECTED.tsv says");
    }
    println!();
    Ok(())
}

fn c50_bad(with_all_keys: bool) -> Result<()> {
    let path = "kv/c50-bad.txt";
    let text = std::fs::read_to_string(data_dir().join(path))?;
    let t = Instant::now();
    let parsed = parse_history(&text, None, path)?;
    let parse = t.elapsed();
    let spec = ModelSpec::parse("kv-partitioned", parsed.format).map_err(anyhow::Error::msg)?;
    let porcupine_ms = 60.259; // EXPECTED.tsv's porcupine_ms for this file.
    println!(
        "== kv/c50-bad.txt ({} ops, parsed in {:.2} ms; Porcupine {porcupine_ms} ms) ==",
        parsed.history.ops.len(),
        ms(parse)
    );
    let mut runs = vec![("verdict first (default)", CheckOptions::default())];
    if with_all_keys {
        // Budgets keep a pathological key from taking the machine down; a key past them is unknown.
        runs.push((
            "all keys (--all-keys)",
            CheckOptions {
                all_keys: true,
                timeout: Some(Duration::from_secs(120)),
                memory_limit: Some(4 << 30),
                ..CheckOptions::default()
            },
        ));
    }
    let mut summaries = Vec::new();
    for (name, opts) in runs {
        let reset = reset_hwm();
        let t = Instant::now();
        let report = check_linearizability(&parsed.history, &spec, &opts)?;
        let total = t.elapsed();
        let hwm = vm_hwm_kib().unwrap_or(0);
        println!("-- {name}");
        per_key_table(&report);
        summaries.push((name, report, total, hwm, reset));
    }
    println!(
        "\n{:<24} {:>8} {:>8} {:>11} {:>10} {:>12} {:>10} {:>10} {:>14}",
        "run",
        "verdict",
        "decided",
        "verdict_ms",
        "check_ms",
        "parse+check",
        "check/porc",
        "total/porc",
        "peak_rss_MiB"
    );
    for (name, report, total, hwm, reset) in &summaries {
        let decided = report.keys.iter().filter(|k| k.verdict != Verdict::Unknown).count();
        let whole = ms(parse) + ms(*total);
        println!(
            "{name:<24} {:>8} {:>8} {:>11.3} {:>10.3} {:>12.3} {:>10.3} {:>10.3} {:>14}",
            report.verdict.to_string(),
            format!("{decided}/{}", report.keys.len()),
            report.verdict_us as f64 / 1000.0,
            ms(*total),
            whole,
            ms(*total) / porcupine_ms,
            whole / porcupine_ms,
            if *reset { format!("{:.1}", *hwm as f64 / 1024.0) } else { "n/a".into() },
        );
    }
    println!();
    Ok(())
}

fn per_key_table(report: &LinearizabilityReport) {
    println!(
        "{:<5} {:>8} {:>5} {:>10} {:>10} {:>9} {:>11} {:>15} {:>11}",
        "key", "verdict", "ops", "steps", "cached", "cache_MiB", "search_ms", "counterexample", "explain_ms"
    );
    for k in &report.keys {
        let (cx, explain_ms) = k.explanation.as_ref().map_or((String::new(), String::new()), |e| {
            let cx = &e.counterexample;
            (
                format!("{} ops{}", cx.ops.len(), if cx.minimal { "" } else { " (*)" }),
                format!("{:.3}", e.elapsed_us as f64 / 1000.0),
            )
        });
        let verdict = match k.unknown_reason {
            Some(checker::UnknownReason::Cancelled) => "cancel".to_string(),
            _ => k.verdict.to_string(),
        };
        println!(
            "{:<5} {:>8} {:>5} {:>10} {:>10} {:>9.1} {:>11.3} {:>15} {:>11}",
            k.key.as_deref().unwrap_or("-"),
            verdict,
            k.ops,
            k.steps,
            k.cache_entries,
            mib(k.peak_bytes as f64),
            k.elapsed_us as f64 / 1000.0,
            cx,
            explain_ms
        );
    }
    println!(
        "(*) reduced, not shown 1-minimal before the explanation budget or a search's step limit ran out"
    );
}

/// A linearizable register history: every operation takes effect at a random instant inside its
/// interval, and reads and cas results are computed by applying operations in that order.
fn generate(ops: usize, keys: usize, processes: u64, seed: u64) -> Vec<Event> {
    struct Op {
        process: u64,
        key: usize,
        f: u8, // 0 read, 1 write, 2 cas
        value: u64,
        from: u64,
        invoke: u64,
        effect: u64,
        complete: u64,
        info: bool,
        applied: bool,
        result: Option<u64>,
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per_process = ops as u64 / processes;
    let mut all: Vec<Op> = Vec::with_capacity(ops);
    let mut next_value = 1u64;
    for p in 0..processes {
        let mut t = rng.random_range(0..1_000u64);
        for _ in 0..per_process {
            let duration = rng.random_range(100..5_000u64);
            let f = match rng.random_range(0..10u32) {
                0..=4 => 0,
                5..=7 => 1,
                _ => 2,
            };
            let info = f == 1 && rng.random_range(0..100u32) == 0;
            let op = Op {
                process: p,
                key: rng.random_range(0..keys),
                f,
                value: next_value,
                from: 0,
                invoke: t,
                effect: t + rng.random_range(0..duration),
                complete: t + duration,
                info,
                applied: !info || rng.random_bool(0.5),
                result: None,
            };
            next_value += 1;
            all.push(op);
            t += duration + rng.random_range(1..500u64);
        }
    }
    let mut by_effect: Vec<usize> = (0..all.len()).collect();
    by_effect.sort_by_key(|&i| (all[i].effect, i));
    let mut registers: Vec<Option<u64>> = vec![None; keys];
    let mut recent: Vec<u64> = vec![0; keys];
    for i in by_effect {
        let op = &mut all[i];
        let reg = &mut registers[op.key];
        match op.f {
            0 => op.result = *reg,
            1 => {
                if op.applied {
                    *reg = Some(op.value);
                    recent[op.key] = op.value;
                }
            }
            _ => {
                // Cas from the most recent value about half the time, from a stale guess otherwise.
                op.from =
                    if rng.random_bool(0.5) { reg.unwrap_or(0) } else { recent[op.key].saturating_sub(1) };
                op.applied = *reg == Some(op.from);
                if op.applied {
                    *reg = Some(op.value);
                    recent[op.key] = op.value;
                }
            }
        }
    }
    let mut events: Vec<(u64, u8, Event)> = Vec::with_capacity(all.len() * 2);
    for op in &all {
        let f = ["read", "write", "cas"][op.f as usize].to_string();
        let key = Some(format!("k{}", op.key));
        let input = match op.f {
            0 => serde_json::Value::Null,
            1 => serde_json::Value::String(op.value.to_string()),
            _ => serde_json::json!([op.from.to_string(), op.value.to_string()]),
        };
        let event = |kind, value, time| Event {
            process: Process::Client(op.process),
            kind,
            f: f.clone(),
            key: key.clone(),
            value,
            time,
            node: None,
            error: None,
        };
        events.push((op.invoke, 1, event(EventType::Invoke, input.clone(), op.invoke)));
        let (kind, value) = match op.f {
            0 => (EventType::Ok, op.result.map_or(serde_json::Value::Null, |v| v.to_string().into())),
            1 if op.info => (EventType::Info, input.clone()),
            2 if !op.applied => (EventType::Fail, input.clone()),
            _ => (EventType::Ok, input.clone()),
        };
        events.push((op.complete, 0, event(kind, value, op.complete)));
    }
    // Completions sort before invocations at the same instant.
    events.sort_by_key(|(t, order, _)| (*t, *order));
    events.into_iter().map(|(_, _, e)| e).collect()
}

fn generated_million() -> Result<()> {
    println!("== generated history: 1,000,000 ops, 1,000 keys, 50 processes (cas-register) ==");
    let t = Instant::now();
    let events = generate(1_000_000, 1_000, 50, 42);
    let history = History::from_events("<generated>", &events, None)?;
    drop(events);
    let gen_time = t.elapsed();
    let hwm_generation = vm_hwm_kib().unwrap_or(0);
    // Reset the peak to the current resident size, so the peak measured next is the check's (with the
    // history it checks in memory), not the generator's.
    let reset = reset_hwm();
    let hwm_before = vm_hwm_kib().unwrap_or(0);
    let mut spec = ModelSpec::new(ModelKind::CasRegister, checker::Format::Jsonl);
    spec.nil_read = checker::NilRead::Absent;
    let t = Instant::now();
    let report = check_linearizability(&history, &spec, &CheckOptions::default())?;
    let check_time = t.elapsed();
    let hwm_after = vm_hwm_kib().unwrap_or(0);
    println!(
        "ops {}  keys {}  generation+pairing {:.2} s",
        history.ops.len(),
        report.keys.len(),
        gen_time.as_secs_f64()
    );
    println!(
        "verdict {}  check time {:.3} s  steps {}",
        report.verdict,
        check_time.as_secs_f64(),
        report.keys.iter().map(|k| k.steps).sum::<u64>()
    );
    println!(
        "peak RSS (VmHWM): {:.1} MiB while generating; {} {:.1} MiB at the start of the check (history in memory), {:.1} MiB peak during the check; cache estimate peak {:.1} MiB",
        hwm_generation as f64 / 1024.0,
        if reset { "reset to" } else { "(reset failed)" },
        hwm_before as f64 / 1024.0,
        hwm_after as f64 / 1024.0,
        report.peak_memory_bytes as f64 / (1024.0 * 1024.0)
    );
    if report.verdict != Verdict::Valid {
        bail!(
            "the generated history is linearizable by construction but the checker said {}",
            report.verdict
        );
    }
    Ok(())
}
