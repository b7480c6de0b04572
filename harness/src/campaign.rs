//! `faultline campaign FILE.toml`: a matrix of runs, one index page, and the comparison with the
//! campaigns before it.
//!
//! A campaign file names a matrix (systems x workloads x nemesis mixes x node counts x planted bugs x
//! seeds, see [`SCHEMA`]). Every cell becomes a [`RunConfig`] the way every run starts: from
//! [`RunConfig::new`] (the defaults `faultline run` has too), with the cell's settings, through
//! [`RunConfig::validate`], so a campaign run is exactly the run its reproduce command describes and
//! the whole matrix is validated before the first cluster starts. Validation errors name the file,
//! the line and the field.
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

use crate::cluster::Backend;
use crate::config::{RunConfig, Setting};
use crate::report;
use crate::run::{self, RunError};
use crate::shard::{self, Shard, ShardMeta};
use crate::store::{self, RunDir, StoreError};
use crate::system::{System, SystemKind};
use crate::units::parse_duration;
use anyhow::Context as _;
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
  readers = 0               # client slots that only read (--readers)
  node_bin = "target/release/raft-node"   # default: raft-node next to faultline (--node-bin wins)

  [[matrix]]                # one or more; each entry runs the cross product of its lists
  systems = ["raft-node"]                    # default ["raft-node"]
  workloads = ["register", "append"]         # default ["register"]
  nemeses = ["partition,kill,pause", "none"] # faultline run --nemesis values; default ["composed"]
  nodes = [3, 5]                             # default [5]
  seeds = [1, 2, 3]                          # default [1]
  bugs = [[], ["stale-read"]]                # --bug sets for raft-node; [] is the correct node; default [[]]
  time_limit = "30s"                         # any run setting may be overridden per entry

Runs are stored as usual (store/<test>/<time>/report.html); the campaign writes
store/campaigns/<name>/<time>/index.html and summary.json and compares with the earlier campaigns
of the same name. Exit code: 0 all valid, 1 any invalid, 2 unknowns (no invalid), 3 harness errors."#;

/// `faultline campaign FILE.toml [--store DIR] [--time-budget D] [--shard I/N]`, `faultline campaign
/// plan FILE.toml`, `faultline campaign merge DIR...`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = SCHEMA, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub action: Option<CampaignAction>,
    /// The campaign file (TOML; `--help` shows the schema).
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Run only this share of the campaign: `I/N` (0-based), or `N` with the index taken from
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs). Rows go to
    /// store/campaigns/<name>/shards/<id>/; a retried shard skips the runs that already have results;
    /// `faultline campaign merge` joins the shards.
    #[arg(long)]
    pub shard: Option<String>,
    /// With --shard: the campaign instance the shards belong to [default: today's UTC date, YYYYmmdd].
    #[arg(long)]
    pub id: Option<String>,
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

/// `faultline campaign plan` and `faultline campaign merge`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CampaignAction {
    /// Print the campaign's runs as JSON with stable run ids (a hash of each row), for a CI matrix or
    /// a workflow engine to fan out over with `--shard`.
    Plan {
        /// The campaign file.
        file: PathBuf,
        /// Store directory (overrides the file's `store`).
        #[arg(long)]
        store: Option<PathBuf>,
        /// The raft-node binary (overrides the file's `node_bin`).
        #[arg(long)]
        node_bin: Option<PathBuf>,
    },
    /// Join the shard directories of one sharded campaign (store/campaigns/<name>/shards/<id>) into
    /// one index.html and summary.json, compared with the earlier campaigns like an unsharded one;
    /// exits with the campaign's code.
    Merge {
        /// Shard directories (the same directory given by every shard is fine).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Store directory [default: the one the shard directories are in].
        #[arg(long)]
        store: Option<PathBuf>,
    },
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
    readers: Field<i64>,
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

