//! System files: a system under test described in TOML (`faultline run --system-file my-db.toml`).
//!
//! A system file says how to start one node (an argument template, its environment and working
//! directory, how to stop it, which of its files to keep), how to tell that a node is ready, how to
//! learn who leads (optional), and how clients talk to it. [`SystemFile::parse`] reads and checks
//! the whole file before anything starts; every error names the file, the line and the key, like a
//! campaign file's ([`crate::campaign`]). The parsed value is the system's description and nothing
//! more: [`crate::system`] turns it into command lines, requests and answers, [`crate::ready`] probes
//! readiness, [`crate::shim`] runs shim clients. `test.json` records the file's text, so a replay runs
//! the description the run ran even when the file has changed since.
//!
//! The format (each key is documented in README.md, "Testing your own system"):
//!
//! ```toml
//! name = "my-db"                      # the store's test names start with it
//! [node]
//! command = ["my-db", "--id", "{id}", "--peers", "{peers}", "--data", "{data_dir}"]
//! env = { RUST_LOG = "info" }          # optional, values are templates too
//! cwd = "."                            # optional, relative to this file; default: the node's directory
//! stop_signal = "SIGTERM"              # optional: sent at teardown, then SIGKILL after stop_timeout
//! stop_timeout = "5s"
//! data = ["*.db"]                      # optional: files outside {data_dir} to keep (globs, from cwd)
//! peer_addresses = "per-link"          # or "shared" (every node must name each peer alike)
//! crash_lines = ["PANIC"]              # optional: output lines containing one of these are crashes
//! corrupt = ["wal/*.log"]              # optional: the files the corrupt fault may damage (globs,
//!                                      #   from {data_dir}); default: any file there
//! [ready]                              # optional: one of tcp / http / command, and a timeout
//! tcp = "client"                       # "client" or "peer": the port accepts connections
//! timeout = "10s"
//! [roles]                              # optional: who leads, for leader faults, the report's lane
//! path = "/status"                     #   and the election check
//! role = "/role"                       # JSON pointers into the status body
//! term = "/term"
//! leader = "/leader"
//! leader_is = "id"                     # id (1..N) | name (n1) | addr (host:port) | self (see below)
//! [client]
//! kind = "http-kv"                     # http-kv | etcd-v3 | shim (then command = [...])
//! ```
//!
//! Templates are strings with placeholders: `{id}` `{name}` `{nodes}` `{data_dir}` `{node_dir}`
//! `{peer_addr}` `{peer_host}` `{peer_port}` `{advertised_peer_addr}` `{client_addr}` `{client_host}`
//! `{client_port}` `{peers}` `{client_addrs}` `{seed}` `{token}` `{dir}`; `{peers}` and
//! `{client_addrs}` list every node as `1=ADDR,2=ADDR,...` or in a format given after a colon, with
//! `%id`, `%name`, `%addr`, `%host` and `%port` standing for each node's (`{peers:%name=http://%addr}`).
//! `{{` and `}}` are literal braces. A shim's command takes `{nodes}`, `{client_addrs}`, `{seed}`,
//! `{dir}` and `{client}` (its slot number); the node placeholders do not apply to it.

use crate::nodes::NodeSpec;
use crate::units::parse_duration;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Why a system file cannot be used: the file, the line, the key and what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}:{line}: {key}: {message}", path.display())]
pub struct SystemFileError {
    pub path: PathBuf,
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// A system described by a file. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemFile {
    /// Where it was read from (messages; relative paths in it are relative to its directory).
    pub path: PathBuf,
    /// Its text, as recorded in `test.json`.
    pub text: String,
    /// The system's name (test names, reports).
    pub name: String,
    pub node: NodeSection,
    pub ready: Option<Ready>,
    pub roles: Option<Roles>,
    pub client: ClientKind,
    /// Line of each key, for messages about values that are checked later (a program not found).
    lines: BTreeMap<String, usize>,
}

/// How to run one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSection {
    /// The command line; its first word is the program (found on PATH, next to `faultline`, or
    /// relative to the system file when it contains a `/`), replaced by `--node-bin` when given.
    pub command: Vec<Template>,
    pub env: Vec<(String, Template)>,
    /// The working directory (relative to the system file); None: the node's own directory.
    pub cwd: Option<Template>,
    /// Sent at teardown before SIGKILL; None: SIGKILL at once.
    pub stop_signal: Option<nix::sys::signal::Signal>,
    pub stop_timeout: Duration,
    /// Files to keep besides `{data_dir}` (globs relative to the working directory).
    pub data: Vec<Template>,
    pub peer_addresses: PeerAddresses,
    /// Output lines containing one of these report a crash.
    pub crash_lines: Vec<String>,
    /// Files the `corrupt` fault may damage: globs relative to `{data_dir}` (empty: any file).
    pub corrupt: Vec<String>,
}

