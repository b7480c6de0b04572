//! `faultline check PATH`: check a history file, or re-check a stored run.
//!
//! A file is read in the format given with `--format` (guessed from its content otherwise: our JSON
//! Lines, Jepsen `history.edn`, the Porcupine etcd console logs or the Porcupine kv logs) and checked
//! for linearizability under `--model` (default: the format's natural model; see
//! [`checker::ModelKind::default_for`]). The semantics of `fail` and of `nil` reads default per format
//! and can be overridden. A directory is a stored run: without `--model` it is re-checked in full by
//! [`crate::analysis::check_run_dir_with`] (every model `test.json` names, durability, committed logs,
//! node panics; `results.json` is rewritten); with `--model`, only its `history.jsonl` is checked under
//! that model.
//!
//! `--model txn-append` or `txn-rw` checks a history of transactions (our JSON Lines with `f: "txn"`,
//! or Jepsen and Elle EDN histories, `{:f :txn, :value [[:append :x 1] [:r :y nil]]}`) for the
//! anomalies of `--consistency-model` (default strict-serializable) with the transactional checker
//! ([`checker::txn`]). Elle's hand-written histories, completions without invocations and events
//! without a process, are read too. On a stored run of a transactional workload, `--consistency-model`
//! judges its transactions by another model.
//!
//! Output is a human summary, or the report as JSON with `--json`. The exit code is the verdict's
//! (0 valid, 1 invalid, 2 unknown); errors are returned to the caller, which exits 3.