/// One run of the matrix: what it is and its validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    /// Stable across machines and file edits elsewhere ([`shard::run_id`]).
    pub id: String,
    pub system: String,
    pub workload: String,
    pub nemesis: String,
    pub nodes: u32,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub config: RunConfig,
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
        let duration = |v: &Spanned<String>, field: &str| -> Result<Duration, CampaignError> {
            parse_duration(v.get_ref()).map_err(|e| invalid(v.span(), &at(field), e))
        };
        let count = |v: &Spanned<i64>, field: &str| -> Result<usize, CampaignError> {
            usize::try_from(*v.get_ref()).map_err(|_| {
                invalid(v.span(), &at(field), format!("must not be negative, got {}", v.get_ref()))
            })
        };
        let time_limit = pick!(time_limit).map(|v| duration(v, "time_limit")).transpose()?;
        let nemesis_interval =
            pick!(nemesis_interval).map(|v| duration(v, "nemesis_interval")).transpose()?;
        let op_timeout = pick!(op_timeout).map(|v| duration(v, "op_timeout")).transpose()?;
        let recover_timeout = pick!(recover_timeout).map(|v| duration(v, "recover_timeout")).transpose()?;
        let concurrency = pick!(concurrency).map(|v| count(v, "concurrency")).transpose()?;
        let keys = pick!(keys).map(|v| count(v, "keys")).transpose()?;
        let ops_per_key = pick!(ops_per_key).map(|v| count(v, "ops_per_key")).transpose()?;
        let readers = pick!(readers).map(|v| count(v, "readers")).transpose()?;
        let net = match pick!(net) {
            None => None,
            Some(n) => match n.get_ref().as_str() {
                "auto" => None,
                "netns" => Some(Backend::Netns),
                "loopback" => Some(Backend::Loopback),
                other => {
                    return Err(invalid(
                        n.span(),
                        &at("net"),
                        format!("{other:?}: expected auto, netns or loopback"),
                    ));
                }
            },
        };
        // raft-node's binary: given to raft-node runs only (etcd's is found on PATH).
        let raft_node_bin = match (node_bin, pick!(node_bin)) {
            (Some(b), _) => Some(b.to_path_buf()),
            (None, Some(b)) => {
                // Relative to the campaign file, so the file works from any working directory.
                let p = path.parent().unwrap_or(Path::new(".")).join(b.get_ref());
                if !p.is_file() {
                    return Err(invalid(b.span(), &at("node_bin"), format!("{} is not a file", p.display())));
                }
                Some(p)
            }
            (None, None) => None,
        };

        let systems = list(pick!(systems), || "raft-node".to_owned());
        let workloads = list(pick!(workloads), || crate::config::defaults::WORKLOAD.to_owned());
        let nemeses = list(pick!(nemeses), || crate::config::defaults::NEMESIS.to_owned());
        let nodes = list(pick!(nodes), || crate::config::defaults::NODES as i64);
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
        // Where a setting was written, for errors from validation.
        let span_of = |setting: Setting| -> Option<std::ops::Range<usize>> {
            let field = |f: Option<&Spanned<String>>| f.map(Spanned::span);
            let int = |f: Option<&Spanned<i64>>| f.map(Spanned::span);
            match setting {
                Setting::System => systems.1.clone(),
                Setting::Nodes => nodes.1.clone(),
                Setting::TimeLimit => field(pick!(time_limit)),
                Setting::Workload => workloads.1.clone(),
                Setting::Nemesis => nemeses.1.clone(),
                Setting::NemesisInterval => field(pick!(nemesis_interval)),
                // Campaign files do not set it (the system's own is used).
                Setting::ElectionTimeout => None,
                Setting::Concurrency => int(pick!(concurrency)),
                Setting::Rate => pick!(rate).map(Spanned::span),
                Setting::NodeBin => field(pick!(node_bin)).or(systems.1.clone()),
                Setting::NodeArgs => bugs.1.clone(),
                Setting::OpTimeout => field(pick!(op_timeout)),
                Setting::RecoverTimeout => field(pick!(recover_timeout)),
                Setting::Keys => int(pick!(keys)),
                Setting::OpsPerKey => int(pick!(ops_per_key)),
                Setting::Readers => int(pick!(readers)),
                // Campaign files name only built-in systems.
                Setting::Store | Setting::SystemFile | Setting::NodeCmd | Setting::MessageTypes => None,
                // Campaigns run on this machine (no remote hosts).
                Setting::Hosts
                | Setting::SshUser
                | Setting::SshKey
                | Setting::SshPort
                | Setting::RemoteDir
                | Setting::RemoteNodeBin => None,
            }
        };
        let mut parsed_workloads = Vec::new();
        for w in &workloads.0 {
            parsed_workloads.push(
                Workload::from_str(w)
                    .map_err(|e| invalid(span_or_entry(&workloads.1), &at("workloads"), e.to_string()))?,
            );
        }
        let mut parsed_nemeses = Vec::new();
        for n in &nemeses.0 {
            parsed_nemeses.push(
                NemesisSpec::parse(n, 0)
                    .map_err(|e| invalid(span_or_entry(&nemeses.1), &at("nemeses"), e.to_string()))?,
            );
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
        for system in &systems.0 {
            let kind = <SystemKind as clap::ValueEnum>::from_str(system, false).map_err(|_| {
                invalid(
                    span_or_entry(&systems.1),
                    &at("systems"),
                    format!("unknown system {system:?}: expected raft-node or etcd"),
                )
            })?;
            for (workload, w) in workloads.0.iter().zip(&parsed_workloads) {
                for (nemesis, parsed) in nemeses.0.iter().zip(&parsed_nemeses) {
                    for &n in &nodes.0 {
                        for set in &bugs.0 {
                            for &seed in &seeds.0 {
                                let mut c = RunConfig::new(System::new(kind, None));
                                if let Some(d) = time_limit {
                                    c.time_limit = d;
                                }
                                if let Some(d) = nemesis_interval {
                                    c.nemesis.interval = d.as_nanos() as u64;
                                }
                                if let Some(d) = op_timeout {
                                    c.op_timeout = d;
                                }
                                if let Some(d) = recover_timeout {
                                    c.recover_timeout = d;
                                }
                                if let Some(k) = concurrency {
                                    c.concurrency = k;
                                }
                                if let Some(k) = keys {
                                    c.workload_options.active_keys = k;
                                }
                                if let Some(k) = ops_per_key {
                                    c.workload_options.ops_per_key = k;
                                }
                                if let Some(k) = readers {
                                    c.workload_options.readers = k;
                                }
                                c.rate = pick!(rate).map(|r| *r.get_ref());
                                if let Some(net) = net {
                                    c.net = net;
                                }
                                if let (SystemKind::RaftNode, Some(bin)) = (kind, &raft_node_bin) {
                                    c.node_bin = bin.clone();
                                }
                                c.store = store.clone();
                                c.workload = *w;
                                c.nemesis.kinds = parsed.kinds.clone();
                                c.nemesis.composed = parsed.composed;
                                c.nodes = usize::try_from(n).unwrap_or(0);
                                c.seed = seed as u64;
                                c.node_args =
                                    set.iter().flat_map(|b| ["--bug".to_string(), b.clone()]).collect();
                                // One bar over the whole campaign; the run's own progress lines would tear it.
                                c.progress = false;
                                let run = PlannedRun {
                                    id: String::new(),
                                    system: system.clone(),
                                    workload: workload.clone(),
                                    nemesis: nemesis.clone(),
                                    nodes: n as u32,
                                    seed: seed as u64,
                                    bugs: set.clone(),
                                    config: c.clone(),
                                    line: entry_line,
                                };
                                // The same validation `faultline run` does, before anything starts.
                                let config = c.validate().map_err(|e| {
                                    let span = span_of(e.setting);
                                    CampaignError::Invalid {
                                        path: path.into(),
                                        line: line_for(&span),
                                        field: at(e.setting.key()),
                                        message: format!("{}: {}", run.label(), e.message),
                                    }
                                })?;
                                runs.push(PlannedRun { config, ..run });
                            }
                        }
                    }
                }
            }
        }
    }
    let ids = shard::run_ids(runs.iter().map(|r| &r.config));
    for (run, id) in runs.iter_mut().zip(ids) {
        run.id = id;
    }
    Ok(Campaign { name, time_budget, store, runs })
}

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
        .filter(|p| p.is_dir() && Some(p.as_path()) != except && !p.ends_with("shards"))
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
    store::create_stamped_dir(&campaigns_dir(store, name))
}

