//! `faultline campaign FILE.toml`: a matrix of runs, one index page, and the comparison with the
//! campaigns before it.
//!
//! A campaign file names a matrix (systems x workloads x nemesis mixes x node counts x planted bugs x
//! seeds, see [`SCHEMA`]). Every cell is turned into the argument vector of `faultline run` and parsed
//! by the same clap definitions and [`crate::cli::RunArgs::into_config`] that the `run` subcommand
//! uses, so a campaign run is exactly the run its reproduce command describes, defaults are defined
//! once, and the whole matrix is validated before the first cluster starts. Validation errors name the
//! file, the line and the field.
//!
//! Runs go one at a time, in-process through [`crate::run::run`], each stored as usual under
//! `store/<test>/<time>/` with its own `report.html`. A time budget stops starting runs whose time
//! limit (plus the setup and check overhead measured on the runs so far) would not fit; those are
//! counted as skipped. After every run the campaign rewrites `store/campaigns/<name>/<time>/summary.json`
//! ([`reports::CampaignSummary`]) and `index.html`, so a campaign killed half-way keeps what it did.
//!
//! The earlier campaigns of the same name are read back from their `summary.json` files; the index
//! compares with them (new, fixed, still failing, flaky; a trend) through [`reports::campaign`], and
//! the exit code is [`reports::campaign::exit_code`]: 0 all valid, 1 any invalid, 2 only unknowns
//! besides valid runs, 3 harness errors (and bad input).

use crate::cli::{Cli, Command, parse_duration};
use crate::report;
use crate::run::{self, RunConfig, RunError};
use crate::store::{self, StoreError};
use clap::Parser;
use reports::CampaignIndex;
use reports::campaign::{CampaignRun, CampaignSummary, EarlierCampaign, RunOutcome};
use serde::Deserialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};
use toml::Spanned;
use workloads::{NemesisSpec, Workload};

/// The campaign file format, shown by `faultline campaign --help`.
pub const SCHEMA: &str = r#"CAMPAIGN FILE (TOML)
  name = "nightly"          # optional; store/campaigns/<name>/ (default: the file name without .toml)
  time_budget = "6h"        # optional; no run is started that would not end within it (--time-budget wins)
  store = "store"           # optional; the store directory (--store wins; default "store")

  [defaults]                # optional; any matrix field or run setting, used where an entry has none
  time_limit = "60s"        # run phase of every run (faultline run --time-limit)
  nemesis_interval = "10s"  # fault/heal period (--nemesis-interval)
  concurrency = 10          # client processes (--concurrency)
  rate = 200.0              # ops/s over all clients (--rate; default unlimited)
  net = "auto"              # auto, netns or loopback (--net)
  op_timeout = "2s"         # --op-timeout
  recover_timeout = "30s"   # --recover-timeout
  keys = 4                  # --keys
  ops_per_key = 200         # --ops-per-key
  node_bin = "target/release/raft-node"   # default: raft-node next to faultline (--node-bin wins)

  [[matrix]]                # one or more; each entry runs the cross product of its lists
  systems = ["raft-node"]                    # default ["raft-node"]
  workloads = ["register", "append"]         # default ["register"]
  nemeses = ["partition,kill,pause", "none"] # faultline run --nemesis values; default ["partition,kill,pause"]
  nodes = [3, 5]                             # default [5]
  seeds = [1, 2, 3]                          # default [1]
  bugs = [[], ["stale-read"]]                # --bug sets for raft-node; [] is the correct node; default [[]]
  time_limit = "30s"                         # any run setting may be overridden per entry

Runs are stored as usual (store/<test>/<time>/report.html); the campaign writes
store/campaigns/<name>/<time>/index.html and summary.json and compares with the earlier campaigns
of the same name. Exit code: 0 all valid, 1 any invalid, 2 unknowns (no invalid), 3 harness errors."#;

/// The planted bugs raft-node accepts (`--bug NAME`, CONTRACTS.md section 2).
pub const RAFT_NODE_BUGS: [&str; 6] =
    ["commit-old-term", "forget-vote", "no-conflict-check", "stale-read", "early-ack", "lazy-persist"];

