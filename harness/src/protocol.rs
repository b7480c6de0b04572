//! What goes over the wire between a client and a node, in neutral terms: a [`Request`] a system's
//! protocol module builds, the [`Response`] that came back, and the [`Answer`] that module reads out
//! of it. [`crate::client`] sends requests and alone turns answers (or transport failures) into
//! outcomes; [`crate::raftnode`] and [`crate::etcd`] only translate. A leaf module, so the system
//! modules and the client do not depend on each other.

use serde_json::Value;

/// One HTTP request to a node: method, path below the node's base URL, and a JSON body if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Below the node's base URL, starting with `/`.
    pub path: String,
    pub body: Option<Value>,
}

/// The HTTP methods the system protocols use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Request {
    pub fn get(path: String) -> Request {
        Request { method: Method::Get, path, body: None }
    }

    pub fn post(path: String, body: Value) -> Request {
        Request { method: Method::Post, path, body: Some(body) }
    }

    pub fn put(path: String, body: Value) -> Request {
        Request { method: Method::Put, path, body: Some(body) }
    }
}

/// What came back from the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    /// The JSON body, None if it was not JSON.
    pub body: Option<Value>,
}

/// What a server's answer says about an operation, in the system's own terms already read: each
/// system's protocol module turns a [`Response`] into one of these, and
/// [`crate::client::classify`] alone decides the outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Acknowledged; the completion's value.
    Ok(Value),
    /// The server proved the operation had no effect (or, for a read, it simply did not happen).
    NotApplied(String),
    /// The effect is unknown.
    Unknown(String),
}
