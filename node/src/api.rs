//! The HTTP/JSON client API (axum) and the requests it hands to the server task.
//!
//! Handlers validate strictly and early: a request that is not well-formed never reaches the log.
//! Bodies are read with an explicit size limit (413), must be `application/json` (415), must parse
//! (400, with line and column) and must match the route's schema exactly: missing fields, unknown fields
//! and wrong types are 422 with serde's message naming the field. Every error is the JSON body
//! `{"error": CODE, "message": "...", "leader": "ip:port" | null}` so a client can act on it:
//!
//! | code | status | meaning for the client |
//! |---|---|---|
//! | `not_leader` | 421 | never entered the log; retry at `leader` |
//! | `not_applied` | 503 | entered the log but another entry committed at its index |
//! | `timeout` | 504 | may or may not have applied |
//! | `unavailable` | 503 | shutting down or overloaded; may or may not have applied |
//! | `bad_request` | 400/404/405/413/415/422 | rejected before the log |
//! | `stale_session` | 409 | the session already moved past this `seq`; the first outcome is gone |
//! | `not_found` | 404 | (reads) the key has no value |
//!
//! `POST /txn` takes a transaction, `{"ops": [{"f": "append", "key": "x", "value": "1"}, {"f": "r",
//! "key": "y"}, {"f": "w", "key": "z", "value": "2"}], "client_id"?, "seq"?}`: micro-operations over any
//! keys, applied atomically through the log like any write (see [`crate::kv`]). Its answer is
//! `{"results": [null, ["3", "4"], null], "index": I, "term": T}`, one result per micro-operation:
//! what each read saw (a string, a list, or null for a key without a value), null for a write. Its
//! errors are the writes' errors.
//!
//! A handler sends one [`Request`] to the server task through a bounded channel and waits for the
//! reply on a oneshot, all within the request timeout.

use crate::kv::{Command, Op, Outcome, TxnMop, Value};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Longest accepted key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// An answer that is not a success, in the client API's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    NotLeader { leader: Option<String>, message: String },
    NotApplied { message: String },
    Timeout { message: String },
    Unavailable { message: String },
    BadRequest { status: StatusCode, message: String },
    StaleSession { message: String },
    NotFound { stale: bool },
}

impl ApiError {
    fn bad(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, leader) = match self {
            ApiError::NotLeader { leader, message } => {
                (StatusCode::MISDIRECTED_REQUEST, "not_leader", message, leader)
            }
            ApiError::NotApplied { message } => {
                (StatusCode::SERVICE_UNAVAILABLE, "not_applied", message, None)
            }
            ApiError::Timeout { message } => (StatusCode::GATEWAY_TIMEOUT, "timeout", message, None),
            ApiError::Unavailable { message } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
            }
            ApiError::BadRequest { status, message } => (status, "bad_request", message, None),
            ApiError::StaleSession { message } => (StatusCode::CONFLICT, "stale_session", message, None),
            ApiError::NotFound { stale } => {
                let mut body =
                    json!({"error": "not_found", "message": "the key has no value", "leader": null});
                if stale {
                    body["stale"] = json!(true);
                }
                return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
            }
        };
        (status, axum::Json(json!({"error": code, "message": message, "leader": leader}))).into_response()
    }
}

/// The result of a read the server task served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadReply {
    pub value: Option<Value>,
    pub stale: bool,
}

/// The body of `GET /status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBody {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub leader_addr: Option<String>,
    pub commit: u64,
    pub applied: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
}

/// One committed entry in `GET /debug/log`; `command` is null for a leader's noop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebugEntry {
    pub index: u64,
    pub term: u64,
    pub command: serde_json::Value,
}

/// The body of `GET /debug/log`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebugLogBody {
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    pub entries: Vec<DebugEntry>,
}

