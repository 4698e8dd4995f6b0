//! Journal events and the [`Journal`] trait the engine writes them through.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalRequest, Decision};
use crate::payload::Body;

/// What an event records.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A run began.
    RunStarted,
    /// A run ended.
    RunFinished,
    /// A step began.
    StepStarted,
    /// A step ended.
    StepFinished,
    /// A call that changes the world is about to run (issue 12): durable
    /// before the call starts, so after any crash every call that ran has a
    /// record. `data.call` is the call's id, repeated by its [`Call`](Self::Call)
    /// event; a started call without one is *in doubt*.
    CallStarted,
    /// A tool call and its outcome.
    Call,
    /// A diagnosis (and the proposals rejected on the way).
    Diagnosis,
    /// A healing attempt and whether it fixed the failure.
    Attempt,
    /// A failure healed: attempts and time to recover.
    Recovery,
    /// A guardrail stopped something.
    Guardrail,
    /// A request for a person.
    Escalation,
    /// A decision on a request.
    Decision,
    /// A lesson learned, confirmed or marked as failing in the memory file.
    Lesson,
}

impl EventKind {
    /// The snake_case name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::RunFinished => "run_finished",
            EventKind::StepStarted => "step_started",
            EventKind::StepFinished => "step_finished",
            EventKind::CallStarted => "call_started",
            EventKind::Call => "call",
            EventKind::Diagnosis => "diagnosis",
            EventKind::Attempt => "attempt",
            EventKind::Recovery => "recovery",
            EventKind::Guardrail => "guardrail",
            EventKind::Escalation => "escalation",
            EventKind::Decision => "decision",
            EventKind::Lesson => "lesson",
        }
    }
}

/// Event level, for filtering logs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Detail.
    Debug,
    /// Normal progress.
    Info,
    /// A failure that is being healed.
    Warn,
    /// A failure that was not healed.
    Error,
}

impl Level {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses a level name.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

/// One journal event. Everything in it is already redacted.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts_ms: i64,
    /// The run.
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// The step, if the event belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What it records: its kind and that kind's payload (`kind` and
    /// `data` in the JSON; issue 15).
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub body: Body,
    /// How loud.
    pub level: Level,
    /// The tool involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The error code involved (for an attempt: the code it tried to fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The recovery action involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Whether it went well (call succeeded, attempt fixed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub duration_ms: Option<u64>,
    /// LLM tokens spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub tokens: Option<u64>,
    /// One line for a person.
    pub message: String,
    /// The agent whose call the run is (an MCP host's `clientInfo.name`
    /// through `mend mcp serve`, `claude-code` for `mend hook claude`;
    /// issue 17); `None` for Mend's own jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub agent: Option<String>,
}

impl Event {
    /// An event of the payload's kind; fill the optional fields with struct
    /// update syntax. The one constructor every producer uses.
    pub fn new(ts_ms: i64, run_id: &str, job: &str, body: Body, level: Level, message: impl Into<String>) -> Self {
        Event {
            ts_ms,
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            step: None,
            body,
            level,
            tool: None,
            code: None,
            action: None,
            ok: None,
            duration_ms: None,
            tokens: None,
            message: message.into(),
            agent: None,
        }
    }

    /// What it records.
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }
}

/// The journal failed (issue 15: a kind, not only a string), so the loop
/// cannot guarantee nothing is lost — or a request it was asked about is
/// not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The journal is closed, or its writer stopped (after a storage
    /// failure, or at shutdown): nothing more can be stored.
    #[error("journal: {0}")]
    Stopped(String),
    /// Storing failed: SQLite or the disk (the file is named).
    #[error("journal: {0}")]
    Storage(String),
    /// No such request or remembered decision.
    #[error("journal: {0}")]
    NotFound(String),
}

impl JournalError {
    /// What went wrong, without the kind.
    pub fn message(&self) -> &str {
        match self {
            JournalError::Stopped(m) | JournalError::Storage(m) | JournalError::NotFound(m) => m,
        }
    }
}

/// Where events go. Implementations keep events in order and lose none.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Queues an event. Ordered; durable by the next [`Journal::flush`].
    fn record(&self, event: Event);
    /// Returns once every event recorded so far is durable.
    async fn flush(&self) -> Result<(), JournalError>;
    /// Stores a pending approval durably (before anyone waits on it).
    async fn save_approval(&self, request: &ApprovalRequest) -> Result<(), JournalError>;
    /// Stores the decision on a request durably, unless it was already
    /// decided (another process, the desktop app and a terminal at once):
    /// returns the decision that holds, this one or the one stored first,
    /// so a request gets exactly one decision (issue 12).
    async fn resolve_approval(&self, id: &str, decision: &Decision) -> Result<Decision, JournalError>;
    /// Stores an event durably (committed and fsynced) before returning:
    /// the "call started" record written ahead of a call that changes the
    /// world (issue 12). Events recorded before it are committed with it.
    async fn record_durable(&self, event: Event) -> Result<(), JournalError> {
        self.record(event);
        self.flush().await
    }
}

/// An in-memory journal for unit tests of the engine.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    // A std mutex: held only to push or copy, never across an await.
    events: Mutex<Vec<Event>>,
    approvals: Mutex<Vec<(ApprovalRequest, Option<Decision>)>>,
}

impl MemoryJournal {
    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
    /// Every approval so far with its decision.
    pub fn approvals(&self) -> Vec<(ApprovalRequest, Option<Decision>)> {
        self.approvals.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    fn record(&self, event: Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
    async fn flush(&self) -> Result<(), JournalError> {
        Ok(())
    }
    async fn save_approval(&self, request: &ApprovalRequest) -> Result<(), JournalError> {
        self.approvals.lock().map_err(|e| JournalError::Stopped(e.to_string()))?.push((request.clone(), None));
        Ok(())
    }
    async fn resolve_approval(&self, id: &str, decision: &Decision) -> Result<Decision, JournalError> {
        let mut a = self.approvals.lock().map_err(|e| JournalError::Stopped(e.to_string()))?;
        match a.iter_mut().find(|(r, _)| r.id == id) {
            Some((_, Some(earlier))) => Ok(earlier.clone()),
            Some(entry) => {
                entry.1 = Some(decision.clone());
                Ok(decision.clone())
            }
            None => Err(JournalError::NotFound(format!("no approval {id}"))),
        }
    }
}

/// Measured success of (error code × action), read from the journal at the
/// start of a run: the policy tries the best-measured action first.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// (code, action) → (successes, attempts).
    pub by_code_action: HashMap<(String, String), (u64, u64)>,
}

impl Stats {
    /// Attempts needed before a measured rate overrides the default order.
    pub const MIN_SAMPLES: u64 = 5;

    /// The measured success rate, when there are enough samples.
    pub fn rate(&self, code: &str, action: &str) -> Option<f64> {
        let (ok, n) = *self.by_code_action.get(&(code.to_owned(), action.to_owned()))?;
        (n >= Self::MIN_SAMPLES).then(|| ok as f64 / n as f64)
    }
}
