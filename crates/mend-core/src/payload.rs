//! What each event records, typed (issue 15): [`Body`] has one variant per
//! [`EventKind`], each with its payload, and is the only way an event's
//! `data` is written or read in Rust. It serialises to the same JSON the
//! journal has always held — `"kind": "call", "data": {…}` inside the event
//! — and reads every journal written before it (missing fields take their
//! defaults; a payload that still does not fit is kept as
//! [`Body::Unread`], never an error). The UI gets the same types through
//! ts-rs, so a renamed field fails the build of every consumer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::action::{ActionKind, Diagnosis};
use crate::approval::{ApprovalKind, ApprovalRequest, Decision};
use crate::event::EventKind;
use crate::outcome::Outcome;
use crate::report::{AttemptReport, LessonChange, RunStatus, StepStatus};
use crate::tool::IdempotencyKey;

/// Why a call was made: the step's own call, a healing attempt, the step's
/// verify call, or the call a person's decision runs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CallPurpose {
    /// The step's own call (or an alternative, when a person chose it).
    #[default]
    #[serde(rename = "call")]
    Call,
    /// A healing attempt.
    #[serde(rename = "attempt")]
    Attempt,
    /// The step's verify call.
    #[serde(rename = "verify")]
    Verify,
    /// The call a person's decision runs.
    #[serde(rename = "call (decision)")]
    Decision,
}

impl CallPurpose {
    /// How the journal and messages name it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallPurpose::Call => "call",
            CallPurpose::Attempt => "attempt",
            CallPurpose::Verify => "verify",
            CallPurpose::Decision => "call (decision)",
        }
    }
}

impl std::fmt::Display for CallPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, as its `run_finished` event says: a [`RunStatus`], or
/// interrupted (its process was stopped or died; issue 12).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// Every required step succeeded.
    #[default]
    Succeeded,
    /// A required step failed.
    Failed,
    /// A person refused to go on, or closed the run.
    Aborted,
    /// A request waits for a person.
    Waiting,
    /// The run's process was stopped, or died.
    Interrupted,
}

impl RunEnd {
    /// The snake_case name (the journal's `runs.status`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunEnd::Succeeded => "succeeded",
            RunEnd::Failed => "failed",
            RunEnd::Aborted => "aborted",
            RunEnd::Waiting => "waiting",
            RunEnd::Interrupted => "interrupted",
        }
    }
}

impl From<RunStatus> for RunEnd {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Succeeded => RunEnd::Succeeded,
            RunStatus::Failed => RunEnd::Failed,
            RunStatus::Aborted => RunEnd::Aborted,
            RunStatus::Waiting => RunEnd::Waiting,
        }
    }
}

/// The run's budgets, as it started.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BudgetInfo {
    /// Healing attempts across all steps.
    pub max_attempts: u32,
    /// Wall-clock limit, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub wall_clock_ms: u64,
    /// LLM tokens.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub tokens: u64,
}

/// `run_started`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunStarted {
    /// Steps in the job.
    pub steps: usize,
    /// Its budgets.
    pub budget: BudgetInfo,
    /// The job file, when it came from one (to resume it).
    pub job_path: Option<String>,
    /// The request whose decision this run goes on with (issue 12).
    pub resumed_from: Option<String>,
    /// It goes on with a run whose process ended.
    pub restarted: bool,
    /// The call that may have run when that process ended.
    pub in_doubt: Option<String>,
    /// The step it starts from.
    pub start_step: Option<String>,
}

/// `run_finished`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunFinished {
    /// How it ended.
    pub status: RunEnd,
    /// Healing attempts made (absent when the run was ended from outside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why it ended so, in words (interrupted, closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When its process was last heard of (ms since epoch), for a run found dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_ms: Option<i64>,
    /// The call in flight when it died (the journal's `runs.in_flight`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub in_flight: Option<Value>,
    /// What was done about a call it left running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// `step_started`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StepStarted {
    /// The step goes on where it was when its run's process ended (issue 12).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub continued: bool,
}