/// What a handler asks of the server task.
#[derive(Debug)]
pub enum Request {
    Write { cmd: Command, reply: oneshot::Sender<Result<Outcome, ApiError>> },
    Read { key: String, stale: bool, reply: oneshot::Sender<Result<ReadReply, ApiError>> },
    Status { reply: oneshot::Sender<StatusBody> },
    DebugLog { from: u64, reply: oneshot::Sender<DebugLogBody> },
}

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub requests: mpsc::Sender<Request>,
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

impl ApiState {
    /// Sends a request built around a fresh oneshot and waits for the reply within the timeout.
    async fn ask<T>(&self, build: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let req = build(tx);
        let res = tokio::time::timeout(self.timeout, async {
            self.requests
                .send(req)
                .await
                .map_err(|_| ApiError::Unavailable { message: "the server is shutting down".into() })?;
            rx.await.map_err(|_| ApiError::Unavailable {
                message: "the server stopped before answering; the request may or may not have applied"
                    .into(),
            })
        })
        .await;
        match res {
            Ok(r) => r,
            Err(_) => Err(ApiError::Timeout {
                message: format!(
                    "no outcome within {:?}; the request may or may not have applied",
                    self.timeout
                ),
            }),
        }
    }
}

/// The router of the client API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/kv/{key}", get(get_kv).put(write_kv::<PutBody>).delete(write_kv::<DeleteBody>))
        .route("/kv/{key}/cas", post(write_kv::<CasBody>))
        .route("/kv/{key}/append", post(write_kv::<AppendBody>))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .route("/debug/log", get(debug_log))
        .fallback(no_route)
        .method_not_allowed_fallback(bad_method)
        .with_state(state)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::bad(StatusCode::NOT_FOUND, format!("no route {method} {}", uri.path()))
}

async fn bad_method(method: Method, uri: Uri) -> ApiError {
    ApiError::bad(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not accept {method}", uri.path()))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad(StatusCode::BAD_REQUEST, "the key is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad(
            StatusCode::BAD_REQUEST,
            format!("the key is {} bytes long; the limit is {MAX_KEY_BYTES}", key.len()),
        ));
    }
    Ok(())
}

/// Parses `a=b&c=d` allowing only the named parameters, each at most once.
fn parse_query<'a>(raw: &'a Option<String>, allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for pair in raw.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&k) {
            return Err(ApiError::bad(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter {k:?}; allowed: {}", allowed.join(", ")),
            ));
        }
        if out.iter().any(|(o, _)| *o == k) {
            return Err(ApiError::bad(StatusCode::BAD_REQUEST, format!("query parameter {k:?} given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Reads and parses a JSON body; an empty body stands for `B::empty()` where the route allows one.
async fn json_body<B: WriteBody>(state: &ApiState, headers: &HeaderMap, body: Body) -> Result<B, ApiError> {
    let bytes = axum::body::to_bytes(body, state.max_body_bytes).await.map_err(|_| {
        ApiError::bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body exceeds the limit of {} bytes (or could not be read)",
                state.max_body_bytes
            ),
        )
    })?;
    if bytes.is_empty()
        && let Some(empty) = B::empty()
    {
        return Ok(empty);
    }
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::bad(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be sent with Content-Type: application/json (got {ctype:?})"),
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}"))
            }
            Category::Data => ApiError::bad(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid body: {e}")),
        }
    })
}

/// Distinguishes a field that is absent (outer None) from one that is null (Some(None)).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of one write route: its schema, and the operation it asks for. One generic handler,
/// [`write_kv`], serves every write route, so validation and error mapping cannot drift apart.
trait WriteBody: for<'de> Deserialize<'de> + Send + 'static {
    /// What an empty body means, on routes where the body is optional.
    fn empty() -> Option<Self> {
        None
    }
    /// The operation, and the session (`client_id`, `seq`) if one was given.
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    value: String,
    client_id: Option<String>,
    seq: Option<u64>,
}

impl WriteBody for PutBody {
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError> {
        Ok((Op::Put { value: self.value }, self.client_id, self.seq))
    }
}

/// Same schema as a put; the value is appended to the key's list.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct AppendBody(PutBody);