use crate::units::{parse_bytes, parse_duration};
use anyhow::{Context, Result, bail};
use checker::format::parse_events;
use checker::txn::{ConsistencyModel, TxnHistory, TxnKind, TxnOptions};
use checker::{
    CheckOptions, FailSemantics, Format, LinearizabilityReport, ModelKind, ModelSpec, NilRead,
    check_linearizability, parse_history,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `faultline check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// A history file, or a stored run directory (store/<test>/<time>/).
    pub path: PathBuf,
    /// Model: register, cas-register, etcd-cas-register, list-append, kv-append, set, kv-nopartition;
    /// or txn-append, txn-rw for histories of transactions (the transactional checker).
    #[arg(long)]
    pub model: Option<String>,
    /// For transactions: strict-serializable, serializable, snapshot-isolation or read-committed.
    #[arg(long, default_value_t = ConsistencyModel::default(), value_parser = parse_consistency)]
    pub consistency_model: ConsistencyModel,
    /// Initial value of every key (default: absent). Integers are numbers when the history's values are.
    #[arg(long)]
    pub initial: Option<String>,
    /// History format: jsonl, jepsen, porcupine-etcd, porcupine-kv (default: guessed from the content).
    #[arg(long)]
    pub format: Option<Format>,
    /// Time budget of the linearizability search (e.g. 30s, 2m); past it, undecided keys are unknown.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Memory budget of the search caches (e.g. 512M, 2G; plain numbers are bytes).
    #[arg(long, default_value = "2G", value_parser = parse_bytes)]
    pub memory_limit: usize,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Decide and explain every key (default: the first invalid key decides and is the one explained).
    #[arg(long)]
    pub all_keys: bool,
    /// What a `fail` completion means: never-happened (Jepsen) or observed-other-value (etcd logs).
    #[arg(long, value_parser = parse_fail)]
    pub fail_semantics: Option<FailSemantics>,
    /// What a read of nil means: absent (the key does not exist) or constrains-nothing (Knossos).
    #[arg(long, value_parser = parse_nil)]
    pub nil_read: Option<NilRead>,
}

fn parse_consistency(s: &str) -> Result<ConsistencyModel, String> {
    s.parse()
}

fn parse_fail(s: &str) -> Result<FailSemantics, String> {
    match s {
        "never-happened" => Ok(FailSemantics::NeverHappened),
        "observed-other-value" => Ok(FailSemantics::ObservedOtherValue),
        _ => Err(format!("`{s}`: expected never-happened or observed-other-value")),
    }
}

fn parse_nil(s: &str) -> Result<NilRead, String> {
    match s {
        "absent" => Ok(NilRead::Absent),
        "constrains-nothing" => Ok(NilRead::ConstrainsNothing),
        _ => Err(format!("`{s}`: expected absent or constrains-nothing")),
    }
}

/// Runs `faultline check`; returns the exit code (0 valid, 1 invalid, 2 unknown).
pub fn run(args: &CheckArgs) -> Result<i32> {
    if args.path.is_dir() {
        let run = crate::store::RunDir::at(&args.path);
        if args.model.is_none() && run.test_json().is_file() {
            return check_run(args);
        }
        let history = run.history();
        if !history.is_file() {
            bail!("{}: a directory must be a stored run with a history.jsonl", args.path.display());
        }
        return check_file(args, &history);
    }
    check_file(args, &args.path)
}

fn check_run(args: &CheckArgs) -> Result<i32> {
    let budget = crate::analysis::Budget { timeout: args.timeout, memory_bytes: args.memory_limit };
    let results = crate::analysis::check_run_dir_as(&args.path, budget, args.consistency_model)
        .with_context(|| format!("checking the stored run {}", args.path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results).context("serializing the results")?);
    } else {
        print!("{}", crate::analysis::summary(&results));
    }
    Ok(results.verdict.exit_code())
}

/// The `--initial` value: a number when it parses as one and the history writes numbers, else a string.
fn initial_value(raw: &str, history: &checker::History) -> serde_json::Value {
    let writes_numbers =
        history.ops.iter().find(|o| o.f == "write" || o.f == "put").is_some_and(|o| o.input.is_number());
    match raw.parse::<i64>() {
        Ok(n) if writes_numbers => serde_json::Value::from(n),
        _ => serde_json::Value::String(raw.to_string()),
    }
}

/// A history of transactions under the transactional checker.
fn check_txn_file(args: &CheckArgs, path: &Path, kind: TxnKind) -> Result<i32> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let source = path.display().to_string();
    let format = match args.format {
        Some(f) => f,
        None => Format::guess(&text).map_err(|mut e| {
            e.source_name = source.clone();
            e
        })?,
    };
    let (events, lines) = parse_events(&text, format, &source)?;
    let history = TxnHistory::from_events(&source, &events, &lines, kind.shape())?;
    tracing::info!(path = %path.display(), %format, model = %kind, consistency = %args.consistency_model, txns = history.txns.len(), "checking transactions");
    let report = checker::txn::check(&history, &TxnOptions::new(kind, args.consistency_model))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        println!("{} ({format} format, {} transactions)", path.display(), history.txns.len());
        print!("{}", report.summary());
    }
    Ok(report.verdict.exit_code())
}

fn check_file(args: &CheckArgs, path: &Path) -> Result<i32> {
    if let Some(kind) = args.model.as_deref().and_then(TxnKind::from_model_name) {
        return check_txn_file(args, path, kind);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = parse_history(&text, args.format, &path.display().to_string())?;
    let history = parsed.history;
    let mut spec = match &args.model {
        Some(name) => ModelSpec::parse(name, parsed.format).map_err(anyhow::Error::msg)?,
        None => ModelSpec::new(ModelKind::default_for(parsed.format, &history.ops), parsed.format),
    };
    if let Some(raw) = &args.initial {
        spec.initial = Some(initial_value(raw, &history));
    }
    if let Some(f) = args.fail_semantics {
        spec.fail = f;
    }
    if let Some(n) = args.nil_read {
        spec.nil_read = n;
    }
    let opts = CheckOptions {
        timeout: Some(args.timeout),
        memory_limit: Some(args.memory_limit),
        all_keys: args.all_keys,
        ..CheckOptions::default()
    };
    tracing::info!(path = %path.display(), format = %parsed.format, model = %spec.display_name(), ops = history.ops.len(), "checking history");
    let report: LinearizabilityReport = check_linearizability(&history, &spec, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        println!("{} ({} format, {} ops)", path.display(), parsed.format, history.ops.len());
        print!("{}", report.summary());
    }
    Ok(report.verdict.exit_code())
}