/// The link from a campaign's `index.html` (three levels below the store) to a run's report.
fn report_link(store: &Path, run_dir: &Path) -> String {
    let rel = run_dir.strip_prefix(store).unwrap_or(run_dir);
    format!("../../../{}/report.html", rel.display())
}

/// The row of a run that finished: from its stored report, or, when that cannot be read back, from
/// what the run returned (the verdict stands; the row says why it has no details).
fn finished_row(planned: &PlannedRun, store_dir: &Path, summary: &run::RunSummary) -> CampaignRun {
    let link = report_link(store_dir, summary.dir.path());
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
            let mut row = error_row(
                planned,
                &summary.dir.path().display().to_string(),
                format!("report not readable: {e}"),
            );
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
        nemeses: NemesisSpec::parse(&planned.nemesis, 0)
            .map(|s| s.words(",").split(',').filter(|w| *w != "none").map(str::to_owned).collect())
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
    store::write_atomic(&dir.join("index.html"), reports::render_campaign(index).as_bytes())
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
/// Which part of a campaign a process runs: all of it, or one shard of a campaign instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Share {
    Whole,
    Shard { shard: Shard, campaign_id: String },
}

impl Share {
    /// Whether the run with this id is this process's to run.
    pub fn includes(&self, run_id: &str) -> bool {
        match self {
            Share::Whole => true,
            Share::Shard { shard, .. } => shard.takes(run_id),
        }
    }
}