impl WriteBody for AppendBody {
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError> {
        let PutBody { value, client_id, seq } = self.0;
        Ok((Op::Append { value }, client_id, seq))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasBody {
    #[serde(default, deserialize_with = "present")]
    from: Option<Option<String>>,
    to: String,
    client_id: Option<String>,
    seq: Option<u64>,
}

impl WriteBody for CasBody {
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError> {
        let from = self.from.ok_or_else(|| {
            ApiError::bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid body: missing field `from` (null means absent)",
            )
        })?;
        Ok((Op::Cas { from, to: self.to }, self.client_id, self.seq))
    }
}

/// A delete: the body is optional and carries only the session.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    client_id: Option<String>,
    seq: Option<u64>,
}

impl WriteBody for DeleteBody {
    fn empty() -> Option<Self> {
        Some(DeleteBody::default())
    }
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError> {
        Ok((Op::Delete, self.client_id, self.seq))
    }
}

fn command(key: String, op: Op, client_id: Option<String>, seq: Option<u64>) -> Result<Command, ApiError> {
    check_key(&key)?;
    session(&client_id, seq)?;
    Ok(Command { op, key, client_id, seq })
}

/// A session is a non-empty `client_id` with a `seq`, or neither.
fn session(client_id: &Option<String>, seq: Option<u64>) -> Result<(), ApiError> {
    match (client_id, seq) {
        (Some(c), Some(_)) if c.is_empty() => {
            Err(ApiError::bad(StatusCode::UNPROCESSABLE_ENTITY, "invalid body: `client_id` is empty"))
        }
        (Some(_), Some(_)) | (None, None) => Ok(()),
        _ => Err(ApiError::bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid body: `client_id` and `seq` must be given together (a session) or not at all",
        )),
    }
}

/// The body of `POST /txn`: the micro-operations in order, and an optional session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxnBody {
    ops: Vec<TxnMop>,
    client_id: Option<String>,
    seq: Option<u64>,
}

/// Most micro-operations in one transaction.
pub const MAX_TXN_OPS: usize = 256;

impl WriteBody for TxnBody {
    fn into_op(self) -> Result<(Op, Option<String>, Option<u64>), ApiError> {
        if self.ops.is_empty() {
            return Err(ApiError::bad(StatusCode::UNPROCESSABLE_ENTITY, "invalid body: `ops` is empty"));
        }
        if self.ops.len() > MAX_TXN_OPS {
            return Err(ApiError::bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid body: {} micro-operations; the limit is {MAX_TXN_OPS}", self.ops.len()),
            ));
        }
        for (i, m) in self.ops.iter().enumerate() {
            check_key(m.key()).map_err(|e| match e {
                ApiError::BadRequest { status, message } => {
                    ApiError::BadRequest { status, message: format!("micro-operation {i}: {message}") }
                }
                other => other,
            })?;
        }
        Ok((Op::Txn { ops: self.ops }, self.client_id, self.seq))
    }
}

/// Every write route: parse and validate the body, hand the command to the server task, answer.
async fn write_kv<B: WriteBody>(
    State(s): State<ApiState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let parsed = async {
        let (op, client_id, seq) = json_body::<B>(&s, &headers, body).await?.into_op()?;
        command(key, op, client_id, seq)
    };
    match parsed.await {
        Ok(cmd) => answer_write(&s, cmd).await,
        Err(e) => e.into_response(),
    }
}

/// `POST /txn`: a transaction through the log, like any write; its answer carries what each
/// micro-operation read.
async fn txn(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    let parsed = async {
        let (op, client_id, seq) = json_body::<TxnBody>(&s, &headers, body).await?.into_op()?;
        session(&client_id, seq)?;
        Ok::<_, ApiError>(Command { op, key: String::new(), client_id, seq })
    };
    match parsed.await {
        Ok(cmd) => answer_write(&s, cmd).await,
        Err(e) => e.into_response(),
    }
}