/// How a node is given its peers' addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerAddresses {
    /// Each node gets its own view: on loopback (and on netns with latency faults) the address of
    /// the harness's relay for each directed link, so every link can be cut or slowed on its own.
    #[default]
    PerLink,
    /// Every node must name each peer alike (etcd's `--initial-cluster`): one relay per node, which
    /// can tell the sender of a connection only from etcd's `X-PeerURLs` header; for other systems,
    /// partitions need the netns backend.
    Shared,
}

/// When a node counts as ready.
#[derive(Clone, Debug, PartialEq)]
pub struct Ready {
    pub probe: Probe,
    pub timeout: Duration,
}

/// One readiness probe.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// The node's client (or peer) port accepts a TCP connection.
    Tcp { peer: bool },
    /// `GET path` on the node's client address answers 2xx.
    Http { path: String },
    /// This command (a template, run per node) exits 0.
    Command(Vec<Template>),
}

/// How to read who leads from a node's status.
#[derive(Clone, Debug, PartialEq)]
pub struct Roles {
    pub path: String,
    /// POST with this JSON body instead of a GET.
    pub body: Option<Value>,
    /// Pointer to the node's role; it leads when the role is `leader_role` (case-insensitive).
    pub role: Option<String>,
    pub leader_role: String,
    pub term: Option<String>,
    /// Pointer to the node the status names as leader.
    pub leader: Option<String>,
    pub leader_is: LeaderIs,
    /// Pointer to the node's own id, in the same terms as `leader` (for `leader_is = "self"`).
    pub self_id: Option<String>,
    /// Pointer to the index of the node's last log entry (the laggard target).
    pub last_index: Option<String>,
}

/// How a status names the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderIs {
    /// The node's number, 1 to N (a JSON number or a numeric string).
    Id,
    /// `n1` ... `nN`.
    Name,
    /// Its client or peer address, `host:port` (an `http://` prefix is allowed).
    Addr,
    /// An id of the system's own; each node's status gives its own at `self_id`.
    #[serde(rename = "self")]
    SelfId,
}

/// How clients talk to the nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientKind {
    /// raft-node's HTTP/JSON key-value API (README.md, "The http-kv contract").
    HttpKv,
    /// etcd's v3 JSON gateway (register workload only).
    EtcdV3 { serializable_reads: bool },
    /// A program of the user's, one process per client, JSON lines on stdin and stdout.
    Shim { command: Vec<Template>, env: Vec<(String, Template)> },
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Var(Var, Option<String>),
}

/// The placeholders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Id,
    Name,
    Nodes,
    DataDir,
    NodeDir,
    PeerAddr,
    PeerHost,
    PeerPort,
    AdvertisedPeerAddr,
    ClientAddr,
    ClientHost,
    ClientPort,
    Peers,
    ClientAddrs,
    Seed,
    Token,
    Dir,
    Client,
}

const VARS: [(&str, Var); 18] = [
    ("id", Var::Id),
    ("name", Var::Name),
    ("nodes", Var::Nodes),
    ("data_dir", Var::DataDir),
    ("node_dir", Var::NodeDir),
    ("peer_addr", Var::PeerAddr),
    ("peer_host", Var::PeerHost),
    ("peer_port", Var::PeerPort),
    ("advertised_peer_addr", Var::AdvertisedPeerAddr),
    ("client_addr", Var::ClientAddr),
    ("client_host", Var::ClientHost),
    ("client_port", Var::ClientPort),
    ("peers", Var::Peers),
    ("client_addrs", Var::ClientAddrs),
    ("seed", Var::Seed),
    ("token", Var::Token),
    ("dir", Var::Dir),
    ("client", Var::Client),
];

/// Where a template is expanded: for one node, or for one client (a shim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Node,
    Client,
}

impl Var {
    fn allowed(self, scope: Scope) -> bool {
        match scope {
            Scope::Node => self != Var::Client,
            Scope::Client => {
                matches!(self, Var::Nodes | Var::ClientAddrs | Var::Seed | Var::Dir | Var::Client)
            }
        }
    }

    fn takes_format(self) -> bool {
        matches!(self, Var::Peers | Var::ClientAddrs)
    }
}