/// `faultline campaign FILE.toml [--store DIR] [--time-budget D]`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = SCHEMA)]
pub struct CampaignArgs {
    /// The campaign file (TOML; `--help` shows the schema).
    pub file: PathBuf,
    /// Store directory (overrides the file's `store`; default "store").
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Stop starting runs after this much time (e.g. 30m, 6h; overrides the file's `time_budget`).
    #[arg(long, value_parser = parse_duration)]
    pub time_budget: Option<Duration>,
    /// The raft-node binary (overrides the file's `node_bin`; default: next to faultline).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Validate the file and print the runs it would make, without running anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Why a campaign could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// TOML syntax, a wrong type or an unknown field (the message has the line and column).
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}:{line}: {field}: {message}")]
    Invalid { path: PathBuf, line: usize, field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One field as written, with where it was written.
type Field<T> = Option<Spanned<T>>;

/// A matrix entry or `[defaults]`: the axes and the run settings, every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    systems: Field<Vec<String>>,
    workloads: Field<Vec<String>>,
    nemeses: Field<Vec<String>>,
    nodes: Field<Vec<i64>>,
    seeds: Field<Vec<i64>>,
    bugs: Field<Vec<Vec<String>>>,
    time_limit: Field<String>,
    nemesis_interval: Field<String>,
    concurrency: Field<i64>,
    rate: Field<f64>,
    net: Field<String>,
    op_timeout: Field<String>,
    recover_timeout: Field<String>,
    keys: Field<i64>,
    ops_per_key: Field<i64>,
    node_bin: Field<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Field<String>,
    time_budget: Field<String>,
    store: Field<String>,
    #[serde(default)]
    defaults: RawEntry,
    matrix: Option<Spanned<Vec<RawEntry>>>,
}

/// One run of the matrix: what it is and the `faultline run` arguments that make it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    pub system: String,
    pub workload: String,
    pub nemesis: String,
    pub nodes: u32,
    pub seed: u64,
    pub bugs: Vec<String>,
    /// `faultline run ...` arguments (without the program name and `run`).
    pub args: Vec<String>,
    pub time_limit: Duration,
    /// The line of the matrix entry it came from.
    pub line: usize,
}

impl PlannedRun {
    /// A one-line description for progress output.
    pub fn label(&self) -> String {
        let bugs = if self.bugs.is_empty() { String::new() } else { format!(" bug={}", self.bugs.join("+")) };
        format!(
            "{} {} nemesis={} nodes={} seed={}{bugs}",
            self.system, self.workload, self.nemesis, self.nodes, self.seed
        )
    }

    /// Validates the run's arguments into a configuration exactly as `faultline run` would.
    pub fn config(&self) -> Result<RunConfig, String> {
        let argv = ["faultline", "run"].into_iter().map(str::to_owned).chain(self.args.iter().cloned());
        let cli = Cli::try_parse_from(argv).map_err(|e| {
            // clap's message is several lines with usage; its first line says what was wrong.
            e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned()
        })?;
        let Command::Run(args) = cli.command else { unreachable!("argv starts with `run`") };
        let mut config = args.into_config()?;
        // One bar over the whole campaign; the run's own progress lines would tear it.
        config.progress = false;
        Ok(config)
    }
}

/// A validated campaign file.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub name: String,
    pub time_budget: Option<Duration>,
    pub store: PathBuf,
    pub runs: Vec<PlannedRun>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |t| t.matches('\n').count() + 1)
}

/// Reads and validates a campaign file; `store` and `node_bin` override the file's.
pub fn load(path: &Path, store: Option<&Path>, node_bin: Option<&Path>) -> Result<Campaign, CampaignError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CampaignError::Read { path: path.into(), source: e })?;
    parse(&text, path, store, node_bin)
}