/// `step_finished`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepFinished {
    /// How it ended.
    pub status: StepStatus,
    /// Healing attempts made.
    pub attempts: usize,
    /// Its first call failed (it needed healing).
    pub failed_first: bool,
    /// A person decided something in it.
    pub person: bool,
}

impl Default for StepFinished {
    fn default() -> Self {
        StepFinished { status: StepStatus::NotRun, attempts: 0, failed_first: false, person: false }
    }
}

/// `call_started`: a call that is not read-only is about to run (issue 12).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CallStarted {
    /// The call's id, repeated by its `call` event.
    pub call: String,
    /// Why it is made.
    pub purpose: CallPurpose,
    /// The call as shown to people (redacted).
    pub call_text: String,
    /// The step's idempotency key it carries (issue 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// `call`: a tool call and its outcome.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CallMade {
    /// Why it was made.
    pub purpose: CallPurpose,
    /// Its arguments (redacted).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub args: Value,
    /// What came of it.
    pub outcome: Outcome,
    /// The id of its `call_started` event, for a call that is not read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The step's idempotency key it carried (issue 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A proposal a layer made that validation refused, and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Rejected {
    /// The layer (`lesson`, `policy`, `llm`).
    pub layer: String,
    /// What it proposed (absent: the layer was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
    /// Why it was refused, for a person.
    pub reason: String,
}

/// A lesson the memory found for a failure.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LessonSeen {
    /// Its id.
    pub id: String,
    /// Its `when:` names this failure.
    pub applies: bool,
    /// Its fix has not failed 3 times in a row.
    pub trusted: bool,
}

/// `diagnosis`: the proposal chosen, the ones refused, the lessons found.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosed {
    /// The proposal chosen.
    pub diagnosis: Diagnosis,
    /// Proposals refused on the way.
    #[serde(default)]
    pub rejected: Vec<Rejected>,
    /// Lessons the memory found.
    #[serde(default)]
    pub lessons: Vec<LessonSeen>,
}

/// `attempt`: a healing attempt and what came of it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Attempted {
    /// The layer that proposed it.
    pub layer: String,
    /// The lesson it applied.
    pub lesson: Option<String>,
    /// The wait before it, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub delay_ms: u64,
    /// The attempt as the report holds it.
    pub attempt: Option<AttemptReport>,
}

/// `recovery`: a failure healed.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recovered {
    /// Attempts it took.
    pub attempts: usize,
    /// Time to recover, ms (from the first failure).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ttr_ms: u64,
    /// The action that healed it.
    pub final_action: ActionKind,
    /// The layer that proposed that action.
    pub layer: String,
    /// The lesson it applied.
    pub lesson: Option<String>,
}

impl Default for Recovered {
    fn default() -> Self {
        Recovered { attempts: 0, ttr_ms: 0, final_action: ActionKind::RetrySame, layer: String::new(), lesson: None }
    }
}

