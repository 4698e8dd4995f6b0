//! The run report: what `mend run --json` prints and the desktop shows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::ActionKind;
use crate::approval::Decision;
use crate::outcome::Outcome;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every required step succeeded (healed or not).
    Succeeded,
    /// A required step failed and could not be healed.
    Failed,
    /// A person refused to go on.
    Aborted,
    /// A request waits for a person; the run stopped there.
    Waiting,
}

impl RunStatus {
    /// The documented process exit code: 0 succeeded, 1 failed, 3 waiting
    /// for or refused by a person. (2 is bad input, decided before a run.)
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Succeeded => 0,
            RunStatus::Failed => 1,
            RunStatus::Aborted | RunStatus::Waiting => 3,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
            RunStatus::Waiting => "waiting",
        }
    }
}

/// How a step ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The first call succeeded.
    Succeeded,
    /// A failure was healed.
    Healed,
    /// The call failed but its goal was verified to hold.
    Verified,
    /// Only part of the work was done (e.g. a chunk of a large file).
    Partial,
    /// Skipped by a decision.
    Skipped,
    /// Failed.
    Failed,
    /// Stopped by a person's refusal.
    Aborted,
    /// Waiting for a person.
    Waiting,
    /// Not reached.
    NotRun,
}

impl StepStatus {
    /// The snake_case name (the journal's step rollups).
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Healed => "healed",
            StepStatus::Verified => "verified",
            StepStatus::Partial => "partial",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Aborted => "aborted",
            StepStatus::Waiting => "waiting",
            StepStatus::NotRun => "not_run",
        }
    }

    /// Whether the job can go on after it.
    pub fn is_ok(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Healed | StepStatus::Verified | StepStatus::Partial | StepStatus::Skipped)
    }
}

/// One changed argument.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgChange {
    /// JSON pointer.
    pub path: String,
    /// Before (null when added).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub before: Value,
    /// After (null when removed).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub after: Value,
}

/// The arguments that differ between two calls.
pub fn args_diff(before: &Value, after: &Value) -> Vec<ArgChange> {
    let mut out = Vec::new();
    diff_into("", before, after, &mut out);
    out
}

fn diff_into(path: &str, a: &Value, b: &Value, out: &mut Vec<ArgChange>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                diff_into(&p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        _ if a != b => out.push(ArgChange { path: path.to_owned(), before: a.clone(), after: b.clone() }),
        _ => {}
    }
}

/// One healing attempt.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptReport {
    /// 1-based within the step.
    pub n: u32,
    /// The action.
    pub action: ActionKind,
    /// The layer that proposed it.
    pub layer: String,
    /// The lesson it applied (layer `lesson`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson: Option<String>,
    /// The alternative it ran (`use_alternative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<usize>,
    /// The diagnosis' root cause.
    pub root_cause: String,
    /// The code it tried to fix.
    pub fixing: String,
    /// The tool it ran.
    pub tool: String,
    /// What it changed against the call that failed.
    pub args_diff: Vec<ArgChange>,
    /// The wait before it, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub delay_ms: u64,
    /// What it got (redacted).
    pub outcome: Outcome,
    /// How long the call took, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub duration_ms: u64,
}

/// One request to a person and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationReport {
    /// Request id.
    pub request_id: String,
    /// Title.
    pub title: String,
    /// The recommended option.
    pub recommended: String,
    /// The decision, unless still pending.
    pub decision: Option<Decision>,
}

/// The failure a step's call met first: what learning keys a lesson on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The tool.
    pub tool: String,
    /// The error code.
    pub code: String,
    /// The error message.
    pub message: String,
    /// What the call was about (see [`crate::lesson::subject_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The call as shown to people.
    #[serde(default)]
    pub target: String,
    /// The call may have done its work (a timeout, a dropped connection)
    /// and is not safe to repeat (issue 14): what healed it is not learned
    /// as a resend.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_doubt: bool,
}