/// [`load`] from text already read (`path` is used in messages and for the default name).
pub fn parse(
    text: &str,
    path: &Path,
    store: Option<&Path>,
    node_bin: Option<&Path>,
) -> Result<Campaign, CampaignError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| CampaignError::Syntax {
        path: path.into(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let invalid = |span: std::ops::Range<usize>, field: &str, message: String| CampaignError::Invalid {
        path: path.into(),
        line: line_of(text, span.start),
        field: field.to_owned(),
        message,
    };

    let name = match &raw.name {
        Some(n) => {
            let ok = !n.get_ref().is_empty()
                && n.get_ref().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !n.get_ref().starts_with('.');
            if !ok {
                return Err(invalid(
                    n.span(),
                    "name",
                    format!("{:?} is not a directory name (use letters, digits, '-', '_', '.')", n.get_ref()),
                ));
            }
            n.get_ref().clone()
        }
        None => {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "campaign".into())
        }
    };
    let time_budget = match &raw.time_budget {
        Some(b) => Some(parse_duration(b.get_ref()).map_err(|e| invalid(b.span(), "time_budget", e))?),
        None => None,
    };
    let store = match (store, &raw.store) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(s)) => PathBuf::from(s.get_ref()),
        (None, None) => PathBuf::from("store"),
    };
    let Some(matrix) = &raw.matrix else {
        return Err(CampaignError::Invalid {
            path: path.into(),
            line: 1,
            field: "matrix".into(),
            message: "no [[matrix]] entry: a campaign needs at least one".into(),
        });
    };
    if matrix.get_ref().is_empty() {
        return Err(invalid(
            matrix.span(),
            "matrix",
            "no [[matrix]] entry: a campaign needs at least one".into(),
        ));
    }

    let mut runs = Vec::new();
    for (i, entry) in matrix.get_ref().iter().enumerate() {
        let entry_line =
            first_line(entry).map_or_else(|| line_of(text, matrix.span().start), |s| line_of(text, s));
        let at = |field: &str| format!("matrix[{i}].{field}");
        // The entry's value, else the default's; with the span it was written at.
        macro_rules! pick {
            ($f:ident) => {
                entry.$f.as_ref().or(raw.defaults.$f.as_ref())
            };
        }
        let mut settings: Vec<String> = Vec::new();
        let mut time_limit = parse_duration("60s").expect("a literal duration");
        for (field, value) in [
            ("time_limit", pick!(time_limit)),
            ("nemesis_interval", pick!(nemesis_interval)),
            ("op_timeout", pick!(op_timeout)),
            ("recover_timeout", pick!(recover_timeout)),
        ] {
            if let Some(v) = value {
                let d = parse_duration(v.get_ref()).map_err(|e| invalid(v.span(), &at(field), e))?;
                if d.is_zero() {
                    return Err(invalid(v.span(), &at(field), "must be positive".into()));
                }
                if field == "time_limit" {
                    time_limit = d;
                }
                settings.push(format!("--{}", field.replace('_', "-")));
                settings.push(format!("{}ms", d.as_millis()));
            }
        }
        for (field, value) in
            [("concurrency", pick!(concurrency)), ("keys", pick!(keys)), ("ops_per_key", pick!(ops_per_key))]
        {
            if let Some(v) = value {
                if *v.get_ref() < 1 {
                    return Err(invalid(
                        v.span(),
                        &at(field),
                        format!("must be at least 1, got {}", v.get_ref()),
                    ));
                }
                settings.push(format!("--{}", field.replace('_', "-")));
                settings.push(v.get_ref().to_string());
            }
        }
        if let Some(r) = pick!(rate) {
            if !(*r.get_ref() > 0.0 && r.get_ref().is_finite()) {
                return Err(invalid(
                    r.span(),
                    &at("rate"),
                    format!("must be a positive number, got {}", r.get_ref()),
                ));
            }
            settings.extend(["--rate".to_owned(), r.get_ref().to_string()]);
        }
        if let Some(n) = pick!(net) {
            match n.get_ref().as_str() {
                "auto" => {}
                "netns" | "loopback" => settings.extend(["--net".to_owned(), n.get_ref().clone()]),
                other => {
                    return Err(invalid(
                        n.span(),
                        &at("net"),
                        format!("{other:?}: expected auto, netns or loopback"),
                    ));
                }
            }
        }
        // raft-node's binary: passed to raft-node runs only (etcd runs refuse --node-bin).
        let mut node_bin_args: Vec<String> = Vec::new();
        match (node_bin, pick!(node_bin)) {
            (Some(b), _) => node_bin_args.extend(["--node-bin".to_owned(), b.display().to_string()]),
            (None, Some(b)) => {
                // Relative to the campaign file, so the file works from any working directory.
                let p = path.parent().unwrap_or(Path::new(".")).join(b.get_ref());
                if !p.is_file() {
                    return Err(invalid(b.span(), &at("node_bin"), format!("{} is not a file", p.display())));
                }
                node_bin_args.extend(["--node-bin".to_owned(), p.display().to_string()]);
            }
            (None, None) => {}
        }
        settings.extend(["--store".to_owned(), store.display().to_string()]);

        let systems = list(pick!(systems), || "raft-node".to_owned());
        let workloads = list(pick!(workloads), || "register".to_owned());
        let nemeses = list(pick!(nemeses), || "partition,kill,pause".to_owned());
        let nodes = list(pick!(nodes), || 5);
        let seeds = list(pick!(seeds), || 1);
        let bugs = list(pick!(bugs), Vec::new);
        for (field, empty, span) in [
            ("systems", systems.0.is_empty(), &systems.1),
            ("workloads", workloads.0.is_empty(), &workloads.1),
            ("nemeses", nemeses.0.is_empty(), &nemeses.1),
            ("nodes", nodes.0.is_empty(), &nodes.1),
            ("seeds", seeds.0.is_empty(), &seeds.1),
            ("bugs", bugs.0.is_empty(), &bugs.1),
        ] {
            if let (true, Some(span)) = (empty, span) {
                return Err(invalid(
                    span.clone(),
                    &at(field),
                    "empty list: nothing would run (bugs: [[]] is no bug)".into(),
                ));
            }
        }
        let span_or_entry = |s: &Option<std::ops::Range<usize>>| s.clone().unwrap_or(0..0);
        let line_for =
            |s: &Option<std::ops::Range<usize>>| s.as_ref().map_or(entry_line, |s| line_of(text, s.start));
        for w in &workloads.0 {
            Workload::from_str(w)
                .map_err(|e| invalid(span_or_entry(&workloads.1), &at("workloads"), e.to_string()))?;
        }
        for n in &nemeses.0 {
            NemesisSpec::parse_kinds(n)
                .map_err(|e| invalid(span_or_entry(&nemeses.1), &at("nemeses"), e.to_string()))?;
        }
        for &n in &nodes.0 {
            if !(1..=50).contains(&n) {
                return Err(invalid(
                    span_or_entry(&nodes.1),
                    &at("nodes"),
                    format!("{n}: a cluster has 1 to 50 nodes"),
                ));
            }
        }
        for &s in &seeds.0 {
            if s < 0 {
                return Err(invalid(
                    span_or_entry(&seeds.1),
                    &at("seeds"),
                    format!("{s}: seeds are non-negative"),
                ));
            }
        }
        for set in &bugs.0 {
            for b in set {
                if !RAFT_NODE_BUGS.contains(&b.as_str()) {
                    return Err(invalid(
                        span_or_entry(&bugs.1),
                        &at("bugs"),
                        format!("unknown planted bug {b:?}: expected one of {}", RAFT_NODE_BUGS.join(", ")),
                    ));
                }
            }
        }

        for system in &systems.0 {
            let with_bugs = bugs.0.iter().any(|b| !b.is_empty());
            if system != "raft-node" && with_bugs {
                return Err(invalid(
                    span_or_entry(&bugs.1),
                    &at("bugs"),
                    format!("planted bugs exist only in raft-node, not in {system:?}"),
                ));
            }
            for workload in &workloads.0 {
                for nemesis in &nemeses.0 {
                    for &n in &nodes.0 {
                        for set in &bugs.0 {
                            for &seed in &seeds.0 {
                                let mut args = settings.clone();
                                if system == "raft-node" {
                                    args.extend(node_bin_args.iter().cloned());
                                } else {
                                    args.extend(["--system".to_owned(), system.clone()]);
                                }
                                args.extend([
                                    "--workload".to_owned(),
                                    workload.clone(),
                                    "--nemesis".to_owned(),
                                    nemesis.clone(),
                                    "--nodes".to_owned(),
                                    n.to_string(),
                                    "--seed".to_owned(),
                                    seed.to_string(),
                                ]);
                                for b in set {
                                    args.push("--node-arg=--bug".to_owned());
                                    args.push(format!("--node-arg={b}"));
                                }
                                let run = PlannedRun {
                                    system: system.clone(),
                                    workload: workload.clone(),
                                    nemesis: nemesis.clone(),
                                    nodes: n as u32,
                                    seed: seed as u64,
                                    bugs: set.clone(),
                                    args,
                                    time_limit,
                                    line: entry_line,
                                };
                                // The same validation `faultline run` does, before anything starts.
                                run.config().map_err(|message| CampaignError::Invalid {
                                    path: path.into(),
                                    line: line_for(&systems.1),
                                    field: at("systems"),
                                    message: format!("{}: {message}", run.label()),
                                })?;
                                runs.push(run);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Campaign { name, time_budget, store, runs })
}

/// An axis as written (with its span) or its one default value.
fn list<T: Clone>(
    field: Option<&Spanned<Vec<T>>>,
    default: impl Fn() -> T,
) -> (Vec<T>, Option<std::ops::Range<usize>>) {
    match field {
        Some(v) => (v.get_ref().clone(), Some(v.span())),
        None => (vec![default()], None),
    }
}

/// The earliest span written in an entry: its first line, for messages about the entry as a whole.
fn first_line(e: &RawEntry) -> Option<usize> {
    let spans = [
        e.systems.as_ref().map(|s| s.span().start),
        e.workloads.as_ref().map(|s| s.span().start),
        e.nemeses.as_ref().map(|s| s.span().start),
        e.nodes.as_ref().map(|s| s.span().start),
        e.seeds.as_ref().map(|s| s.span().start),
        e.bugs.as_ref().map(|s| s.span().start),
        e.time_limit.as_ref().map(|s| s.span().start),
    ];
    spans.into_iter().flatten().min()
}

/// The campaigns directory of a name: `store/campaigns/<name>`.
pub fn campaigns_dir(store: &Path, name: &str) -> PathBuf {
    store.join("campaigns").join(name)
}

/// The earlier campaigns of a name, newest first, each with the link from a sibling's `index.html`.
/// A directory without a readable `summary.json` (a campaign killed before its first run ended, or
/// a broken file) is skipped with a warning: it must not stop tonight's campaign.
pub fn earlier_campaigns(dir: &Path, except: Option<&Path>) -> Vec<EarlierCampaign> {
    let mut leaves: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && Some(p.as_path()) != except)
        .collect();
    leaves.sort();
    leaves.reverse();
    let mut out = Vec::new();
    for leaf in leaves {
        let path = leaf.join("summary.json");
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<CampaignSummary>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(summary) => {
                let leaf_name =
                    leaf.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                out.push(EarlierCampaign { link: format!("../{leaf_name}/index.html"), summary });
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "earlier campaign skipped");
                eprintln!(
                    "faultline: warning: {}: {e}; that campaign is left out of the comparison",
                    path.display()
                );
            }
        }
    }
    out
}

/// Creates `store/campaigns/<name>/<timestamp>[-k]`.
fn create_campaign_dir(store: &Path, name: &str) -> Result<PathBuf, StoreError> {
    let parent = campaigns_dir(store, name);
    std::fs::create_dir_all(&parent).map_err(|e| StoreError::Io { path: parent.clone(), source: e })?;
    let stamp = store::timestamp(store::unix_now(), false);
    let mut k = 0;
    loop {
        let leaf = if k == 0 { stamp.clone() } else { format!("{stamp}-{k}") };
        let dir = parent.join(&leaf);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
    }
}

/// The link from a campaign's `index.html` (three levels below the store) to a run's report.
fn report_link(store: &Path, run_dir: &Path) -> String {
    let rel = run_dir.strip_prefix(store).unwrap_or(run_dir);
    format!("../../../{}/report.html", rel.display())
}

/// The row of a run that finished: from its stored report, or, when that cannot be read back, from
/// what the run returned (the verdict stands; the row says why it has no details).
fn finished_row(planned: &PlannedRun, store_dir: &Path, summary: &run::RunSummary) -> CampaignRun {
    let link = report_link(store_dir, &summary.dir);
    match report::load_run_report(&summary.dir) {
        Ok(rr) => {
            let mut row = CampaignRun::from_report(&rr, &link);
            // test.json names the system the run drove; keep the campaign's word when it is empty.
            if row.system.is_empty() {
                row.system = planned.system.clone();
            }
            row
        }
        Err(e) => {
            let mut row =
                error_row(planned, &summary.dir.display().to_string(), format!("report not readable: {e}"));
            row.report = link;
            if let Some(r) = &summary.results {
                row.outcome = r.verdict.into();
            }
            row
        }
    }
}

fn error_row(planned: &PlannedRun, test_name: &str, error: String) -> CampaignRun {
    CampaignRun {
        test_name: test_name.to_owned(),
        system: planned.system.clone(),
        workload: planned.workload.clone(),
        nemeses: NemesisSpec::parse_kinds(&planned.nemesis)
            .map(|k| k.iter().map(|k| k.name().to_owned()).collect())
            .unwrap_or_default(),
        nodes: planned.nodes,
        seed: planned.seed,
        bugs: planned.bugs.clone(),
        outcome: RunOutcome::HarnessError,
        anomalies: Vec::new(),
        duration_ns: 0,
        ops: 0,
        report: String::new(),
        error: Some(error),
    }
}

/// Where a campaign's pages went, and its exit code.
#[derive(Debug)]
pub struct CampaignResult {
    pub dir: PathBuf,
    pub summary: CampaignSummary,
    pub index: CampaignIndex,
    pub exit_code: i32,
}

/// Rewrites `summary.json` and `index.html` of the campaign so far.
fn save(dir: &Path, index: &CampaignIndex) -> Result<(), StoreError> {
    store::write_json(&dir.join("summary.json"), &index.current)?;
    let html = reports::render_campaign(index);
    let out = dir.join("index.html");
    let tmp = dir.join("index.html.tmp");
    std::fs::write(&tmp, html).map_err(|e| StoreError::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, &out).map_err(|e| StoreError::Io { path: out, source: e })
}

/// Progress: one bar over the whole campaign on a terminal, plain lines otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { total: usize },
}

impl Progress {
    fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} runs, eta {eta} {msg}",
            )
            .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines { total }
        }
    }

    fn start(&self, i: usize, label: &str) {
        match self {
            Progress::Bar(b) => b.set_message(label.to_owned()),
            Progress::Lines { total } => println!("campaign: run {}/{total}: {label}", i + 1),
        }
    }

    fn done(&self, i: usize, line: &str) {
        match self {
            Progress::Bar(b) => {
                b.println(line);
                b.inc(1);
            }
            Progress::Lines { total } => println!("campaign: run {}/{total}: {line}", i + 1),
        }
    }

    fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// Runs a validated campaign; see the module documentation.
