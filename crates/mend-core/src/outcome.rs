//! The structured outcome every tool call returns.
//!
//! A tool that ran and failed returns an [`Outcome`] with a status and an
//! error code: a failure is data, not a Rust `Err`. The JSON form is flat, as
//! in the design: `{"status":"error","code":"CONNECTION_REFUSED",
//! "message":"…","retryable":true,"recoverable":true,"severity":"warning",
//! "hints":{"retry_after_ms":2000},"output":…,"duration_ms":12}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::code::ErrorCode;

/// How a call ended, decided by the tool layer, never by parsing prose later.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The call did what was asked.
    Success,
    /// The call ran and failed; `error` says how.
    Error,
    /// The call did not finish within its time limit.
    Timeout,
    /// The call was not run: a policy or a person refused it.
    Blocked,
    /// Part of the work was done (a chunk of a file, a page of results).
    Partial,
}

impl Status {
    /// Whether this status ends a step without healing.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Success | Status::Partial)
    }

    /// The lowercase name used in JSON and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Blocked => "blocked",
            Status::Partial => "partial",
        }
    }
}

/// How urgent a failure is.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Can wait; usually heals by itself.
    Warning,
    /// Needs attention if healing fails.
    Error,
    /// A person must look.
    Critical,
}

/// The error half of a failed outcome.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolError {
    /// Stable machine code (SCREAMING_SNAKE) that lessons and dashboards key on.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub code: ErrorCode,
    /// What happened, for a person.
    pub message: String,
    /// The same call may work later.
    pub retryable: bool,
    /// Some other call (changed arguments, an alternative) may work.
    pub recoverable: bool,
    /// How urgent it is.
    pub severity: Severity,
    /// Facts a fix needs: `retry_after_ms`, `http_status`, `exit_code`,
    /// `size`, `limit`, `path`, `missing`, … Open-ended on purpose: a tool may
    /// add what its own repairs need without a schema change.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub hints: Map<String, Value>,
}

impl ToolError {
    /// An error with the code's default classification.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let info = code.info();
        ToolError {
            code,
            message: message.into(),
            retryable: info.retryable,
            recoverable: info.recoverable,
            severity: info.severity,
            hints: Map::new(),
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.hints.insert(key.to_owned(), value.into());
        self
    }

    /// The server's or tool's requested wait before a retry, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.hints.get("retry_after_ms").and_then(Value::as_u64)
    }
}

/// Whether a failed call may have done its work anyway (issue 14): it
/// timed out, its connection dropped before a complete answer, or its
/// process was killed part-way (`TIMEOUT`, `CONNECTION_RESET`,
/// `KILLED_BY_SIGNAL`) — unless the tool knows the request never left
/// (hint `sent: false`, e.g. a reset during the TCP or TLS handshake, a
/// 408) — or the tool says so of any failure (hint `in_doubt: true`: an
/// answer that could not be read after the request was sent, a 500, 502
/// or 504, a failure on a redirect's hop).
pub fn fate_unknown(e: &ToolError) -> bool {
    if e.hints.get("in_doubt").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    matches!(e.code.as_str(), "TIMEOUT" | "CONNECTION_RESET" | "KILLED_BY_SIGNAL")
        && e.hints.get("sent").and_then(Value::as_bool) != Some(false)
}

/// The result of one tool call.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "OutcomeShape"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How the call ended.
    pub status: Status,
    /// Present unless the status is success (a partial may carry one too).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolError>,
    /// What the tool produced (stdout, response body, file content, …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub output: Value,
    /// Wall time of the call, ms.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub duration_ms: u64,
}

/// [`Outcome`]'s JSON shape, for the UI's types (ts-rs cannot flatten an
/// optional struct): the error's fields are present on a failure.
#[cfg(feature = "ts")]
#[derive(ts_rs::TS)]
#[allow(dead_code)]
#[doc(hidden)]
pub struct OutcomeShape {
    status: Status,
    #[ts(optional)]
    #[ts(type = "string")]
    code: Option<String>,
    #[ts(optional)]
    message: Option<String>,
    #[ts(optional)]
    retryable: Option<bool>,
    #[ts(optional)]
    recoverable: Option<bool>,
    #[ts(optional)]
    severity: Option<Severity>,
    #[ts(optional)]
    #[ts(type = "Record<string, unknown>")]
    hints: Option<()>,
    #[ts(optional)]
    #[ts(type = "unknown")]
    output: Option<()>,
    #[ts(type = "number")]
    duration_ms: u64,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome::success(Value::Null)
    }
}

impl Outcome {
    /// A successful outcome.
    pub fn success(output: Value) -> Self {
        Outcome { status: Status::Success, error: None, output, duration_ms: 0 }
    }

    /// A partial outcome: some of the work was done.
    pub fn partial(output: Value, note: ToolError) -> Self {
        Outcome { status: Status::Partial, error: Some(note), output, duration_ms: 0 }
    }

    /// A failed outcome. The status is `timeout` for the `TIMEOUT` code and
    /// `blocked` for `BLOCKED`, `error` otherwise.
    pub fn failure(error: ToolError) -> Self {
        let status = if error.code == ErrorCode::TIMEOUT {
            Status::Timeout
        } else if error.code == ErrorCode::BLOCKED {
            Status::Blocked
        } else {
            Status::Error
        };
        Outcome { status, error: Some(error), output: Value::Null, duration_ms: 0 }
    }

    /// A failed outcome that still carries what the tool produced.
    pub fn failure_with(error: ToolError, output: Value) -> Self {
        Outcome { output, ..Outcome::failure(error) }
    }

    /// Sets the duration.
    pub fn timed(mut self, duration_ms: u64) -> Self {
        self.duration_ms = duration_ms;
        self
    }

    /// Whether the call counts as done.
    pub fn is_ok(&self) -> bool {
        self.status.is_ok()
    }

    /// The error code, when the call failed.
    pub fn code(&self) -> Option<&ErrorCode> {
        if self.is_ok() { None } else { self.error.as_ref().map(|e| &e.code) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_json_is_flat_like_the_design() {
        let o = Outcome::failure(ToolError::new(ErrorCode::CONNECTION_REFUSED, "API server unreachable").hint("retry_after_ms", 2000));
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["code"], "CONNECTION_REFUSED");
        assert_eq!(v["message"], "API server unreachable");
        assert_eq!(v["retryable"], true);
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["hints"]["retry_after_ms"], 2000);
        let back: Outcome = serde_json::from_value(v).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn success_json_has_no_error_fields() {
        let v = serde_json::to_value(Outcome::success(json!({"x": 1}))).unwrap();
        assert_eq!(v, json!({"status": "success", "output": {"x": 1}, "duration_ms": 0}));
    }

    #[test]
    fn timeout_code_gives_timeout_status() {
        let o = Outcome::failure(ToolError::new(ErrorCode::TIMEOUT, "slow"));
        assert_eq!(o.status, Status::Timeout);
        assert_eq!(o.code(), Some(&ErrorCode::TIMEOUT));
    }
}