/// A string with placeholders, checked when the file is read.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What a node template is expanded with.
#[derive(Clone, Copy, Debug)]
pub struct NodeContext<'a> {
    pub spec: &'a NodeSpec,
    pub all: &'a [NodeSpec],
    /// The run's seed (`{seed}` is the run's seed plus the node's id, like raft-node's).
    pub seed: u64,
    /// This run's cluster token.
    pub token: &'a str,
    pub shared_peers: bool,
}

/// What a shim's template is expanded with.
#[derive(Clone, Copy, Debug)]
pub struct ClientContext<'a> {
    pub all: &'a [NodeSpec],
    pub seed: u64,
    pub slot: usize,
}

impl Template {
    /// Parses `text`; the error says what is wrong (the caller adds where).
    fn parse(text: &str, scope: Scope) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(format!("a lone `}}` at byte {i} (write `}}}}` for a literal brace)")),
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "`{{` at byte {i} is never closed (write `{{{{` for a literal brace)"
                        ));
                    };
                    let inner = &rest[..end];
                    for _ in 0..=end {
                        chars.next();
                    }
                    let (name, format) = match inner.split_once(':') {
                        Some((n, f)) => (n, Some(f.to_string())),
                        None => (inner, None),
                    };
                    let Some(&(_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                        return Err(format!(
                            "unknown placeholder {{{name}}}; the placeholders are {}",
                            known(scope)
                        ));
                    };
                    if !var.allowed(scope) {
                        return Err(format!(
                            "placeholder {{{name}}} does not apply here; here the placeholders are {}",
                            known(scope)
                        ));
                    }
                    if format.is_some() && !var.takes_format() {
                        return Err(format!(
                            "placeholder {{{name}}} takes no format (only peers and client_addrs do)"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Var(var, format));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// The template with no placeholder in it: its text (a plain word such as a program name).
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(..) => return None,
            }
        }
        Some(out)
    }

    /// The template for one node.
    pub fn expand(&self, ctx: &NodeContext<'_>, dir: &Path) -> String {
        let spec = ctx.spec;
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(var, format) => {
                    let peers: Vec<SocketAddr> = if ctx.shared_peers {
                        ctx.all.iter().map(|s| s.advertise_peer.unwrap_or(s.listen_peer)).collect()
                    } else {
                        spec.peer_addrs.clone()
                    };
                    let v = match var {
                        Var::Id => spec.id.to_string(),
                        Var::Name => spec.name.clone(),
                        Var::Nodes => ctx.all.len().to_string(),
                        Var::DataDir => spec.data_dir().display().to_string(),
                        Var::NodeDir => spec.dir.display().to_string(),
                        Var::PeerAddr => spec.listen_peer.to_string(),
                        Var::PeerHost => spec.listen_peer.ip().to_string(),
                        Var::PeerPort => spec.listen_peer.port().to_string(),
                        Var::AdvertisedPeerAddr => {
                            spec.advertise_peer.unwrap_or(spec.listen_peer).to_string()
                        }
                        Var::ClientAddr => spec.listen_client.to_string(),
                        Var::ClientHost => spec.listen_client.ip().to_string(),
                        Var::ClientPort => spec.listen_client.port().to_string(),
                        Var::Peers => list(ctx.all, &peers, format.as_deref()),
                        Var::ClientAddrs => {
                            let clients: Vec<SocketAddr> = ctx.all.iter().map(|s| s.listen_client).collect();
                            list(ctx.all, &clients, format.as_deref())
                        }
                        Var::Seed => ctx.seed.wrapping_add(spec.id).to_string(),
                        Var::Token => ctx.token.to_string(),
                        Var::Dir => dir.display().to_string(),
                        Var::Client => String::new(),
                    };
                    out.push_str(&v);
                }
            }
        }
        out
    }

    /// The template for one client (a shim).
    pub fn expand_client(&self, ctx: &ClientContext<'_>, dir: &Path) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(var, format) => {
                    let v = match var {
                        Var::Nodes => ctx.all.len().to_string(),
                        Var::ClientAddrs => {
                            let clients: Vec<SocketAddr> = ctx.all.iter().map(|s| s.listen_client).collect();
                            list(ctx.all, &clients, format.as_deref())
                        }
                        Var::Seed => ctx.seed.to_string(),
                        Var::Dir => dir.display().to_string(),
                        Var::Client => ctx.slot.to_string(),
                        // Parsing admits no other placeholder in a client's template.
                        _ => String::new(),
                    };
                    out.push_str(&v);
                }
            }
        }
        out
    }
}

