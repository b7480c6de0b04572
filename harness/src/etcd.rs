//! etcd as a second system under test: its command line, its `/v3` JSON gateway and its status.
//!
//! Faultline drives Debian's etcd 3.4 (`apt-get install -y etcd-server etcd-client`) exactly like
//! raft-node: the same backends start one `etcd` process per node, the same nemesis cuts links and
//! signals pids, and the same register and transactional workloads run against it. Three things
//! differ and live here:
//!
//! - **The command line** ([`argv`]). Every member gets the same `--initial-cluster` (etcd refuses to
//!   start when members disagree on it) and advertises its listen address (on loopback: the address
//!   of the relay in front of it, see [`crate::cluster::loopback`]); a restart after a kill
//!   reuses the data directory, where etcd ignores the `--initial-*` flags. Timing is chosen to match
//!   raft-node's (10 ms ticks, 150-300 ms elections): `--heartbeat-interval 10 --election-timeout 150`,
//!   and etcd, like raft-node, draws each election timeout from `[e, 2e)`.
//! - **The client protocol** ([`request`], [`answer`]). Operations are POSTs to the gRPC gateway
//!   (`/v3/kv/put`, `/v3/kv/range`, `/v3/kv/txn`); keys and values travel base64-encoded, protobuf's
//!   JSON mapping omits every empty, zero or false field (no `kvs` = not found, no `succeeded` = the
//!   compare failed) and writes 64-bit numbers as strings. An answer becomes an [`Answer`], and the
//!   one classifier, [`crate::client::classify`], turns it into ok / fail / info.
//! - **Transactions** ([`txn_plan`]) are one etcd `txn` without compares, its `success` operations
//!   the micro-operations in order: etcd applies them atomically at one revision, and a range in a
//!   txn sees the txn's own earlier puts (both checked against etcd 3.4). A register is a key (`w` a
//!   put, `r` a range). A list cannot be a key: a txn cannot read a value and put a value computed
//!   from it, and a read-then-compare-and-put in two requests would make an append fail whenever
//!   another one raced it. So a list is a **prefix of keys**, one per element: appending 7 to `x`
//!   puts `x/00000000000000000007` (value 7), and reading `x` ranges over `x/` and orders the elements
//!   by create revision, which is the order their txns committed in. Appends of one txn share a
//!   revision; they are ordered by key, which is their order in the txn because the workload hands out
//!   increasing values (zero-padded, so key order is numeric order). Every txn commits (there is no
//!   compare), which is sound: an append never depends on what was there before. etcd refuses a txn
//!   that puts one key twice, so a register written twice in one transaction is put once, with its
//!   last value, and the transaction's reads of a key after its own write are answered from that
//!   write without asking etcd (the only value a correct database may return there).
//! - **Status** ([`status_to_contract`]). `POST /v3/maintenance/status` names members by 64-bit member
//!   ids; the poller learns which node has which id from each node's own answer and rewrites the body
//!   into raft-node's `/status` shape (CONTRACTS.md section 2), which the reports and leader targeting
//!   read.
//!
//! etcd's committed log is not exposed like raft-node's `/debug/log`, so the committed-log agreement
//! check does not apply to etcd runs (the analysis records why).

use crate::nodes::NodeSpec;
use crate::protocol::{Answer, Request, Response, stored_value, txn_completion};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use workloads::{MicroOp, Op, OpKind};

/// etcd's heartbeat interval (ms): one raft tick, as raft-node's `--tick-ms 10`.
pub const HEARTBEAT_MS: u64 = 10;
/// etcd's election timeout (ms), 15 ticks as raft-node's `--election-ticks 15`.
pub const ELECTION_MS: u64 = 150;

/// The package that brings the binaries, for error messages.
pub const INSTALL_HINT: &str = "apt-get install -y etcd-server etcd-client";