impl FailureReport {
    /// The same failure, as a lesson lookup asks for it.
    pub fn query(&self) -> crate::lesson::FailureQuery {
        crate::lesson::FailureQuery {
            tool: self.tool.clone(),
            code: self.code.clone(),
            message: self.message.clone(),
            subject: self.subject.clone(),
            target: self.target.clone(),
        }
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Name.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// The step's first failure, when its call failed (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReport>,
    /// The last outcome (redacted).
    pub final_outcome: Option<Outcome>,
    /// Every healing attempt.
    pub attempts: Vec<AttemptReport>,
    /// Every request to a person.
    pub escalations: Vec<EscalationReport>,
    /// Wall time, including waits.
    pub duration_ms: u64,
}

impl StepReport {
    /// A step that has not run (yet).
    pub fn not_run(name: &str) -> Self {
        StepReport {
            name: name.to_owned(),
            status: StepStatus::NotRun,
            failure: None,
            final_outcome: None,
            attempts: vec![],
            escalations: vec![],
            duration_ms: 0,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Job name.
    pub job: String,
    /// How it ended.
    pub status: RunStatus,
    /// Process exit code for it.
    pub exit_code: i32,
    /// Steps in order (not-run steps included).
    pub steps: Vec<StepReport>,
    /// Healing attempts across steps.
    pub attempts: u32,
    /// LLM tokens spent.
    pub tokens: u64,
    /// When it began (ms since epoch).
    pub started_ms: i64,
    /// Wall time.
    pub duration_ms: u64,
    /// What the run taught the memory (filled in after the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lessons: Vec<LessonNote>,
}

impl RunReport {
    /// A report of nothing (what learning from a decision alone starts from).
    pub fn empty() -> RunReport {
        RunReport {
            run_id: String::new(),
            job: String::new(),
            status: RunStatus::Succeeded,
            exit_code: 0,
            steps: Vec::new(),
            attempts: 0,
            tokens: 0,
            started_ms: 0,
            duration_ms: 0,
            lessons: Vec::new(),
        }
    }
}

/// What learning did to a lesson (issue 15: one closed set).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LessonChange {
    /// A new lesson was written.
    #[default]
    Learned,
    /// An applied lesson healed the failure again (`seen` +1).
    Confirmed,
    /// A lesson for this failure now says the fix that worked.
    Corrected,
    /// An applied lesson's fix did not heal (`failures` +1).
    Failed,
    /// A person's choice was recorded as the recommendation.
    Decided,
    /// Not learned: a resend of a call in doubt is never a lesson (issue 14).
    NotLearned,
    /// The memory file could not be written; nothing was lost from it.
    Unwritten,
}

impl LessonChange {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LessonChange::Learned => "learned",
            LessonChange::Confirmed => "confirmed",
            LessonChange::Corrected => "corrected",
            LessonChange::Failed => "failed",
            LessonChange::Decided => "decided",
            LessonChange::NotLearned => "not_learned",
            LessonChange::Unwritten => "unwritten",
        }
    }
}

impl LessonNote {
    /// The `lesson` event that journals this note: the one constructor the
    /// engine and the agent use (issue 15).
    pub fn event(&self, ts_ms: i64, run_id: &str, job: &str, step: Option<&str>) -> crate::event::Event {
        use crate::payload::{Body, LessonChanged};
        crate::event::Event {
            action: Some(self.change.to_string()),
            step: step.map(str::to_owned),
            ..crate::event::Event::new(
                ts_ms,
                run_id,
                job,
                Body::Lesson(LessonChanged { lesson: self.id.clone(), change: self.change }),
                crate::event::Level::Info,
                self.message.clone(),
            )
        }
    }
}

impl PartialEq<&str> for LessonChange {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for LessonChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lesson the run learned, confirmed or marked as failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonNote {
    /// The lesson's id.
    pub id: String,
    /// What happened to it.
    pub change: LessonChange,
    /// One line for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_changed_added_and_removed_paths() {
        let a = json!({"path": "/a", "opts": {"n": 1, "x": true}, "same": 1});
        let b = json!({"path": "/b", "opts": {"n": 2}, "same": 1, "new": "v"});
        let d = args_diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["/new", "/opts/n", "/opts/x", "/path"]);
        assert_eq!(d[0].before, Value::Null);
        assert_eq!(d[2].after, Value::Null);
    }
}