/// `1=ADDR,2=ADDR` or every node in `format` (`%id %name %addr %host %port`), comma-separated.
fn list(all: &[NodeSpec], addrs: &[SocketAddr], format: Option<&str>) -> String {
    let format = format.unwrap_or("%id=%addr");
    all.iter()
        .zip(addrs)
        .map(|(s, a)| {
            format
                .replace("%id", &s.id.to_string())
                .replace("%name", &s.name)
                .replace("%addr", &a.to_string())
                .replace("%host", &a.ip().to_string())
                .replace("%port", &a.port().to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn known(scope: Scope) -> String {
    VARS.iter()
        .filter(|(_, v)| v.allowed(scope))
        .map(|(n, _)| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// The file as written, with where each value was written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    node: Spanned<RawNode>,
    ready: Option<Spanned<RawReady>>,
    roles: Option<Spanned<RawRoles>>,
    client: Spanned<RawClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    command: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    cwd: Option<Spanned<String>>,
    stop_signal: Option<Spanned<String>>,
    stop_timeout: Option<Spanned<String>>,
    #[serde(default)]
    data: Vec<Spanned<String>>,
    #[serde(default)]
    peer_addresses: PeerAddresses,
    #[serde(default)]
    crash_lines: Vec<String>,
    #[serde(default)]
    corrupt: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    tcp: Option<Spanned<String>>,
    http: Option<Spanned<String>>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    path: Spanned<String>,
    body: Option<toml::Value>,
    role: Option<Spanned<String>>,
    leader_role: Option<String>,
    term: Option<Spanned<String>>,
    leader: Option<Spanned<String>>,
    leader_is: Option<Spanned<LeaderIs>>,
    self_id: Option<Spanned<String>>,
    last_index: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    kind: Spanned<RawKind>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    serializable_reads: Option<Spanned<bool>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawKind {
    HttpKv,
    EtcdV3,
    Shim,
}

/// The default wait for readiness.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The default wait between the stop signal and SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |t| t.matches('\n').count() + 1)
}

/// The dotted key written on the line of `offset`: the table header above it and the key before
/// `=` on the line itself (for messages about errors the TOML parser found).
fn key_at(text: &str, offset: usize) -> String {
    let line_no = line_of(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no.saturating_sub(1)).copied().unwrap_or("").trim();
    let header = |l: &str| {
        let l = l.trim();
        (l.starts_with('[') && l.ends_with(']'))
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if let Some(h) = header(line) {
        return h;
    }
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string());
    let table = lines[..line_no.saturating_sub(1).min(lines.len())].iter().rev().find_map(|l| header(l));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => "(file)".into(),
    }
}

impl SystemFile {
    /// Reads and checks a system file; the result remembers its absolute path (replays and the
    /// reproduce command find it from anywhere).
    pub fn load(path: &Path) -> Result<SystemFile, SystemFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| SystemFileError {
            path: path.to_path_buf(),
            line: 0,
            key: "(file)".into(),
            message: e.to_string(),
        })?;
        let file = SystemFile::parse(&text, path)?;
        Ok(SystemFile { path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()), ..file })
    }

    /// Checks `text`, read from `path` (used in messages and for relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<SystemFile, SystemFileError> {
        let err = |span: Range<usize>, key: &str, message: String| SystemFileError {
            path: path.to_path_buf(),
            line: line_of(text, span.start),
            key: key.to_string(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            err(span.clone(), &key_at(text, span.start), e.message().trim_end().to_string())
        })?;
        let mut lines = BTreeMap::new();
        let mut note = |key: &str, span: &Range<usize>| {
            lines.insert(key.to_string(), line_of(text, span.start));
        };
        let template = |s: &Spanned<String>, key: &str, scope: Scope| {
            Template::parse(s.get_ref(), scope).map_err(|m| err(s.span(), key, m))
        };
        let argv = |v: &Spanned<Vec<Spanned<String>>>, key: &str, scope: Scope| {
            if v.get_ref().is_empty() || v.get_ref()[0].get_ref().is_empty() {
                return Err(err(v.span(), key, "must name a program as its first word".into()));
            }
            v.get_ref().iter().map(|s| template(s, key, scope)).collect::<Result<Vec<_>, _>>()
        };
        let duration = |s: &Option<Spanned<String>>, key: &str, default: Duration| match s {
            None => Ok(default),
            Some(s) => match parse_duration(s.get_ref()) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(err(s.span(), key, "must be positive".into())),
                Err(e) => Err(err(s.span(), key, e)),
            },
        };
        let env = |map: &BTreeMap<String, Spanned<String>>, key: &str, scope: Scope| {
            map.iter()
                .map(|(k, v)| Ok((k.clone(), template(v, &format!("{key}.{k}"), scope)?)))
                .collect::<Result<Vec<_>, SystemFileError>>()
        };
        let name = match &raw.name {
            Some(n)
                if n.get_ref().is_empty()
                    || !n.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return Err(err(
                    n.span(),
                    "name",
                    format!(
                        "{:?}: use letters, digits, '-', '_' and '.' (it names store directories)",
                        n.get_ref()
                    ),
                ));
            }
            Some(n) => n.get_ref().clone(),
            None => path.file_stem().map_or("system".into(), |s| s.to_string_lossy().into_owned()),
        };

        let n = raw.node.get_ref();
        note("node.command", &n.command.span());
        let stop_signal = match &n.stop_signal {
            None => None,
            Some(s) => Some(s.get_ref().parse::<nix::sys::signal::Signal>().map_err(|_| {
                err(
                    s.span(),
                    "node.stop_signal",
                    format!("{:?} is not a signal name (SIGTERM, SIGINT, ...)", s.get_ref()),
                )
            })?),
        };
        let node = NodeSection {
            command: argv(&n.command, "node.command", Scope::Node)?,
            env: env(&n.env, "node.env", Scope::Node)?,
            cwd: n.cwd.as_ref().map(|c| template(c, "node.cwd", Scope::Node)).transpose()?,
            stop_signal,
            stop_timeout: duration(&n.stop_timeout, "node.stop_timeout", STOP_TIMEOUT)?,
            data: n.data.iter().map(|d| template(d, "node.data", Scope::Node)).collect::<Result<_, _>>()?,
            peer_addresses: n.peer_addresses,
            crash_lines: n.crash_lines.clone(),
            corrupt: n.corrupt.clone(),
        };

        let ready = match &raw.ready {
            None => None,
            Some(r) => {
                let span = r.span();
                let r = r.get_ref();
                let given = [r.tcp.is_some(), r.http.is_some(), r.command.is_some()];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(err(span, "ready", "give exactly one of tcp, http or command".into()));
                }
                let probe = if let Some(t) = &r.tcp {
                    match t.get_ref().as_str() {
                        "client" => Probe::Tcp { peer: false },
                        "peer" => Probe::Tcp { peer: true },
                        other => {
                            return Err(err(
                                t.span(),
                                "ready.tcp",
                                format!("{other:?}: expected \"client\" or \"peer\""),
                            ));
                        }
                    }
                } else if let Some(h) = &r.http {
                    if !h.get_ref().starts_with('/') {
                        return Err(err(h.span(), "ready.http", "a path starting with /".into()));
                    }
                    Probe::Http { path: h.get_ref().clone() }
                } else {
                    let c = r.command.as_ref().expect("exactly one probe is given");
                    note("ready.command", &c.span());
                    Probe::Command(argv(c, "ready.command", Scope::Node)?)
                };
                Some(Ready { probe, timeout: duration(&r.timeout, "ready.timeout", READY_TIMEOUT)? })
            }
        };

        let roles = match &raw.roles {
            None => None,
            Some(r) => {
                let span = r.span();
                let r = r.get_ref();
                let pointer = |p: &Option<Spanned<String>>, key: &str| match p {
                    Some(p) if !p.get_ref().is_empty() && !p.get_ref().starts_with('/') => Err(err(
                        p.span(),
                        key,
                        format!(
                            "{:?} is not a JSON pointer (they start with /, e.g. \"/role\")",
                            p.get_ref()
                        ),
                    )),
                    p => Ok(p.as_ref().map(|p| p.get_ref().clone())),
                };
                if !r.path.get_ref().starts_with('/') {
                    return Err(err(r.path.span(), "roles.path", "a path starting with /".into()));
                }
                let leader_is = r.leader_is.as_ref().map_or(LeaderIs::Id, |l| *l.get_ref());
                let roles = Roles {
                    path: r.path.get_ref().clone(),
                    body: r.body.as_ref().map(|b| serde_json::to_value(b).unwrap_or(Value::Null)),
                    role: pointer(&r.role, "roles.role")?,
                    leader_role: r.leader_role.clone().unwrap_or_else(|| "leader".into()),
                    term: pointer(&r.term, "roles.term")?,
                    leader: pointer(&r.leader, "roles.leader")?,
                    leader_is,
                    self_id: pointer(&r.self_id, "roles.self_id")?,
                    last_index: pointer(&r.last_index, "roles.last_index")?,
                };
                if roles.role.is_none() && roles.leader.is_none() {
                    return Err(err(
                        span,
                        "roles",
                        "give role or leader (or both): the pointers that say who leads".into(),
                    ));
                }
                if leader_is == LeaderIs::SelfId && (roles.self_id.is_none() || roles.leader.is_none()) {
                    let at = r.leader_is.as_ref().map_or(span, |l| l.span());
                    return Err(err(
                        at,
                        "roles.leader_is",
                        "\"self\" needs leader and self_id pointers".into(),
                    ));
                }
                Some(roles)
            }
        };

        let c = raw.client.get_ref();
        let kind = *c.kind.get_ref();
        if kind != RawKind::Shim && (c.command.is_some() || !c.env.is_empty()) {
            return Err(err(
                c.kind.span(),
                "client.command",
                "only a shim client has a command and env".into(),
            ));
        }
        if kind != RawKind::EtcdV3
            && let Some(s) = &c.serializable_reads
        {
            return Err(err(
                s.span(),
                "client.serializable_reads",
                "applies to kind = \"etcd-v3\" only".into(),
            ));
        }
        let client = match kind {
            RawKind::HttpKv => ClientKind::HttpKv,
            RawKind::EtcdV3 => ClientKind::EtcdV3 {
                serializable_reads: c.serializable_reads.as_ref().is_some_and(|s| *s.get_ref()),
            },
            RawKind::Shim => {
                let Some(command) = &c.command else {
                    return Err(err(
                        raw.client.span(),
                        "client.command",
                        "a shim client needs command = [program, args...]".into(),
                    ));
                };
                note("client.command", &command.span());
                ClientKind::Shim {
                    command: argv(command, "client.command", Scope::Client)?,
                    env: env(&c.env, "client.env", Scope::Client)?,
                }
            }
        };
        Ok(SystemFile {
            path: path.to_path_buf(),
            text: text.to_string(),
            name,
            node,
            ready,
            roles,
            client,
            lines,
        })
    }

    /// The directory relative paths in the file are relative to.
    pub fn dir(&self) -> PathBuf {
        let parent = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
    }

    /// `file:line` of a key, for messages about values checked after parsing.
    pub fn place(&self, key: &str) -> String {
        format!("{}:{}: {key}", self.path.display(), self.lines.get(key).copied().unwrap_or(1))
    }

    /// The node's program as written (the first word of `node.command`), if it is a plain word.
    pub fn program(&self) -> Option<String> {
        self.node.command.first().and_then(Template::literal)
    }

    /// Where the program named `word` is: relative to the file's directory when it contains a `/`,
    /// else on PATH or next to the running `faultline`.
    pub fn resolve_program(&self, word: &str) -> Option<PathBuf> {
        if word.contains('/') {
            let p = self.dir().join(word);
            return p.is_file().then_some(p);
        }
        crate::programs::find_on_path(word).or_else(|| crate::programs::binary_next_to_exe(word))
    }

    /// The node's command line, binary first, with `extra` arguments at the end.
    pub fn node_argv(&self, bin: &str, ctx: &NodeContext<'_>, extra: &[String]) -> Vec<String> {
        let dir = self.dir();
        let mut argv = vec![bin.to_string()];
        argv.extend(self.node.command.iter().skip(1).map(|t| t.expand(ctx, &dir)));
        argv.extend(extra.iter().cloned());
        argv
    }

    /// The node's environment (on top of faultline's own).
    pub fn node_env(&self, ctx: &NodeContext<'_>) -> Vec<(String, String)> {
        let dir = self.dir();
        self.node.env.iter().map(|(k, v)| (k.clone(), v.expand(ctx, &dir))).collect()
    }

    /// The node's working directory.
    pub fn node_cwd(&self, ctx: &NodeContext<'_>) -> PathBuf {
        match &self.node.cwd {
            Some(t) => self.dir().join(t.expand(ctx, &self.dir())),
            None => ctx.spec.dir.clone(),
        }
    }

    /// Copies the node's `data` files (globs relative to its working directory) into its data
    /// directory in the run; returns what was kept, or what could not be.
    pub fn keep_data_files(&self, ctx: &NodeContext<'_>) -> Vec<Result<PathBuf, String>> {
        let cwd = self.node_cwd(ctx);
        let mut out = Vec::new();
        for pattern in &self.node.data {
            let pattern = pattern.expand(ctx, &self.dir());
            for found in glob(&cwd.join(&pattern)) {
                let Some(file_name) = found.file_name() else { continue };
                let to = ctx.spec.data_dir().join(file_name);
                if found == to {
                    continue;
                }
                out.push(
                    std::fs::create_dir_all(ctx.spec.data_dir())
                        .and_then(|()| std::fs::copy(&found, &to))
                        .map(|_| to.clone())
                        .map_err(|e| format!("{} -> {}: {e}", found.display(), to.display())),
                );
            }
        }
        out
    }
}