/// The etcd-specific options of a run (recorded in `test.json` under `etcd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdOptions {
    /// Reads as `serializable` ranges: answered from the local member's state without a quorum
    /// round, so a member cut off from the leader serves stale values (a known, documented anomaly).
    pub serializable_reads: bool,
    /// etcd's `--pre-vote`.
    pub pre_vote: bool,
}

/// The full command line of `spec`'s etcd (without the netns prefix).
pub fn argv(bin: &str, spec: &NodeSpec, all: &[NodeSpec], options: EtcdOptions, token: &str) -> Vec<String> {
    let peer_url = |s: &NodeSpec| format!("http://{}", s.advertise_peer.unwrap_or(s.listen_peer));
    let initial_cluster: Vec<String> = all.iter().map(|s| format!("{}={}", s.name, peer_url(s))).collect();
    let mut argv = vec![bin.to_string()];
    let pairs = [
        ("--name", spec.name.clone()),
        ("--data-dir", spec.data_dir().display().to_string()),
        ("--listen-peer-urls", format!("http://{}", spec.listen_peer)),
        ("--initial-advertise-peer-urls", peer_url(spec)),
        ("--listen-client-urls", spec.url()),
        ("--advertise-client-urls", spec.url()),
        ("--initial-cluster", initial_cluster.join(",")),
        ("--initial-cluster-state", "new".into()),
        ("--initial-cluster-token", token.to_string()),
        ("--heartbeat-interval", HEARTBEAT_MS.to_string()),
        ("--election-timeout", ELECTION_MS.to_string()),
        // Structured logs on stderr: a fatal or panic log line is recognisable (see `is_panic_line`).
        ("--logger", "zap".into()),
        ("--log-outputs", "stderr".into()),
    ];
    for (flag, value) in pairs {
        argv.push(flag.to_string());
        argv.push(value);
    }
    if options.pre_vote {
        argv.push("--pre-vote".into());
    }
    argv
}

