//! What a run report is drawn from: the input types of [`crate::render_run`].
//!
//! Everything here derives `Serialize` and `Deserialize` so the harness can build a [`RunReport`] from
//! the files of a run directory (`test.json`, `history.jsonl`, `status.jsonl`, `results.json`, node
//! logs) and so tests can keep fixtures as JSON. The crate itself never touches the file system: the
//! harness reads, this crate draws.

use checker::history::Event;
use serde::{Deserialize, Serialize};

/// Everything one run report shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// What was tested and how to run it again.
    pub meta: RunMeta,
    /// The recorded history, in the order it was observed (`history.jsonl`, client and nemesis events).
    pub history: Vec<Event>,
    /// `/status` polls of every node during the run (`status.jsonl`), in any order.
    #[serde(default)]
    pub status: Vec<StatusSample>,
    /// Excerpts of node logs (see [`crate::logs::excerpt`] to cut them), shown near the first violation.
    #[serde(default)]
    pub logs: Vec<LogExcerpt>,
    /// The checkers' verdicts and explanations.
    #[serde(default)]
    pub results: crate::results::Results,
    /// The smallest fault schedule found to reproduce this run's failure (`faultline explore`
    /// shrinks the schedules of the failures it finds), when there is one.
    #[serde(default)]
    pub shrunk: Option<ShrunkSchedule>,
}

/// A failing run's fault schedule shrunk to the fewest faults that still reproduce the failure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShrunkSchedule {
    /// Faults (heals not counted) in the original schedule and in the shrunk one.
    pub original_faults: usize,
    pub faults: usize,
    /// Replays of the shrunk schedule that reproduced the failure, out of `replays`.
    pub reproduced: usize,
    pub replays: usize,
    /// One line per step: when it is planned and what it does.
    pub steps: Vec<String>,
    /// A replay of the shrunk schedule (a stored run that reproduced it), if any.
    #[serde(default)]
    pub example: Option<String>,
}

/// What was tested: the header of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The test's name (the store directory name), e.g. `raft-register`.
    pub test_name: String,
    /// The system under test, e.g. `raft-node` or `etcd`.
    pub system: String,
    /// Node names in order, e.g. `["n1", "n2", "n3"]`.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// The workload, e.g. `register` or `append`.
    pub workload: String,
    /// The nemeses of the fault schedule, e.g. `["partition", "kill"]`; empty for a run without faults.
    #[serde(default)]
    pub nemeses: Vec<String>,
    /// How long the run took, in nanoseconds (the time axis spans at least this long).
    #[serde(default)]
    pub duration_ns: u64,
    /// The run's seed.
    pub seed: u64,
    /// The exact shell command that reproduces the run, shown with a copy button.
    pub reproduce: String,
    /// When the run started, as the harness formats it (RFC 3339 recommended); shown verbatim.
    #[serde(default)]
    pub started_at: String,
    /// Planted bugs the nodes ran with (`--bug` flags), shown in the header; usually empty.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// Client processes running at once, when known (0 = unknown).
    #[serde(default)]
    pub concurrency: u32,
}

/// One `/status` poll of one node: a line of `status.jsonl`.
///
/// `status` is absent (or null) when the poll failed; `error` then says why (node killed, paused, not
/// reachable), and the report draws that node as down for the time until its next good sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusSample {
    /// Nanoseconds since the start of the run, on the history's clock.
    pub time: u64,
    /// The node polled, e.g. `n1`.
    pub node: String,
    #[serde(default)]
    pub status: Option<NodeStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The part of raft-node's `GET /status` body the report draws; unknown fields are ignored, so other
/// systems can send what they have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `leader`, `follower`, `candidate`, `pre_candidate` or anything else (drawn as "other").
    pub role: String,
    pub term: u64,
    /// The node id of the leader this node believes in.
    #[serde(default)]
    pub leader: Option<u64>,
    #[serde(default)]
    pub commit: u64,
}

/// A few lines of one node's log, with where the whole file is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogExcerpt {
    /// The node, e.g. `n3`.
    pub node: String,
    /// Path of the full log relative to the report file, e.g. `nodes/n3/stderr.log`; used as a link.
    pub path: String,
    /// 1-based line number of the first line in `lines`.
    pub first_line: u64,
    pub lines: Vec<String>,
    /// Why these lines were picked, e.g. `around 12.301 s, the first violation`.
    #[serde(default)]
    pub note: String,
}

/// A line of `status.jsonl` that is not a [`StatusSample`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{source_name}:{line}: bad status sample: {problem}; expected {{\"time\": ns, \"node\": \"n1\", \"status\": {{/status body}} or null, \"error\"?: text}}"
)]
pub struct StatusLineError {
    /// The file the text came from, as the caller named it.
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What serde said was wrong (names the field).
    pub problem: String,
}

/// Parses the text of `status.jsonl` (one [`StatusSample`] per line; blank lines are skipped). A bad
/// line is an error naming the file and line, never silently dropped; a final line cut short by a
/// crash (no trailing newline and not valid JSON) is ignored, since the harness may die mid-write.
pub fn parse_status_lines(text: &str, source_name: &str) -> Result<Vec<StatusSample>, StatusLineError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<StatusSample>(line) {
            Ok(s) => out.push(s),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(StatusLineError {
                    source_name: source_name.to_owned(),
                    line: i + 1,
                    problem: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_bad_lines_name_file_and_line() {
        let text = "{\"time\":5,\"node\":\"n1\",\"status\":{\"id\":1,\"role\":\"leader\",\"term\":3,\"leader\":1,\"commit\":10}}\n\
                    {\"time\":6,\"node\":\"n2\",\"status\":null,\"error\":\"connection refused\"}\n";
        let samples = parse_status_lines(text, "status.jsonl").unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].status.as_ref().map(|s| (s.role.as_str(), s.term)), Some(("leader", 3)));
        assert_eq!(samples[1].error.as_deref(), Some("connection refused"));

        let bad = "{\"time\":5,\"node\":\"n1\"}\n{\"time\":\"x\",\"node\":\"n1\"}\n";
        let err = parse_status_lines(bad, "run/status.jsonl").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("run/status.jsonl:2: bad status sample: invalid type"), "{err}");

        // A torn last line (the harness died mid-write) is not an error.
        let torn = "{\"time\":5,\"node\":\"n1\"}\n{\"time\":6,\"no";
        assert_eq!(parse_status_lines(torn, "s").unwrap().len(), 1);
    }
}