/// The files matching `pattern`, whose last component may hold `*` and `?` (the directories before
/// it are taken as written).
pub fn glob(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else { return Vec::new() };
    let name = name.to_string_lossy();
    if !name.contains(['*', '?']) {
        return if pattern.is_file() { vec![pattern.to_path_buf()] } else { Vec::new() };
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "kv"
[node]
command = ["kv-server", "--id", "{id}", "--peers", "{peers}", "--cluster", "{peers:%name=http://%addr}", "{{literal}}"]
env = { NODE = "{name}" }
stop_signal = "SIGTERM"
data = ["*.db"]
corrupt = ["wal/*.log"]
[ready]
http = "/health"
timeout = "3s"
[roles]
path = "/status"
role = "/role"
leader = "/leader"
leader_is = "name"
[client]
kind = "shim"
command = ["python3", "{dir}/shim.py", "{client_addrs}", "{client}"]
"#;

    fn spec(i: usize) -> NodeSpec {
        NodeSpec {
            index: i,
            name: format!("n{}", i + 1),
            id: i as u64 + 1,
            listen_peer: format!("127.0.0.1:{}", 7001 + i).parse().unwrap(),
            advertise_peer: None,
            listen_client: format!("127.0.0.1:{}", 8001 + i).parse().unwrap(),
            peer_addrs: (0..2).map(|j| format!("127.0.0.1:{}", 9000 + 10 * i + j).parse().unwrap()).collect(),
            peers_arg: String::new(),
            client_addrs_arg: String::new(),
            dir: format!("/run/nodes/n{}", i + 1).into(),
            netns: None,
        }
    }

    #[test]
    fn a_good_file_expands_per_node() {
        let f = SystemFile::parse(GOOD, Path::new("/etc/kv.toml")).unwrap();
        assert_eq!(f.name, "kv");
        assert_eq!(f.node.corrupt, ["wal/*.log"]);
        let all = [spec(0), spec(1)];
        let ctx = NodeContext { spec: &all[1], all: &all, seed: 10, token: "t", shared_peers: false };
        let argv = f.node_argv("/bin/kv-server", &ctx, &["--x".into()]);
        assert_eq!(
            argv,
            [
                "/bin/kv-server",
                "--id",
                "2",
                "--peers",
                "1=127.0.0.1:9010,2=127.0.0.1:9011",
                "--cluster",
                "n1=http://127.0.0.1:9010,n2=http://127.0.0.1:9011",
                "{literal}",
                "--x"
            ]
        );
        assert_eq!(f.node_env(&ctx), vec![("NODE".to_string(), "n2".to_string())]);
        assert_eq!(f.node_cwd(&ctx), PathBuf::from("/run/nodes/n2"));
        assert_eq!(f.node.stop_signal, Some(nix::sys::signal::Signal::SIGTERM));
        assert_eq!(f.ready.as_ref().unwrap().timeout, Duration::from_secs(3));
        assert_eq!(f.roles.as_ref().unwrap().leader_is, LeaderIs::Name);
        // Shared peers: every node names each peer by its own (advertised) address.
        let shared = NodeContext { shared_peers: true, ..ctx };
        assert_eq!(f.node_argv("k", &shared, &[])[4], "1=127.0.0.1:7001,2=127.0.0.1:7002");
        let ClientKind::Shim { command, .. } = &f.client else { panic!("a shim") };
        let cctx = ClientContext { all: &all, seed: 3, slot: 4 };
        let words: Vec<String> = command.iter().map(|t| t.expand_client(&cctx, Path::new("/etc"))).collect();
        assert_eq!(words, ["python3", "/etc/shim.py", "1=127.0.0.1:8001,2=127.0.0.1:8002", "4"]);
        assert_eq!(f.place("client.command"), "/etc/kv.toml:19: client.command");
    }

    fn error(text: &str) -> SystemFileError {
        SystemFile::parse(text, Path::new("my.toml")).unwrap_err()
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let e = error("[node]\ncommand = [\"x\"]\nrestart = true\n[client]\nkind = \"http-kv\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "node.restart"), "{e}");
        assert!(e.message.contains("restart"), "{e}");
        assert!(e.to_string().starts_with("my.toml:3: node.restart: "), "{e}");
    }

    #[test]
    fn an_unknown_placeholder_is_named_with_its_line() {
        let e = error("[node]\ncommand = [\"x\",\n  \"--data={data_dri}\"]\n[client]\nkind = \"http-kv\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "node.command"), "{e}");
        assert!(e.message.contains("{data_dri}") && e.message.contains("{data_dir}"), "{e}");
        // Node placeholders mean nothing to a shim.
        let e = error("[node]\ncommand = [\"x\"]\n[client]\nkind = \"shim\"\ncommand = [\"s\", \"{id}\"]\n");
        assert_eq!((e.line, e.key.as_str()), (5, "client.command"), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let e = error(
            "[node]\ncommand = [\"x\"]\n[ready]\ntcp = \"client\"\ntimeout = 5\n[client]\nkind = \"http-kv\"\n",
        );
        assert_eq!((e.line, e.key.as_str()), (5, "ready.timeout"), "{e}");
        assert!(e.message.contains("string"), "{e}");
        let e = error("[node]\ncommand = [\"x\"]\n[client]\nkind = \"grpc\"\n");
        assert_eq!((e.line, e.key.as_str()), (4, "client.kind"), "{e}");
        assert!(e.message.contains("http-kv"), "{e}");
        let e = error("[node]\ncommand = [\"x\"]\nstop_timeout = \"soon\"\n[client]\nkind = \"http-kv\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "node.stop_timeout"), "{e}");
    }

    #[test]
    fn incomplete_sections_say_what_they_need() {
        let e = error("[node]\ncommand = []\n[client]\nkind = \"http-kv\"\n");
        assert_eq!(e.key, "node.command");
        let e = error("[node]\ncommand = [\"x\"]\n[client]\nkind = \"shim\"\n");
        assert_eq!(e.key, "client.command");
        let e = error(
            "[node]\ncommand = [\"x\"]\n[ready]\ntcp = \"client\"\nhttp = \"/\"\n[client]\nkind = \"http-kv\"\n",
        );
        assert_eq!((e.line, e.key.as_str()), (3, "ready"), "{e}");
        let e = error(
            "[node]\ncommand = [\"x\"]\n[roles]\npath = \"/s\"\nrole = \"role\"\n[client]\nkind = \"http-kv\"\n",
        );
        assert_eq!((e.line, e.key.as_str()), (5, "roles.role"), "{e}");
        let e = error("[node]\ncommand = [\"x\"]\n[client]\n");
        assert!(e.message.contains("kind"), "{e}");
    }

    #[test]
    fn data_files_outside_the_data_dir_are_kept_in_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::write(cwd.join("n2.db"), "rows").unwrap();
        std::fs::write(cwd.join("n1.db"), "other node").unwrap();
        let text = format!(
            "[node]\ncommand = [\"x\"]\ncwd = \"{}\"\ndata = [\"{{name}}.*\"]\n[client]\nkind = \"http-kv\"\n",
            cwd.display()
        );
        let f = SystemFile::parse(&text, &dir.path().join("f.toml")).unwrap();
        let mut node = spec(1);
        node.dir = dir.path().join("run/nodes/n2");
        let all = [spec(0), node.clone()];
        let ctx = NodeContext { spec: &node, all: &all, seed: 1, token: "t", shared_peers: false };
        assert_eq!(f.node_cwd(&ctx), cwd);
        let kept: Vec<PathBuf> = f.keep_data_files(&ctx).into_iter().map(Result::unwrap).collect();
        assert_eq!(kept, [node.data_dir().join("n2.db")]);
        assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), "rows");
    }

    #[test]
    fn globs_match_in_the_last_component() {
        assert!(wildcard("*.db", "a.db") && wildcard("w?l-*", "wal-0001") && !wildcard("*.db", "a.dbx"));
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.db", "b.db", "c.txt"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let found = glob(&dir.path().join("*.db"));
        assert_eq!(found.len(), 2);
        assert_eq!(glob(&dir.path().join("c.txt")).len(), 1);
        assert!(glob(&dir.path().join("none")).is_empty());
    }
}