/// Hands a write to the server task and answers with its outcome.
async fn answer_write(s: &ApiState, cmd: Command) -> Response {
    match s.ask(|reply| Request::Write { cmd, reply }).await.and_then(|r| r) {
        Ok(Outcome::Written { index, term }) => {
            axum::Json(json!({"index": index, "term": term})).into_response()
        }
        Ok(Outcome::Cas { applied, value, index, term }) => {
            axum::Json(json!({"applied": applied, "value": value, "index": index, "term": term}))
                .into_response()
        }
        Ok(Outcome::Txn { results, index, term }) => {
            axum::Json(json!({"results": results, "index": index, "term": term})).into_response()
        }
        Ok(Outcome::StaleSession { last_seq }) => ApiError::StaleSession {
            message: format!(
                "this session already applied seq {last_seq}; the outcome of an older seq is no longer known"
            ),
        }
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn get_kv(State(s): State<ApiState>, Path(key): Path<String>, RawQuery(q): RawQuery) -> Response {
    let res = async {
        check_key(&key)?;
        let mut stale = false;
        for (k, v) in parse_query(&q, &["stale"])? {
            debug_assert_eq!(k, "stale");
            stale = match v {
                "true" => true,
                "false" => false,
                other => {
                    return Err(ApiError::bad(
                        StatusCode::BAD_REQUEST,
                        format!("query parameter stale must be true or false (got {other:?})"),
                    ));
                }
            };
        }
        s.ask(|reply| Request::Read { key, stale, reply }).await.and_then(|r| r)
    };
    match res.await {
        Ok(ReadReply { value: Some(v), stale: true }) => {
            axum::Json(json!({"value": v, "stale": true})).into_response()
        }
        Ok(ReadReply { value: Some(v), stale: false }) => axum::Json(json!({"value": v})).into_response(),
        Ok(ReadReply { value: None, stale }) => ApiError::NotFound { stale }.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn status(State(s): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    let res = async {
        parse_query(&q, &[])?;
        s.ask(|reply| Request::Status { reply }).await
    };
    match res.await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn debug_log(State(s): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    let res = async {
        let mut from = 0;
        for (_, v) in parse_query(&q, &["from"])? {
            from = v.parse::<u64>().map_err(|_| {
                ApiError::bad(
                    StatusCode::BAD_REQUEST,
                    format!("query parameter from must be a log index (got {v:?})"),
                )
            })?;
        }
        s.ask(|reply| Request::DebugLog { from, reply }).await
    };
    match res.await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;
    use tower_like::oneshot_call;

    /// A tiny driver: the router answers one request with a fake server task behind the channel.
    mod tower_like {
        use axum::Router;
        use axum::body::Body;
        use axum::http::Request;

        pub async fn oneshot_call(router: Router, req: Request<Body>) -> (u16, serde_json::Value) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move { axum::serve(listener, router).await });
            let client = reqwest::Client::new();
            let mut rb = client.request(req.method().clone(), format!("http://{addr}{}", req.uri()));
            for (k, v) in req.headers() {
                rb = rb.header(k, v);
            }
            let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
            let resp = rb.body(body.to_vec()).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            server.abort();
            (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
        }
    }

    /// A fake server task: answers writes with index 7 term 2 and reads with "v".
    fn app(timeout_ms: u64) -> Router {
        let (tx, mut rx) = mpsc::channel(8);
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Write { cmd, reply } => {
                        let out = match cmd.op {
                            Op::Cas { .. } => Outcome::Cas {
                                applied: true,
                                value: Some(Value::Str("b".into())),
                                index: 7,
                                term: 2,
                            },
                            _ => Outcome::Written { index: 7, term: 2 },
                        };
                        if cmd.key == "hang" {
                            std::mem::forget(reply);
                        } else {
                            let _ = reply.send(Ok(out));
                        }
                    }
                    Request::Read { key, stale, reply } => {
                        let value = (key != "missing").then(|| Value::Str("v".into()));
                        let _ = reply.send(Ok(ReadReply { value, stale }));
                    }
                    Request::Status { .. } | Request::DebugLog { .. } => {}
                }
            }
        });
        router(ApiState { requests: tx, timeout: Duration::from_millis(timeout_ms), max_body_bytes: 128 })
    }

    fn req(method: &str, uri: &str, body: Option<&str>) -> HttpRequest<Body> {
        let b = HttpRequest::builder().method(method).uri(uri);
        match body {
            Some(s) => b.header("content-type", "application/json").body(Body::from(s.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        }
    }

    async fn call(method: &str, uri: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        oneshot_call(app(2000), req(method, uri, body)).await
    }

    #[tokio::test]
    async fn well_formed_requests_get_the_contract_bodies() {
        assert_eq!(call("PUT", "/kv/a", Some(r#"{"value":"1"}"#)).await, (200, json!({"index":7,"term":2})));
        assert_eq!(
            call("POST", "/kv/a/cas", Some(r#"{"from":null,"to":"b","client_id":"c","seq":1}"#)).await,
            (200, json!({"applied":true,"value":"b","index":7,"term":2}))
        );
        assert_eq!(call("POST", "/kv/a/append", Some(r#"{"value":"x"}"#)).await.0, 200);
        assert_eq!(call("DELETE", "/kv/a", None).await.0, 200);
        assert_eq!(call("DELETE", "/kv/a", Some(r#"{"client_id":"c","seq":2}"#)).await.0, 200);
        assert_eq!(call("GET", "/kv/a", None).await, (200, json!({"value":"v"})));
        assert_eq!(call("GET", "/kv/a?stale=true", None).await, (200, json!({"value":"v","stale":true})));
        let (status, body) = call("GET", "/kv/missing", None).await;
        assert_eq!((status, &body["error"]), (404, &json!("not_found")));
    }

    #[tokio::test]
    async fn bad_requests_get_4xx_with_a_message_naming_the_problem() {
        let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
            ("PUT", "/kv/a", Some("{\"value\":"), 400, "malformed JSON"),
            ("PUT", "/kv/a", Some("{}"), 422, "missing field `value`"),
            ("PUT", "/kv/a", Some(r#"{"value":"1","extra":2}"#), 422, "unknown field `extra`"),
            ("PUT", "/kv/a", Some(r#"{"value":1}"#), 422, "invalid type"),
            ("PUT", "/kv/a", Some(r#"{"value":"1","client_id":"c"}"#), 422, "together"),
            ("POST", "/kv/a/cas", Some(r#"{"to":"b"}"#), 422, "missing field `from`"),
            ("PUT", "/kv/a", Some(&"x".repeat(500)), 413, "exceeds the limit of 128"),
            ("GET", "/kv/a?stale=maybe", None, 400, "true or false"),
            ("GET", "/kv/a?fresh=1", None, 400, "unknown query parameter"),
            ("GET", "/debug/log?from=x", None, 400, "log index"),
            ("GET", "/nope", None, 404, "no route GET /nope"),
            ("PATCH", "/kv/a", None, 405, "does not accept PATCH"),
        ];
        for (method, uri, body, status, needle) in cases {
            let (got, json) = call(method, uri, *body).await;
            assert_eq!(got, *status, "{method} {uri} {body:?}: {json}");
            assert_eq!(json["error"], "bad_request", "{json}");
            let msg = json["message"].as_str().unwrap();
            assert!(msg.contains(needle), "{method} {uri}: {msg:?} lacks {needle:?}");
        }
        let long_key = format!("/kv/{}", "k".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(call("GET", &long_key, None).await.0, 400);
        // A body without a JSON content type is 415.
        let r =
            HttpRequest::builder().method("PUT").uri("/kv/a").body(Body::from(r#"{"value":"1"}"#)).unwrap();
        let (status, json) = oneshot_call(app(2000), r).await;
        assert_eq!((status, json["error"].as_str()), (415, Some("bad_request")));
    }

    #[tokio::test]
    async fn a_request_without_an_outcome_times_out_with_504() {
        let (status, json) = oneshot_call(app(100), req("PUT", "/kv/hang", Some(r#"{"value":"1"}"#))).await;
        assert_eq!((status, json["error"].as_str()), (504, Some("timeout")));
    }
}