/// Whether a line of etcd's output reports a crash: a Go panic or runtime fatal error (printed raw
/// on stderr), or a zap log line at level panic or fatal.
pub fn is_panic_line(line: &str) -> bool {
    line.starts_with("panic: ")
        || line.starts_with("fatal error: ")
        || line.contains(r#""level":"panic""#)
        || line.contains(r#""level":"fatal""#)
}

/// The gateway request that performs an operation (always a POST of JSON). `empty_read` tells a
/// transaction's list reads (`[]`) from register reads (null).
pub fn request(op: &Op, options: EtcdOptions, empty_read: &Value) -> Result<Request, String> {
    let (path, body) = gateway(op, options, empty_read.is_array())?;
    Ok(Request::post(path.to_string(), body))
}

/// How one micro-operation of a transaction is carried out (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planned {
    /// A put in the etcd txn; nothing to read back.
    Put,
    /// A register write a later write of the same key in this transaction supersedes: not sent.
    Superseded,
    /// A range in the etcd txn; its answer is `responses[i]`.
    Range(usize),
    /// A register read after the transaction's own write of that key: that value, not asked for.
    Own(u64),
}

/// The etcd key of element `value` of list `key`: zero-padded, so key order is numeric order.
fn element_key(key: &str, value: u64) -> String {
    format!("{key}/{value:020}")
}

/// A transaction's micro-operations as etcd txn operations (`success` branch), and how each maps.
pub fn txn_plan(mops: &[MicroOp], lists: bool) -> (Vec<Planned>, Vec<Value>) {
    let mut planned = Vec::with_capacity(mops.len());
    let mut ops: Vec<Value> = Vec::new();
    let mut written: HashMap<&str, u64> = HashMap::new();
    for (i, m) in mops.iter().enumerate() {
        match m {
            MicroOp::Append { key, value } => {
                let k = element_key(key, *value);
                ops.push(json!({"requestPut": {"key": b64(&k), "value": b64(&value.to_string())}}));
                planned.push(Planned::Put);
            }
            MicroOp::Write { key, value } => {
                written.insert(key, *value);
                let later =
                    mops[i + 1..].iter().any(|n| matches!(n, MicroOp::Write { key: k, .. } if k == key));
                if later {
                    planned.push(Planned::Superseded);
                } else {
                    ops.push(json!({"requestPut": {"key": b64(key), "value": b64(&value.to_string())}}));
                    planned.push(Planned::Put);
                }
            }
            MicroOp::Read { key } if lists => {
                let (from, to) = (format!("{key}/"), format!("{key}0"));
                ops.push(json!({"requestRange": {"key": b64(&from), "range_end": b64(&to)}}));
                planned.push(Planned::Range(ops.len() - 1));
            }
            MicroOp::Read { key } => match written.get(key.as_str()) {
                Some(v) => planned.push(Planned::Own(*v)),
                None => {
                    ops.push(json!({"requestRange": {"key": b64(key)}}));
                    planned.push(Planned::Range(ops.len() - 1));
                }
            },
        }
    }
    (planned, ops)
}

/// The gateway path and JSON body of `op`.
fn gateway(op: &Op, options: EtcdOptions, lists: bool) -> Result<(&'static str, Value), String> {
    let key = b64(&op.key);
    Ok(match &op.kind {
        OpKind::Read => {
            let mut body = json!({ "key": key });
            if options.serializable_reads {
                body["serializable"] = json!(true);
            }
            ("/v3/kv/range", body)
        }
        OpKind::Write(v) => ("/v3/kv/put", json!({ "key": key, "value": b64(v) })),
        OpKind::Cas { from, to } => {
            // `from: None` means "the key does not exist": its create revision is 0.
            let compare = match from {
                Some(f) => json!({ "target": "VALUE", "key": key, "result": "EQUAL", "value": b64(f) }),
                None => json!({ "target": "CREATE", "key": key, "result": "EQUAL", "create_revision": "0" }),
            };
            let body = json!({
                "compare": [compare],
                "success": [{ "requestPut": { "key": key, "value": b64(to) } }],
                "failure": [{ "requestRange": { "key": key } }],
            });
            ("/v3/kv/txn", body)
        }
        OpKind::Append(_) => {
            return Err("the etcd client runs the register and transactional workloads, not append".into());
        }
        OpKind::Txn(mops) => {
            let (_, mut ops) = txn_plan(mops, lists);
            // etcd serves a txn of nothing but serializable ranges from the member's local state,
            // without a quorum round: what `--etcd-serializable-reads` asks for.
            if options.serializable_reads && mops.iter().all(|m| matches!(m, MicroOp::Read { .. })) {
                for o in &mut ops {
                    o["requestRange"]["serializable"] = json!(true);
                }
            }
            ("/v3/kv/txn", json!({ "success": ops }))
        }
    })
}

/// Error messages with which etcd proves a write was not applied: both are returned before the
/// proposal enters any raft log (the node has no leader to forward to, or too many entries are
/// committed but not yet applied).
const NOT_PROPOSED: [&str; 2] = ["raft proposal dropped", "etcdserver: too many requests"];

/// gRPC status code INVALID_ARGUMENT: the request was rejected while decoding or validating it.
const INVALID_ARGUMENT: u64 = 3;

/// What an etcd gateway answer says about `op`. `empty_read` is the value of an absent key.
pub fn answer(op: &Op, empty_read: &Value, resp: Response) -> Answer {
    let Some(body) = resp.body else {
        return unknown_unless_read(op, format!("http {} with a body that is not JSON", resp.status));
    };
    if let Some(code) = body.get("code") {
        let code = number(code);
        let message = body
            .get("message")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let label = format!("etcd code {}: {message}", code.map_or("?".into(), |c| c.to_string()));
        if code == Some(INVALID_ARGUMENT) || NOT_PROPOSED.contains(&message.as_str()) {
            return Answer::NotApplied(label);
        }
        return unknown_unless_read(op, label);
    }
    if !(200..300).contains(&resp.status) || body.get("header").is_none() {
        return unknown_unless_read(op, format!("http {} without an etcd header or error", resp.status));
    }
    match &op.kind {
        OpKind::Read => match first_value(&body) {
            Ok(Some(v)) => Answer::Ok(Value::String(v)),
            Ok(None) => Answer::Ok(empty_read.clone()),
            // Reads have no effect: an unreadable answer is a failed read.
            Err(e) => Answer::NotApplied(e),
        },
        OpKind::Write(_) => Answer::Ok(op.invoke_value()),
        // `succeeded` is omitted when false: the compare failed and the failure branch (a range) ran.
        OpKind::Cas { .. } => match body.get("succeeded").and_then(Value::as_bool) {
            Some(true) => Answer::Ok(op.invoke_value()),
            _ => Answer::NotApplied("cas mismatch".into()),
        },
        OpKind::Append(_) => Answer::NotApplied("the etcd client does not run the append workload".into()),
        OpKind::Txn(mops) => txn_answer(mops, &body, empty_read),
    }
}

/// What a txn answer read, micro-operation by micro-operation (see [`txn_plan`]).
fn txn_answer(mops: &[MicroOp], body: &Value, empty_read: &Value) -> Answer {
    let lists = empty_read.is_array();
    let (planned, _) = txn_plan(mops, lists);
    let responses = body.get("responses").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut reads = Vec::with_capacity(mops.len());
    for p in planned {
        let read = match p {
            Planned::Put | Planned::Superseded => Value::Null,
            Planned::Own(v) => Value::from(v),
            Planned::Range(i) => {
                let Some(range) =
                    responses.get(i).and_then(|r| r.get("response_range").or_else(|| r.get("responseRange")))
                else {
                    return Answer::Unknown(format!("txn answer without response {i} (a range)"));
                };
                match range_values(range, lists) {
                    Ok(v) => v,
                    Err(e) => return Answer::Unknown(e),
                }
            }
        };
        reads.push(read);
    }
    Answer::Ok(txn_completion(mops, &reads, empty_read))
}

/// The value a range answer holds: a list's elements in commit order (create revision, then key), or
/// a register's value (null when absent), in the workload's terms.
fn range_values(range: &Value, lists: bool) -> Result<Value, String> {
    let kvs = range.get("kvs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let decode = |kv: &Value, field: &str| -> Result<String, String> {
        let encoded = kv.get(field).and_then(Value::as_str).unwrap_or("");
        let bytes = unb64(encoded).ok_or_else(|| format!("range {field} {encoded:?} is not base64"))?;
        String::from_utf8(bytes).map_err(|_| format!("range {field} {encoded:?} is not UTF-8"))
    };
    if !lists {
        return match kvs.first() {
            Some(kv) => Ok(stored_value(&Value::String(decode(kv, "value")?))),
            None => Ok(Value::Null),
        };
    }
    let mut elements = Vec::with_capacity(kvs.len());
    for kv in kvs {
        let revision = kv.get("create_revision").and_then(number).unwrap_or(0);
        elements.push((revision, decode(kv, "key")?, decode(kv, "value")?));
    }
    elements.sort();
    Ok(Value::Array(elements.into_iter().map(|(_, _, v)| stored_value(&Value::String(v))).collect()))
}

/// Whether an operation can change anything: a read (or a read-only transaction) cannot, so any
/// doubt about it is a plain failure; for the others it is unknown.
fn unknown_unless_read(op: &Op, why: String) -> Answer {
    let read_only = match &op.kind {
        OpKind::Read => true,
        OpKind::Txn(mops) => mops.iter().all(|m| matches!(m, MicroOp::Read { .. })),
        _ => false,
    };
    if read_only { Answer::NotApplied(why) } else { Answer::Unknown(why) }
}

/// The value of the first key-value of a range answer; None when `kvs` is absent (key not found).
fn first_value(body: &Value) -> Result<Option<String>, String> {
    let Some(kvs) = body.get("kvs") else { return Ok(None) };
    let Some(kv) = kvs.as_array().and_then(|a| a.first()) else { return Ok(None) };
    // An empty value is omitted like every empty field.
    let encoded = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let bytes = unb64(encoded).ok_or_else(|| format!("range value {encoded:?} is not base64"))?;
    String::from_utf8(bytes).map(Some).map_err(|_| format!("range value {encoded:?} is not UTF-8"))
}

/// A protobuf JSON number: 64-bit integers arrive as strings, smaller ones as numbers.
pub fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

/// Rewrites a `/v3/maintenance/status` body of node `index` into raft-node's `/status` shape.
/// `members[j]` is node j's member id as far as known (the poller fills it from each node's own
/// answers); a leader whose id is not known yet is reported as null.
pub fn status_to_contract(raw: &Value, index: usize, members: &[Option<u64>]) -> Option<Value> {
    let own = number(raw.get("header")?.get("member_id")?)?;
    let leader_id = raw.get("leader").and_then(number).unwrap_or(0);
    let leader = members.iter().position(|m| *m == Some(leader_id)).filter(|_| leader_id != 0);
    let term = raw.get("raftTerm").and_then(number).unwrap_or(0);
    let index_now = raw.get("raftIndex").and_then(number).unwrap_or(0);
    let applied = raw.get("raftAppliedIndex").and_then(number).unwrap_or(0);
    let role = if leader_id != 0 && leader_id == own { "leader" } else { "follower" };
    Some(json!({
        "id": index as u64 + 1,
        "role": role,
        "term": term,
        "leader": leader.map(|j| j as u64 + 1),
        "leader_addr": null,
        // etcd's status gives the raft index (last committed as this member knows it) and the applied
        // index; it has no separate last-log index.
        "commit": index_now,
        "applied": applied,
        "last_index": index_now,
        "snapshot_index": 0,
        "member_id": format!("{own:x}"),
    }))
}

/// The member id in a raw status body.
pub fn member_id(raw: &Value) -> Option<u64> {
    number(raw.get("header")?.get("member_id")?)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what protobuf's JSON mapping uses for bytes).
pub fn b64(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard (or URL-safe) base64, padding optional; None on any other character.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind) -> Op {
        Op { key: "k1".into(), kind, node: None }
    }

    fn ok(body: Value) -> Response {
        Response { status: 200, body: Some(body) }
    }

    const HEADER: &str = r#"{"cluster_id":"10209395086029371855","member_id":"13510015062231200447","revision":"2","raft_term":"2"}"#;

    fn header() -> Value {
        serde_json::from_str(HEADER).unwrap()
    }

    #[test]
    fn base64_round_trips_and_matches_known_encodings() {
        assert_eq!(b64("k1"), "azE=");
        assert_eq!(b64("5"), "NQ==");
        assert_eq!(b64("abc"), "YWJj");
        assert_eq!(b64(""), "");
        for s in ["", "a", "ab", "abc", "abcd", "héllo wörld"] {
            assert_eq!(unb64(&b64(s)).unwrap(), s.as_bytes());
        }
        assert_eq!(unb64("YWJj").unwrap(), b"abc");
        assert!(unb64("a b").is_none());
    }

    #[test]
    fn requests_follow_the_gateway_shape() {
        let plain = EtcdOptions::default();
        assert_eq!(
            gateway(&op(OpKind::Read), plain, false).unwrap(),
            ("/v3/kv/range", json!({"key": "azE="}))
        );
        let ser = EtcdOptions { serializable_reads: true, ..plain };
        assert_eq!(
            gateway(&op(OpKind::Read), ser, false).unwrap().1,
            json!({"key": "azE=", "serializable": true})
        );
        assert_eq!(
            gateway(&op(OpKind::Write("5".into())), plain, false).unwrap(),
            ("/v3/kv/put", json!({"key": "azE=", "value": "NQ=="}))
        );
        let (path, body) = gateway(&op(OpKind::Cas { from: None, to: "5".into() }), plain, false).unwrap();
        assert_eq!(path, "/v3/kv/txn");
        assert_eq!(body["compare"][0]["target"], "CREATE");
        assert_eq!(body["compare"][0]["create_revision"], "0");
        let (_, body) =
            gateway(&op(OpKind::Cas { from: Some("4".into()), to: "5".into() }), plain, false).unwrap();
        assert_eq!(body["compare"][0]["value"], b64("4"));
        assert_eq!(body["success"][0]["requestPut"]["value"], "NQ==");
        assert!(gateway(&op(OpKind::Append("x".into())), plain, true).is_err());
    }

    #[test]
    fn reads_decode_values_and_a_missing_kvs_is_not_found() {
        let read = op(OpKind::Read);
        let found = json!({"header": header(), "kvs": [{"key": "azE=", "create_revision": "2",
            "mod_revision": "2", "version": "1", "value": "NQ=="}], "count": "1"});
        assert_eq!(answer(&read, &Value::Null, ok(found)), Answer::Ok(json!("5")));
        assert_eq!(answer(&read, &Value::Null, ok(json!({"header": header()}))), Answer::Ok(Value::Null));
        // An empty value is omitted from the kv.
        let empty = json!({"header": header(), "kvs": [{"key": "azE=", "version": "1"}], "count": "1"});
        assert_eq!(answer(&read, &Value::Null, ok(empty)), Answer::Ok(json!("")));
        let junk = json!({"header": header(), "kvs": [{"value": "%%%"}]});
        assert!(matches!(answer(&read, &Value::Null, ok(junk)), Answer::NotApplied(_)));
    }

    #[test]
    fn cas_success_is_ok_and_an_omitted_succeeded_is_a_mismatch() {
        let cas = op(OpKind::Cas { from: Some("1".into()), to: "2".into() });
        let yes = json!({"header": header(), "succeeded": true, "responses": [{"response_put": {}}]});
        assert_eq!(answer(&cas, &Value::Null, ok(yes)), Answer::Ok(json!(["1", "2"])));
        let no = json!({"header": header(), "responses": [{"response_range": {"header": {}}}]});
        assert_eq!(answer(&cas, &Value::Null, ok(no)), Answer::NotApplied("cas mismatch".into()));
        let write = op(OpKind::Write("7".into()));
        assert_eq!(answer(&write, &Value::Null, ok(json!({"header": header()}))), Answer::Ok(json!("7")));
    }

    fn txn(mops: Vec<MicroOp>) -> Op {
        Op::txn(mops)
    }

    #[test]
    fn list_transactions_put_one_key_per_element_and_range_over_the_prefix() {
        let t = txn(vec![
            MicroOp::Read { key: "x".into() },
            MicroOp::Append { key: "x".into(), value: 7 },
            MicroOp::Append { key: "y".into(), value: 12 },
        ]);
        let (path, body) = gateway(&t, EtcdOptions::default(), true).unwrap();
        assert_eq!(path, "/v3/kv/txn");
        assert!(body.get("compare").is_none(), "no compare: every txn commits");
        let ops = body["success"].as_array().unwrap();
        assert_eq!(ops[0]["requestRange"], json!({"key": b64("x/"), "range_end": b64("x0")}));
        assert_eq!(ops[1]["requestPut"], json!({"key": b64("x/00000000000000000007"), "value": b64("7")}));
        assert_eq!(ops[2]["requestPut"]["key"], b64("y/00000000000000000012"));
        // The answer orders elements by create revision, then by key (one txn's appends share one).
        let kv =
            |k: &str, v: &str, rev: &str| json!({"key": b64(k), "value": b64(v), "create_revision": rev});
        let range = json!({"response_range": {"kvs": [
            kv("x/00000000000000000003", "3", "9"),
            kv("x/00000000000000000005", "5", "4"),
            kv("x/00000000000000000010", "10", "9"),
        ]}});
        let body = json!({"header": header(), "succeeded": true,
            "responses": [range, {"response_put": {}}, {"response_put": {}}]});
        assert_eq!(
            answer(&t, &json!([]), ok(body)),
            Answer::Ok(json!([["r", "x", [5, 3, 10]], ["append", "x", 7], ["append", "y", 12]]))
        );
        // A range with no kvs is the empty list.
        let body = json!({"header": header(), "succeeded": true,
            "responses": [{"response_range": {"header": {}}}, {"response_put": {}}, {"response_put": {}}]});
        assert_eq!(
            answer(&t, &json!([]), ok(body)),
            Answer::Ok(json!([["r", "x", []], ["append", "x", 7], ["append", "y", 12]]))
        );
    }

    #[test]
    fn register_transactions_put_each_key_once_and_read_their_own_writes_locally() {
        let t = txn(vec![
            MicroOp::Read { key: "x".into() },
            MicroOp::Write { key: "x".into(), value: 1 },
            MicroOp::Read { key: "x".into() },
            MicroOp::Write { key: "x".into(), value: 2 },
            MicroOp::Read { key: "y".into() },
        ]);
        let (planned, ops) = txn_plan(
            match &t.kind {
                OpKind::Txn(m) => m,
                _ => unreachable!(),
            },
            false,
        );
        assert_eq!(
            planned,
            [Planned::Range(0), Planned::Superseded, Planned::Own(1), Planned::Put, Planned::Range(2)]
        );
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[1]["requestPut"], json!({"key": b64("x"), "value": b64("2")}));
        let body = json!({"header": header(), "succeeded": true, "responses": [
            {"response_range": {"kvs": [{"key": b64("x"), "value": b64("9"), "create_revision": "2"}]}},
            {"response_put": {}},
            {"response_range": {}}
        ]});
        assert_eq!(
            answer(&t, &Value::Null, ok(body)),
            Answer::Ok(json!([["r", "x", 9], ["w", "x", 1], ["r", "x", 1], ["w", "x", 2], ["r", "y", null]]))
        );
        // A read-only transaction is a read: any doubt about it is a failure.
        let ro = txn(vec![MicroOp::Read { key: "x".into() }]);
        let timeout = Response {
            status: 503,
            body: Some(json!({"code": 14, "message": "etcdserver: request timed out"})),
        };
        assert!(matches!(answer(&ro, &Value::Null, timeout.clone()), Answer::NotApplied(_)));
        assert!(matches!(answer(&t, &Value::Null, timeout), Answer::Unknown(_)));
        // With serializable reads, a read-only transaction's ranges are serializable.
        let ser = EtcdOptions { serializable_reads: true, ..EtcdOptions::default() };
        assert_eq!(gateway(&ro, ser, false).unwrap().1["success"][0]["requestRange"]["serializable"], true);
        assert!(
            gateway(&t, ser, false).unwrap().1["success"][0]["requestRange"].get("serializable").is_none()
        );
    }

    #[test]
    fn gateway_errors_fail_only_when_nothing_was_proposed() {
        let write = op(OpKind::Write("7".into()));
        let err = |code: u64, message: &str| Response {
            status: 503,
            body: Some(json!({"error": message, "code": code, "message": message})),
        };
        assert!(matches!(
            answer(&write, &Value::Null, err(14, "etcdserver: request timed out")),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            answer(&write, &Value::Null, err(14, "etcdserver: leader changed")),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            answer(&write, &Value::Null, err(2, "raft proposal dropped")),
            Answer::NotApplied(_)
        ));
        assert!(matches!(answer(&write, &Value::Null, err(3, "bad json")), Answer::NotApplied(_)));
        // The code may arrive as a string too.
        let r = Response { status: 400, body: Some(json!({"code": "3", "message": "x"})) };
        assert!(matches!(answer(&write, &Value::Null, r), Answer::NotApplied(_)));
        // Any error on a read is a failed read.
        let read = op(OpKind::Read);
        assert!(matches!(
            answer(&read, &Value::Null, err(14, "etcdserver: request timed out")),
            Answer::NotApplied(_)
        ));
        // Not JSON, or JSON without an etcd header: unknown for writes.
        assert!(matches!(
            answer(&write, &Value::Null, Response { status: 502, body: None }),
            Answer::Unknown(_)
        ));
        assert!(matches!(answer(&write, &Value::Null, ok(json!({}))), Answer::Unknown(_)));
    }

    #[test]
    fn status_maps_member_ids_to_nodes() {
        let raw = json!({"header": {"cluster_id": "1", "member_id": "300", "revision": "4", "raft_term": "2"},
            "version": "3.4.23", "dbSize": "20480", "leader": "200", "raftIndex": "8", "raftTerm": "2",
            "raftAppliedIndex": "7"});
        let members = [Some(100), Some(200), Some(300)];
        let s = status_to_contract(&raw, 2, &members).unwrap();
        assert_eq!(s["id"], 3);
        assert_eq!(s["role"], "follower");
        assert_eq!(s["leader"], 2);
        assert_eq!(s["term"], 2);
        assert_eq!(s["commit"], 8);
        assert_eq!(s["applied"], 7);
        let mut lead = raw.clone();
        lead["leader"] = json!("300");
        assert_eq!(status_to_contract(&lead, 2, &members).unwrap()["role"], "leader");
        // No leader (omitted as zero) and a leader whose id is not learned yet are both null.
        let mut none = raw.clone();
        none.as_object_mut().unwrap().remove("leader");
        assert_eq!(status_to_contract(&none, 2, &members).unwrap()["leader"], Value::Null);
        assert_eq!(status_to_contract(&raw, 2, &[None, None, Some(300)]).unwrap()["leader"], Value::Null);
        assert!(status_to_contract(&json!({"error": "x"}), 0, &members).is_none());
    }

    #[test]
    fn panics_and_fatal_logs_are_recognised() {
        assert!(is_panic_line("panic: runtime error: index out of range"));
        assert!(is_panic_line("fatal error: concurrent map writes"));
        assert!(is_panic_line(r#"{"level":"fatal","ts":"x","msg":"failed to recover"}"#));
        assert!(!is_panic_line(r#"{"level":"warn","msg":"panic-free"}"#));
    }

    #[test]
    fn every_member_gets_the_same_initial_cluster() {
        let spec = |i: usize| NodeSpec {
            index: i,
            name: format!("n{}", i + 1),
            id: i as u64 + 1,
            listen_peer: format!("10.1.2.{}:7000", 11 + i).parse().unwrap(),
            advertise_peer: None,
            listen_client: format!("10.1.2.{}:8000", 11 + i).parse().unwrap(),
            peer_addrs: Vec::new(),
            peers_arg: String::new(),
            client_addrs_arg: String::new(),
            dir: format!("/s/nodes/n{}", i + 1).into(),
            netns: None,
        };
        let all = [spec(0), spec(1)];
        let opts = EtcdOptions { pre_vote: true, ..EtcdOptions::default() };
        let a = argv("/usr/bin/etcd", &all[1], &all, opts, "tok").join(" ");
        assert!(a.starts_with("/usr/bin/etcd --name n2 --data-dir /s/nodes/n2/data"));
        assert!(a.contains("--initial-cluster n1=http://10.1.2.11:7000,n2=http://10.1.2.12:7000 "));
        assert!(a.contains("--initial-advertise-peer-urls http://10.1.2.12:7000"));
        assert!(a.contains("--advertise-client-urls http://10.1.2.12:8000"));
        assert!(a.contains("--initial-cluster-token tok"));
        assert!(a.ends_with("--pre-vote"));
        // Behind a relay (loopback): listen on the own port, advertise the relay everywhere.
        let mut relayed = [spec(0), spec(1)];
        relayed[1].advertise_peer = Some("127.0.0.1:9999".parse().unwrap());
        let a = argv("/usr/bin/etcd", &relayed[1], &relayed, opts, "tok").join(" ");
        assert!(a.contains("--listen-peer-urls http://10.1.2.12:7000 "));
        assert!(a.contains("--initial-advertise-peer-urls http://127.0.0.1:9999 "));
        assert!(a.contains("n2=http://127.0.0.1:9999"));
    }
}