/// `guardrail`: something a guardrail stopped, allowed or noted; which one.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "guardrail", rename_all = "snake_case")]
pub enum Guardrail {
    /// A budget ran out: the failure goes to a person.
    Budget,
    /// A call may have done its work and is not safe to repeat (issue 14);
    /// `cleared`: a verify call said the goal does not hold.
    InDoubt {
        /// The call (redacted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_text: Option<String>,
        /// The doubt was cleared by the verify call's answer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cleared: bool,
    },
    /// The gate found something, and an allow rule covers it (issue 11).
    Allowed {
        /// What the gate found.
        #[cfg_attr(feature = "ts", ts(type = "unknown"))]
        finding: Value,
        /// The allow rule.
        allow: String,
    },
    /// A call waited for approval and was not approved.
    Approval {
        /// The rule that asked.
        #[serde(default)]
        rule: Option<String>,
        /// The simple command it named.
        #[serde(default)]
        command: Option<String>,
    },
    /// A step goes on where it was when its run's process ended (issue 12).
    Continued {
        /// Healing attempts it had made.
        #[serde(default)]
        attempts: u32,
        /// Its verify call's answer then, if it ran.
        #[serde(default)]
        verified: Option<bool>,
    },
    /// A decision named an option the request does not have.
    UnknownOption,
    /// Nobody answered a request in time.
    ApprovalTimeout {
        /// The request.
        #[serde(default)]
        request: String,
    },
    /// An MCP server's state changed in a way the run depends on (issue 16):
    /// its circuit opened or closed, or a call went to its backup.
    Server {
        /// The server's name (`[[mcp.servers]]`).
        server: String,
        /// What changed.
        change: ServerChange,
        /// Disabled until when (ms since epoch), for [`ServerChange::CircuitOpened`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(type = "number | null"))]
        until_ms: Option<i64>,
        /// Why, in words (the failures counted; the primary's error).
        #[serde(default)]
        reason: String,
        /// The server that answered instead, for [`ServerChange::FellOver`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup: Option<String>,
    },
    /// Another process decided the request first; its decision holds.
    DecidedElsewhere {
        /// The request.
        #[serde(default)]
        request: String,
        /// The option that holds.
        #[serde(default)]
        option: String,
    },
}

/// How an MCP server's state changed (issue 16), in [`Guardrail::Server`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerChange {
    /// Too many failures in the circuit breaker's window: disabled until a time.
    CircuitOpened,
    /// A call let through after the cool-down (half-open) succeeded: enabled again.
    CircuitClosed,
    /// The server was set aside (disabled) or could not be reached, and the
    /// call went to its declared backup.
    FellOver,
}

/// `decision`: a decision on a request.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionMade {
    /// The request's id.
    pub request: String,
    /// The decision.
    pub decision: Decision,
    /// The option the request recommended.
    #[serde(default)]
    pub recommended: String,
    /// The request's kind.
    #[serde(default)]
    pub kind: Option<ApprovalKind>,
}

/// `lesson`: a lesson learned, confirmed, marked as failing… in the memory.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LessonChanged {
    /// The lesson's id.
    pub lesson: String,
    /// What happened to it.
    pub change: LessonChange,
}

/// What an event records: its kind and that kind's payload. Serialised as
/// `"kind": …, "data": …` (flattened into [`crate::event::Event`]).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(tag = "kind", content = "data", rename_all = "snake_case"))]
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A run began.
    RunStarted(RunStarted),
    /// A run ended.
    RunFinished(RunFinished),
    /// A step began.
    StepStarted(StepStarted),
    /// A step ended.
    StepFinished(StepFinished),
    /// A call that changes the world is about to run (durable first).
    CallStarted(CallStarted),
    /// A tool call and its outcome.
    Call(CallMade),
    /// A diagnosis.
    Diagnosis(Box<Diagnosed>),
    /// A healing attempt.
    Attempt(Box<Attempted>),
    /// A failure healed.
    Recovery(Recovered),
    /// A guardrail.
    Guardrail(Guardrail),
    /// A request for a person (the whole request).
    Escalation(Box<ApprovalRequest>),
    /// A decision.
    Decision(Box<DecisionMade>),
    /// A lesson changed.
    Lesson(LessonChanged),
    /// A payload this version cannot read (a journal from another version,
    /// a row edited by hand): kept as it was, shown by its message.
    #[cfg_attr(feature = "ts", ts(skip))]
    Unread {
        /// Its kind.
        kind: EventKind,
        /// Its data as stored.
        data: Value,
    },
}