pub fn run_campaign(
    campaign: &Campaign,
    time_budget: Option<Duration>,
) -> Result<CampaignResult, CampaignError> {
    let dir = create_campaign_dir(&campaign.store, &campaign.name)?;
    let earlier = earlier_campaigns(&campaigns_dir(&campaign.store, &campaign.name), Some(&dir));
    let started_at = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut index = CampaignIndex {
        current: CampaignSummary { name: campaign.name.clone(), started_at, runs: Vec::new(), skipped: 0 },
        earlier,
    };
    save(&dir, &index)?;
    tracing::info!(campaign = %campaign.name, runs = campaign.runs.len(), dir = %dir.display(), "campaign started");
    println!(
        "campaign {}: {} runs; index {}",
        campaign.name,
        campaign.runs.len(),
        dir.join("index.html").display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CampaignError::Read { path: dir.clone(), source: e })?;
    let progress = Progress::new(campaign.runs.len());
    let started = Instant::now();
    // Setup, recovery, final reads and checking on top of the time limit, as measured so far.
    let mut overhead = Duration::ZERO;
    let mut previous_latest: Option<PathBuf> = None;
    for (i, planned) in campaign.runs.iter().enumerate() {
        if let Some(budget) = time_budget
            && started.elapsed() + planned.time_limit + overhead > budget
        {
            index.current.skipped += 1;
            progress.done(i, &format!("{}: skipped (time budget {}s)", planned.label(), budget.as_secs()));
            continue;
        }
        progress.start(i, &planned.label());
        let config = match planned.config() {
            Ok(c) => c,
            Err(e) => {
                // Validated at load; the node binary may have vanished since.
                index.current.runs.push(error_row(planned, "", e));
                save(&dir, &index)?;
                progress.done(i, &format!("{}: harness error", planned.label()));
                continue;
            }
        };
        let test_name = config.test_name();
        let run_started = Instant::now();
        let result = runtime.block_on(run::run(config));
        overhead = overhead.max(run_started.elapsed().saturating_sub(planned.time_limit));
        let interrupted = matches!(result, Err(RunError::Interrupted));
        let row = match &result {
            Ok(summary) => finished_row(planned, &campaign.store, summary),
            Err(e) => {
                let mut row = error_row(planned, &test_name, e.to_string());
                // The run directory, when the run got far enough to make one (store/latest moved).
                let latest = std::fs::canonicalize(campaign.store.join("latest")).ok();
                if let Some(l) =
                    latest.filter(|l| Some(l) != previous_latest.as_ref() && l.join("test.json").is_file())
                    && let Ok(store_abs) = std::fs::canonicalize(&campaign.store)
                {
                    row.report = report_link(&store_abs, &l);
                }
                row
            }
        };
        previous_latest = std::fs::canonicalize(campaign.store.join("latest")).ok();
        let line = format!(
            "{}: {}{} ({:.0}s, {} ops){}",
            planned.label(),
            row.outcome.as_str(),
            if row.anomalies.is_empty() {
                String::new()
            } else {
                format!(
                    " [{}]",
                    row.anomalies.iter().map(|a| a.class.as_str()).collect::<Vec<_>>().join(", ")
                )
            },
            run_started.elapsed().as_secs_f64(),
            row.ops,
            row.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default(),
        );
        tracing::info!(run = i, outcome = row.outcome.as_str(), "campaign run done");
        index.current.runs.push(row);
        save(&dir, &index)?;
        progress.done(i, &line);
        if interrupted {
            index.current.skipped += campaign.runs.len() - i - 1;
            save(&dir, &index)?;
            break;
        }
    }
    progress.finish();
    let exit_code = reports::campaign::exit_code(&index.current);
    Ok(CampaignResult { dir, summary: index.current.clone(), index, exit_code })
}