pub fn run_campaign(
    campaign: &Campaign,
    time_budget: Option<Duration>,
    share: &Share,
) -> Result<CampaignResult, CampaignError> {
    let (dir, earlier) = match share {
        Share::Whole => {
            let dir = create_campaign_dir(&campaign.store, &campaign.name)?;
            let earlier = earlier_campaigns(&campaigns_dir(&campaign.store, &campaign.name), Some(&dir));
            (dir, earlier)
        }
        Share::Shard { shard, campaign_id } => {
            let dir = shard::shard_dir(&campaign.store, &campaign.name, campaign_id);
            std::fs::create_dir_all(dir.join("rows"))
                .map_err(|e| StoreError::Io { path: dir.join("rows"), source: e })?;
            let meta = ShardMeta {
                name: campaign.name.clone(),
                campaign_id: campaign_id.clone(),
                shard: shard.label(),
                plan: campaign.runs.iter().map(|r| r.id.clone()).collect(),
            };
            store::write_json(&dir.join(shard::META_FILE), &meta)?;
            // A shard's own page compares with nothing; `campaign merge` makes the real index.
            (dir, Vec::new())
        }
    };
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
    let progress = Progress::new(campaign.runs.iter().filter(|r| share.includes(&r.id)).count());
    let started = Instant::now();
    // Setup, recovery, final reads and checking on top of the time limit, as measured so far.
    let mut overhead = Duration::ZERO;
    let mut previous_latest: Option<PathBuf> = None;
    for (i, planned) in campaign.runs.iter().enumerate() {
        if !share.includes(&planned.id) {
            continue;
        }
        let row_file = match share {
            Share::Whole => None,
            Share::Shard { .. } => Some(shard::row_path(&dir, &planned.id)),
        };
        // A retried shard keeps what an earlier attempt finished (a harness error has no results).
        if let Some(done) = row_file.as_deref().filter(|p| p.is_file()) {
            let row: CampaignRun = store::read_json(done)?;
            if row.outcome != RunOutcome::HarnessError {
                progress.done(
                    i,
                    &format!("{}: {} (done by an earlier attempt)", planned.label(), row.outcome.as_str()),
                );
                index.current.runs.push(row);
                continue;
            }
        }
        if let Some(budget) = time_budget
            && started.elapsed() + planned.config.time_limit + overhead > budget
        {
            index.current.skipped += 1;
            progress.done(i, &format!("{}: skipped (time budget {}s)", planned.label(), budget.as_secs()));
            continue;
        }
        progress.start(i, &planned.label());
        // Validated at load; should the node binary vanish since, the run says so as a harness error.
        let config = planned.config.clone();
        let test_name = config.test_name();
        let run_started = Instant::now();
        let result = runtime.block_on(run::run(config));
        overhead = overhead.max(run_started.elapsed().saturating_sub(planned.config.time_limit));
        let interrupted = matches!(result, Err(RunError::Interrupted));
        let row = match &result {
            Ok(summary) => finished_row(planned, &campaign.store, summary),
            Err(e) => {
                let mut row = error_row(planned, &test_name, e.to_string());
                // The run directory, when the run got far enough to make one (store/latest moved).
                let latest = std::fs::canonicalize(campaign.store.join("latest")).ok();
                if let Some(l) =
                    latest.filter(|l| Some(l) != previous_latest.as_ref() && RunDir::open(l).is_ok())
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
        if let Some(path) = &row_file {
            store::write_json(path, &row)?;
        }
        index.current.runs.push(row);
        save(&dir, &index)?;
        progress.done(i, &line);
        if interrupted {
            index.current.skipped += campaign.runs[i + 1..].iter().filter(|r| share.includes(&r.id)).count();
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
    match args.action {
        Some(CampaignAction::Plan { file, store, node_bin }) => {
            return plan(&file, store.as_deref(), node_bin.as_deref());
        }
        Some(CampaignAction::Merge { dirs, store }) => return merge(&dirs, store),
        None => {}
    }
    let Some(file) = &args.file else {
        anyhow::bail!("a campaign file is needed (faultline campaign FILE.toml)")
    };
    let campaign = load(file, args.store.as_deref(), args.node_bin.as_deref())?;
    let budget = args.time_budget.or(campaign.time_budget);
    let share = match &args.shard {
        None if args.id.is_some() => {
            anyhow::bail!("--id names the campaign instance of a sharded run; give --shard too")
        }
        None => Share::Whole,
        Some(s) => {
            let index = std::env::var(shard::INDEX_ENV).ok();
            let shard = Shard::parse(s, index.as_deref()).map_err(anyhow::Error::msg)?;
            let campaign_id = args
                .id
                .clone()
                .unwrap_or_else(|| store::timestamp(store::unix_now(), false)[..8].to_string());
            let ok = !campaign_id.is_empty()
                && campaign_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !campaign_id.starts_with('.');
            if !ok {
                anyhow::bail!(
                    "--id {campaign_id:?} is not a directory name (use letters, digits, '-', '_', '.')"
                );
            }
            Share::Shard { shard, campaign_id }
        }
    };
    if args.dry_run {
        for (i, r) in campaign.runs.iter().enumerate() {
            if !share.includes(&r.id) {
                continue;
            }
            println!(
                "{:>4}  {}  {}  (line {}): {}",
                i + 1,
                r.id,
                r.label(),
                r.line,
                r.config.reproduce_command()
            );
        }
        println!("{} runs; campaign {} in {}", campaign.runs.len(), campaign.name, campaign.store.display());
        return Ok(0);
    }
    let result = run_campaign(&campaign, budget, &share)?;
    print_result(&result);
    if let Share::Shard { .. } = share {
        println!(
            "shard rows: {}; join the shards with: faultline campaign merge {}",
            result.dir.join("rows").display(),
            result.dir.display()
        );
    }
    Ok(result.exit_code)
}

/// The closing lines of a campaign (whole, shard or merged).
fn print_result(result: &CampaignResult) {
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
}

/// `faultline campaign plan FILE`: the runs as JSON with their ids.
fn plan(file: &Path, store: Option<&Path>, node_bin: Option<&Path>) -> anyhow::Result<i32> {
    let campaign = load(file, store, node_bin)?;
    let plan = shard::Plan {
        name: campaign.name.clone(),
        runs: campaign
            .runs
            .iter()
            .map(|r| shard::PlanRun {
                id: r.id.clone(),
                label: r.label(),
                system: r.system.clone(),
                workload: r.workload.clone(),
                nemesis: r.nemesis.clone(),
                nodes: r.nodes,
                seed: r.seed,
                bugs: r.bugs.clone(),
                time_limit_s: r.config.time_limit.as_secs_f64(),
                line: r.line,
                reproduce: r.config.reproduce_command(),
            })
            .collect(),
    };
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(0)
}

/// `faultline campaign merge DIR...`: one index of a sharded campaign, written and compared like an
/// unsharded one's.
fn merge(dirs: &[PathBuf], store: Option<PathBuf>) -> anyhow::Result<i32> {
    let mut shards = Vec::new();
    for d in dirs {
        shards.push(
            shard::read_shard(d)
                .with_context(|| format!("{}: not a campaign shard directory", d.display()))?,
        );
    }
    let (runs, missing) = shard::merge_rows(&shards).map_err(anyhow::Error::msg)?;
    let name = shards[0].meta.name.clone();
    // <store>/campaigns/<name>/shards/<id>
    let store = match store.or_else(|| Some(dirs[0].parent()?.parent()?.parent()?.parent()?.to_path_buf())) {
        Some(s) => s,
        None => anyhow::bail!("{}: cannot tell which store it is in; pass --store", dirs[0].display()),
    };
    let dir = create_campaign_dir(&store, &name)?;
    let earlier = earlier_campaigns(&campaigns_dir(&store, &name), Some(&dir));
    let started_at = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let index =
        CampaignIndex { current: CampaignSummary { name, started_at, runs, skipped: missing }, earlier };
    save(&dir, &index)?;
    let exit_code = reports::campaign::exit_code(&index.current);
    let result = CampaignResult { dir, summary: index.current.clone(), index, exit_code };
    print_result(&result);
    if missing > 0 {
        println!("{missing} planned runs have no row in these shards (counted as skipped)");
    }
    Ok(exit_code)
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
        assert_eq!(last.config.time_limit, Duration::from_secs(5));
        assert_eq!((last.workload.as_str(), last.nodes, last.seed), ("register", 5, 1));
        let buggy = c.runs.iter().find(|r| r.bugs == ["stale-read"]).unwrap();
        let config = &buggy.config;
        assert_eq!(config.node_args, ["--bug", "stale-read"]);
        assert_eq!(config.time_limit, Duration::from_secs(20));
        assert_eq!(config.net, crate::cluster::Backend::Loopback);
        assert!(!config.progress);
    }

    #[test]
    fn the_node_binary_goes_to_raft_node_runs_only() {
        let c = parse_ok("[[matrix]]\nsystems = [\"raft-node\", \"etcd\"]\nnodes = [3]\n");
        let (raft, etcd): (Vec<&PlannedRun>, Vec<&PlannedRun>) =
            c.runs.iter().partition(|r| r.system == "raft-node");
        assert_eq!((raft.len(), etcd.len()), (1, 1));
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(raft[0].config.node_bin, sh);
        assert_ne!(etcd[0].config.node_bin, sh);
        assert_eq!(etcd[0].config.system.name(), "etcd");
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