impl Body {
    /// The kind it records.
    pub fn kind(&self) -> EventKind {
        match self {
            Body::RunStarted(_) => EventKind::RunStarted,
            Body::RunFinished(_) => EventKind::RunFinished,
            Body::StepStarted(_) => EventKind::StepStarted,
            Body::StepFinished(_) => EventKind::StepFinished,
            Body::CallStarted(_) => EventKind::CallStarted,
            Body::Call(_) => EventKind::Call,
            Body::Diagnosis(_) => EventKind::Diagnosis,
            Body::Attempt(_) => EventKind::Attempt,
            Body::Recovery(_) => EventKind::Recovery,
            Body::Guardrail(_) => EventKind::Guardrail,
            Body::Escalation(_) => EventKind::Escalation,
            Body::Decision(_) => EventKind::Decision,
            Body::Lesson(_) => EventKind::Lesson,
            Body::Unread { kind, .. } => *kind,
        }
    }

    /// The payload as the journal stores it (`data`).
    pub fn data(&self) -> Value {
        let v = match self {
            Body::RunStarted(p) => serde_json::to_value(p),
            Body::RunFinished(p) => serde_json::to_value(p),
            Body::StepStarted(p) => serde_json::to_value(p),
            Body::StepFinished(p) => serde_json::to_value(p),
            Body::CallStarted(p) => serde_json::to_value(p),
            Body::Call(p) => serde_json::to_value(p),
            Body::Diagnosis(p) => serde_json::to_value(p),
            Body::Attempt(p) => serde_json::to_value(p),
            Body::Recovery(p) => serde_json::to_value(p),
            Body::Guardrail(p) => serde_json::to_value(p),
            Body::Escalation(p) => serde_json::to_value(p),
            Body::Decision(p) => serde_json::to_value(p),
            Body::Lesson(p) => serde_json::to_value(p),
            Body::Unread { data, .. } => return data.clone(),
        };
        v.unwrap_or(Value::Null)
    }

    /// Reads a payload of `kind` as the journal stored it. What does not
    /// fit this version's types is kept as [`Body::Unread`].
    pub fn from_parts(kind: EventKind, data: Value) -> Body {
        // Older journals store no data for a plain `step_started`.
        let d = if data.is_null() { Value::Object(Default::default()) } else { data.clone() };
        fn read<T: serde::de::DeserializeOwned>(d: Value) -> Option<T> {
            serde_json::from_value(d).ok()
        }
        let typed = match kind {
            EventKind::RunStarted => read(d).map(Body::RunStarted),
            EventKind::RunFinished => read(d).map(Body::RunFinished),
            EventKind::StepStarted => read(d).map(Body::StepStarted),
            EventKind::StepFinished => read(d).map(Body::StepFinished),
            EventKind::CallStarted => read(d).map(Body::CallStarted),
            EventKind::Call => read(d).map(Body::Call),
            EventKind::Diagnosis => read(d).map(|p| Body::Diagnosis(Box::new(p))),
            EventKind::Attempt => read(d).map(|p| Body::Attempt(Box::new(p))),
            EventKind::Recovery => read(d).map(Body::Recovery),
            EventKind::Guardrail => read(d).map(Body::Guardrail),
            EventKind::Escalation => read(d).map(|p| Body::Escalation(Box::new(p))),
            EventKind::Decision => read(d).map(|p| Body::Decision(Box::new(p))),
            EventKind::Lesson => read(d).map(Body::Lesson),
        };
        typed.unwrap_or(Body::Unread { kind, data })
    }

    /// The same payload with every string passed through `f` (redaction
    /// before an event leaves the engine): serialised, rewritten, read back.
    pub fn map_strings(&self, f: impl FnOnce(&mut Value)) -> Body {
        let mut v = self.data();
        f(&mut v);
        Body::from_parts(self.kind(), v)
    }
}

#[derive(Serialize, Deserialize)]
struct Parts {
    kind: EventKind,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    data: Value,
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Parts { kind: self.kind(), data: self.data() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = Parts::deserialize(d)?;
        Ok(Body::from_parts(p.kind, p.data))
    }
}