/// What the campaign found against the previous one, in a few lines.
pub fn comparison_text(index: &CampaignIndex) -> String {
    use std::fmt::Write as _;
    let earlier: Vec<&CampaignSummary> = index.earlier.iter().map(|e| &e.summary).collect();
    let changes = reports::campaign::compare(&index.current, &earlier);
    let mut out = String::new();
    if earlier.is_empty() {
        out.push_str("first campaign of this name: nothing to compare with\n");
    } else {
        let _ =
            writeln!(out, "compared with {} ({} earlier campaigns):", earlier[0].started_at, earlier.len());
    }
    for c in &changes {
        let _ = writeln!(
            out,
            "  {:<13} {} ({} runs now, {} before)",
            c.change.as_str(),
            c.fingerprint,
            c.runs_now,
            c.runs_before
        );
    }
    out
}

/// `faultline campaign`: validate, run, write the index, print the comparison, exit with its code.
pub fn main(args: CampaignArgs) -> anyhow::Result<i32> {
    let campaign = load(&args.file, args.store.as_deref(), args.node_bin.as_deref())?;
    let budget = args.time_budget.or(campaign.time_budget);
    if args.dry_run {
        for (i, r) in campaign.runs.iter().enumerate() {
            println!("{:>4}  {}  (line {}): faultline run {}", i + 1, r.label(), r.line, r.args.join(" "));
        }
        println!("{} runs; campaign {} in {}", campaign.runs.len(), campaign.name, campaign.store.display());
        return Ok(0);
    }
    let result = run_campaign(&campaign, budget)?;
    let s = &result.summary;
    let n = |o: RunOutcome| s.runs.iter().filter(|r| r.outcome == o).count();
    println!(
        "campaign {}: {} runs: {} valid, {} invalid, {} unknown, {} harness errors; {} skipped",
        s.name,
        s.runs.len(),
        n(RunOutcome::Valid),
        n(RunOutcome::Invalid),
        n(RunOutcome::Unknown),
        n(RunOutcome::HarnessError),
        s.skipped
    );
    for g in reports::campaign::failure_groups(s) {
        println!("  failure {}: {} runs", g.fingerprint, g.runs.len());
    }
    print!("{}", comparison_text(&result.index));
    println!("index: {}", result.dir.join("index.html").display());
    println!("summary: {}", result.dir.join("summary.json").display());
    Ok(result.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Campaign {
        parse(text, Path::new("c.toml"), None, Some(Path::new("/bin/sh"))).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("c.toml"), None, Some(Path::new("/bin/sh"))).unwrap_err().to_string()
    }

    #[test]
    fn the_matrix_is_the_cross_product_with_defaults() {
        let c = parse_ok(
            r#"
name = "n1"
time_budget = "1h"
[defaults]
time_limit = "20s"
net = "loopback"
[[matrix]]
workloads = ["register", "append"]
nemeses = ["partition", "none"]
nodes = [3, 5]
seeds = [1, 2]
bugs = [[], ["stale-read"]]
[[matrix]]
time_limit = "5s"
"#,
        );
        assert_eq!(c.name, "n1");
        assert_eq!(c.time_budget, Some(Duration::from_secs(3600)));
        assert_eq!(c.runs.len(), 2 * 2 * 2 * 2 * 2 + 1);
        let last = c.runs.last().unwrap();
        assert_eq!(last.time_limit, Duration::from_secs(5));
        assert_eq!((last.workload.as_str(), last.nodes, last.seed), ("register", 5, 1));
        let buggy = c.runs.iter().find(|r| r.bugs == ["stale-read"]).unwrap();
        let config = buggy.config().unwrap();
        assert_eq!(config.node_args, ["--bug", "stale-read"]);
        assert_eq!(config.time_limit, Duration::from_secs(20));
        assert_eq!(config.net, crate::cluster::Backend::Loopback);
        assert!(!config.progress);
    }

    #[test]
    fn the_node_binary_goes_to_raft_node_runs_only() {
        let c = parse_ok("[[matrix]]\nsystems = [\"raft-node\", \"etcd\"]\nnodes = [3]\n");
        let node_bin = |r: &PlannedRun| r.args.iter().any(|a| a == "--node-bin");
        let (raft, etcd): (Vec<&PlannedRun>, Vec<&PlannedRun>) =
            c.runs.iter().partition(|r| r.system == "raft-node");
        assert_eq!((raft.len(), etcd.len()), (1, 1));
        assert!(node_bin(raft[0]), "{:?}", raft[0].args);
        assert!(!node_bin(etcd[0]), "{:?}", etcd[0].args);
        assert!(etcd[0].args.windows(2).any(|w| w == ["--system", "etcd"]), "{:?}", etcd[0].args);
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = parse_err("[[matrix]]\nnodes = [3]\nworkloads = [\"register\", \"queue\"]\n");
        assert!(e.starts_with("c.toml:3: matrix[0].workloads:"), "{e}");
        assert!(e.contains("queue"), "{e}");
        let e = parse_err("[[matrix]]\nnodes = [3, 0]\n");
        assert!(e.starts_with("c.toml:2: matrix[0].nodes:"), "{e}");
        let e = parse_err("[defaults]\ntime_limit = \"10 parsecs\"\n[[matrix]]\n");
        assert!(e.starts_with("c.toml:2: matrix[0].time_limit:"), "{e}");
        let e = parse_err("[[matrix]]\nbugs = [[\"sloppy\"]]\n");
        assert!(e.contains("matrix[0].bugs") && e.contains("sloppy"), "{e}");
        let e = parse_err("[[matrix]]\nnemesis = [\"kill\"]\n");
        assert!(e.contains("line 2") && e.contains("nemesis"), "unknown field not named: {e}");
        let e = parse_err("name = \"a/b\"\n[[matrix]]\n");
        assert!(e.starts_with("c.toml:1: name:"), "{e}");
        let e = parse_err("name = \"x\"\n");
        assert!(e.contains("matrix") && e.contains("at least one"), "{e}");
        let e = parse_err("[[matrix]]\nseeds = []\n");
        assert!(e.starts_with("c.toml:2: matrix[0].seeds:"), "{e}");
        let e = parse_err("[[matrix]]\nnodes = \"five\"\n");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn reports_link_up_from_the_campaign_dir() {
        assert_eq!(
            report_link(Path::new("/s"), Path::new("/s/raft-node-register-none/20261122T010203")),
            "../../../raft-node-register-none/20261122T010203/report.html"
        );
    }

    #[test]
    fn earlier_campaigns_are_newest_first_and_broken_ones_skipped() {
        let d = tempfile::tempdir().unwrap();
        for (leaf, ok) in [("20261120T000000", true), ("20261121T000000", false), ("20261122T000000", true)] {
            std::fs::create_dir(d.path().join(leaf)).unwrap();
            let text = if ok {
                serde_json::to_string(&CampaignSummary {
                    name: "n".into(),
                    started_at: leaf.into(),
                    runs: vec![],
                    skipped: 0,
                })
                .unwrap()
            } else {
                "{ broken".into()
            };
            std::fs::write(d.path().join(leaf).join("summary.json"), text).unwrap();
        }
        let cur = d.path().join("20261123T000000");
        std::fs::create_dir(&cur).unwrap();
        let e = earlier_campaigns(d.path(), Some(&cur));
        let got: Vec<&str> = e.iter().map(|e| e.summary.started_at.as_str()).collect();
        assert_eq!(got, ["20261122T000000", "20261120T000000"]);
        assert_eq!(e[0].link, "../20261122T000000/index.html");
    }
}
