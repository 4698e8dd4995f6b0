//! Approval requests: what a person sees when the loop cannot or may not go
//! on by itself, and the decision that comes back.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a person is asked.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A destructive call is about to run.
    BeforeRun,
    /// Healing could not, or may not, go on.
    Escalation,
    /// The run's process ended while a call that changes the world was
    /// running: it may have run. Asked before it runs again (issue 12).
    InDoubt,
}

/// What an option does when chosen.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Choice {
    /// Run the pending (destructive) call.
    Run,
    /// Try the current call once more.
    Retry,
    /// Run alternative `index` of the step.
    Alternative {
        /// Index into the step's alternatives.
        index: usize,
    },
    /// Skip this step; the job goes on.
    Skip,
    /// Stop the job.
    Abort,
}

/// One option of a request.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalOption {
    /// Stable id (`run`, `retry`, `alt-0`, `skip`, `abort`).
    pub id: String,
    /// Short label for a button.
    pub label: String,
    /// What choosing it does.
    pub choice: Choice,
    /// One sentence on the consequence.
    #[serde(default)]
    pub detail: String,
}

impl ApprovalOption {
    /// An option from its parts (the constructors below keep the words in one place).
    fn new(id: &str, label: &str, choice: Choice, detail: String) -> Self {
        ApprovalOption { id: id.to_owned(), label: label.to_owned(), choice, detail }
    }

    /// `run` before a call runs: run `shown` (the call as people see it) now.
    pub fn run(shown: &str) -> Self {
        Self::new("run", "Run it", Choice::Run, format!("Run `{shown}` now."))
    }

    /// `run` on a call that may have run before its process ended (issue
    /// 12): run `shown` once more.
    pub fn run_again(shown: &str) -> Self {
        Self::new(
            "run",
            "Run it again",
            Choice::Run,
            format!("Run `{shown}` once more: only if it did not run, or running it twice is harmless."),
        )
    }

    /// `run` on a call whose outcome is unknown (issue 14): send `shown`
    /// once more, knowing it may happen twice.
    pub fn send_again(shown: &str) -> Self {
        Self::new(
            "run",
            "Send it again",
            Choice::Run,
            format!("Send `{shown}` once more. It may already have happened: if it did, it happens twice."),
        )
    }

    /// `retry` on an escalation: the failed call again, with a fresh
    /// attempt budget for the step.
    pub fn retry() -> Self {
        Self::new("retry", "Retry now", Choice::Retry, "Run the failed call again, with a fresh attempt budget for this step.".into())
    }

    /// `retry` on a call that may have run and is not the step's own (issue
    /// 12): start the step over from its own call.
    pub fn rerun_step() -> Self {
        Self::new(
            "retry",
            "Run the step again",
            Choice::Retry,
            "Start the step over from its own call (destructive calls still ask first).".into(),
        )
    }

    /// `alt-N`: run the step's alternative `index` (shown as `shown`) instead.
    pub fn alternative(index: usize, shown: &str) -> Self {
        Self::new(
            &format!("alt-{index}"),
            &format!("Use alternative {}", index + 1),
            Choice::Alternative { index },
            format!("Run `{shown}` instead."),
        )
    }

    /// `skip`: the job goes on without the step.
    pub fn skip() -> Self {
        Self::new("skip", "Skip this step", Choice::Skip, "The job goes on without it.".into())
    }

    /// `abort`: nothing more runs.
    pub fn abort() -> Self {
        Self::new("abort", "Abort the job", Choice::Abort, "Nothing more runs.".into())
    }

    /// `ran` on a call whose outcome is unknown (issue 14): it happened;
    /// count the step as done without sending it again.
    pub fn it_happened() -> Self {
        Self::new("ran", "It happened: go on", Choice::Skip, "Count the step as done without sending it again; the job goes on.".into())
    }

    /// `ran` on a call that may have run before its process ended (issue
    /// 12): count the step as done without running it again.
    pub fn it_ran() -> Self {
        Self::new("ran", "It ran: go on", Choice::Skip, "Count the step as done without running it again; the job goes on.".into())
    }
}

/// What happens when nobody answers in time. Never a silent "approved":
/// taking the recommendation must be declared by the job's author.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Leave the request pending; the run stops as waiting.
    #[default]
    Wait,
    /// Abort the job.
    Abort,
    /// Skip the step.
    Skip,
    /// Take the recommended option (only where the job says so).
    Recommended,
}

/// Which part of a call made the safety gate ask, and by which rule
/// (issue 11): journaled with the request; the popup and the terminal
/// prompt highlight `span` in the request's `call`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Danger {
    /// The rule's category (`bulk_deletion`, `database`, `unknown`, …; see
    /// `docs/safety.md`).
    pub category: String,
    /// The rule that matched (`rm -r`), or a job's own pattern.
    pub rule: String,
    /// The simple command that matched, normalised and redacted.
    pub command: String,
    /// One sentence: what it would do, or why it cannot be told.
    pub why: String,
    /// Byte range `[start, end)` of `call` (UTF-8) to highlight: the simple
    /// command the finding came from. `None` when it cannot be placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "[number, number] | null"))]
    pub span: Option<(usize, usize)>,
}

/// Which call a before-run request is about, so that deciding `run` on a
/// resumed run runs that call (issue 11): the step's own, a declared
/// alternative, the verify call, or a healing layer's proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum CallSource {
    /// The step's own call.
    Step,
    /// Declared alternative `index`.
    Alternative {
        /// Index into the step's alternatives.
        index: usize,
    },
    /// The step's verify call.
    Verify,
    /// A healing proposal: the tool and its arguments, redacted (a proposal
    /// whose arguments held a secret cannot be replayed from the journal and
    /// asks again).
    Proposal {
        /// The tool.
        tool: String,
        /// The arguments, redacted.
        args: Value,
    },
}

/// A request for a person's decision.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Unique id.
    pub id: String,
    /// The run that waits.
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// The step that waits.
    pub step: String,
    /// Why a person is asked.
    pub kind: ApprovalKind,
    /// One line.
    pub title: String,
    /// The error and context.
    pub what_happened: String,
    /// Why it happened and what the loop concluded.
    pub diagnosis: String,
    /// The id of the recommended option (always the first option).
    pub recommended: String,
    /// Why that option is recommended.
    pub recommendation: String,
    /// Options, recommended first.
    pub options: Vec<ApprovalOption>,
    /// The attempts made so far (action, outcome), redacted.
    pub attempts: Vec<Value>,
    /// When it was raised (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_ms: i64,
    /// How long to wait for an answer, if bounded.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub timeout_ms: Option<u64>,
    /// What happens then.
    pub on_timeout: OnTimeout,
    /// For a request before a call runs: the call as shown (redacted). A
    /// resumed run runs it only if the job still renders it the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The tool of the call the request is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The failure's code (escalations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What the failed call was about (escalations only; see
    /// [`crate::lesson::subject_of`]): a person's choice is learned for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// For a request before a call runs: the destructive part and its rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub danger: Option<Danger>,
    /// For a request before a call runs: a digest of the whole call (every
    /// argument, redacted), so a resumed run runs only that call (issue 11).
    /// Not shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub call_digest: Option<String>,
    /// For a request before a call runs: which call it is. Not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub call_source: Option<CallSource>,
    /// The agent whose call it is (issue 17: an MCP host through `mend mcp
    /// serve`, Claude Code through `mend hook claude`); named in the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub agent: Option<String>,
}

/// Where a remembered decision applies.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum RuleScope {
    /// Requests of one job (and one step, when given).
    Job {
        /// The job's name.
        job: String,
        /// The step's name; every step when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// This failure (code) on this tool, in any job.
    Failure {
        /// The tool.
        tool: String,
        /// The error code.
        code: String,
    },
    /// Every request of this kind.
    Always,
}

/// The digest of a call (`tool`, and its arguments already expanded and
/// redacted) that binds a before-run or in-doubt request to exactly that
/// call (issue 11): 64-bit FNV-1a, 16 hex digits. Not a security hash: it
/// tells calls apart, it does not hide them.
pub fn call_digest(tool: &str, redacted_args: &Value) -> String {
    let text = format!("{tool}\u{0}{redacted_args}");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A decision a person asked to be remembered: later requests it matches
/// are answered with the same option, without asking, and the journal says so.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRule {
    /// Stable id (to list and forget it).
    pub id: String,
    /// Where it applies.
    #[serde(flatten)]
    pub scope: RuleScope,
    /// Which requests: before a call runs, or escalations.
    pub kind: ApprovalKind,
    /// The option it chooses (a request without that option is still asked).
    pub option: String,
    /// When it was made (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_ms: i64,
    /// Why, in the person's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Only the requests of this agent's calls (issue 17: a decision scoped
    /// to Claude Code holds for no other host); every agent's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub agent: Option<String>,
}

impl DecisionRule {
    /// Whether the rule answers this request: same kind, an option the
    /// request has, the rule's agent (if any) is the request's, and its scope.
    pub fn matches(&self, req: &ApprovalRequest) -> bool {
        if self.kind != req.kind || req.option(&self.option).is_none() {
            return false;
        }
        if self.agent.is_some() && self.agent != req.agent {
            return false;
        }
        match &self.scope {
            RuleScope::Job { job, step } => *job == req.job && step.as_ref().is_none_or(|s| *s == req.step),
            RuleScope::Failure { tool, code } => req.tool.as_ref() == Some(tool) && req.code.as_ref() == Some(code),
            RuleScope::Always => true,
        }
    }

    /// The decision this rule makes (at `decided_ms`), journaled as a
    /// policy's, naming the rule — the engine's and the desktop app's alike.
    pub fn decision(&self, decided_ms: i64) -> Decision {
        Decision {
            option: self.option.clone(),
            instructions: self.note.clone(),
            decided_by: DecidedBy::Policy { rule: format!("remembered {} ({})", self.id, self.describe()) },
            decided_ms,
        }
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        let scope = match &self.scope {
            RuleScope::Job { job, step: Some(step) } => format!("job `{job}`, step `{step}`"),
            RuleScope::Job { job, step: None } => format!("job `{job}`"),
            RuleScope::Failure { tool, code } => format!("{code} on {tool}"),
            RuleScope::Always => "always".to_owned(),
        };
        let kind = match self.kind {
            ApprovalKind::BeforeRun => "before a call runs",
            ApprovalKind::Escalation => "escalations",
            ApprovalKind::InDoubt => "calls that may have run",
        };
        let agent = self.agent.as_ref().map(|a| format!(" of {a}")).unwrap_or_default();
        format!("{scope}, {kind}{agent}: `{}`", self.option)
    }
}

impl ApprovalRequest {
    /// An option by id.
    pub fn option(&self, id: &str) -> Option<&ApprovalOption> {
        self.options.iter().find(|o| o.id == id)
    }

    /// The one way a request is decided (issue 15), whoever decides — the
    /// engine, `mend approvals decide`, the desktop app, a remembered rule:
    /// `option` must be one of the request's options. Returns the decision
    /// and the option chosen; [`NotAnOption`] names the choices otherwise.
    pub fn decide(
        &self,
        option: &str,
        instructions: Option<String>,
        decided_by: DecidedBy,
        decided_ms: i64,
    ) -> Result<(Decision, &ApprovalOption), NotAnOption> {
        match self.option(option) {
            Some(chosen) => Ok((Decision { option: option.to_owned(), instructions, decided_by, decided_ms }, chosen)),
            None => Err(NotAnOption {
                request: self.id.clone(),
                option: option.to_owned(),
                choices: self.options.iter().map(|o| format!("{} ({})", o.id, o.label)).collect(),
            }),
        }
    }

    /// The event that journals a decision on this request: the only
    /// producer of `decision` events (issue 15). `via` ends the message
    /// (" in the desktop app"; empty for the engine's own). The decision
    /// must be one of the request's options ([`ApprovalRequest::decide`]).
    pub fn decision_event(&self, decision: &Decision, via: &str) -> crate::event::Event {
        use crate::event::{Event, Level};
        use crate::payload::{Body, DecisionMade};
        let (id, label, abort) = match self.option(&decision.option) {
            Some(o) => (o.id.as_str(), o.label.as_str(), o.choice == Choice::Abort),
            None => (decision.option.as_str(), "", false),
        };
        let who = match &decision.decided_by {
            DecidedBy::Person { who } if who.is_empty() => "a person".to_owned(),
            DecidedBy::Person { who } => who.clone(),
            DecidedBy::Policy { rule } => format!("policy {rule}"),
            DecidedBy::Timeout => "timeout".to_owned(),
        };
        let body = Body::Decision(Box::new(DecisionMade {
            request: self.id.clone(),
            decision: decision.clone(),
            recommended: self.recommended.clone(),
            kind: Some(self.kind),
        }));
        Event {
            step: Some(self.step.clone()),
            agent: self.agent.clone(),
            action: Some(decision.option.clone()),
            ok: Some(!abort),
            duration_ms: Some((decision.decided_ms - self.created_ms).max(0) as u64),
            ..Event::new(decision.decided_ms, &self.run_id, &self.job, body, Level::Info, format!("{who} chose `{id}` ({label}){via}"))
        }
    }
}

/// A decision named an option the request does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{option}` is not an option of request {request}; choose one of: {}", choices.join(", "))]
pub struct NotAnOption {
    /// The request.
    pub request: String,
    /// The option given.
    pub option: String,
    /// Its options, `id (label)`.
    pub choices: Vec<String>,
}

/// Who decided.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DecidedBy {
    /// A person (name if known).
    Person {
        /// Who.
        #[serde(default)]
        who: String,
    },
    /// A standing rule (`--approve recommended`, a remembered decision).
    Policy {
        /// Which rule.
        rule: String,
    },
    /// Nobody answered in time; the timeout policy chose.
    Timeout,
}

impl DecidedBy {
    /// Who, as the journal's decision rollups name it: `person`, `policy`
    /// or `timeout`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DecidedBy::Person { .. } => "person",
            DecidedBy::Policy { .. } => "policy",
            DecidedBy::Timeout => "timeout",
        }
    }
}

/// A decision on a request.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The chosen option's id.
    pub option: String,
    /// Free-text instructions from the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// When (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub decided_ms: i64,
}

/// What an approver answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A decision.
    Decided(Decision),
    /// A decision already journaled by whoever made it (another process,
    /// e.g. `mend approvals decide` while the desktop app waits): the run
    /// goes on with it without journaling it twice.
    Recorded(Decision),
    /// No decision now: leave the request pending in the journal.
    Pending,
}

/// Something that brings requests to a person (a terminal prompt, a popup)
/// or answers them by a standing rule.
#[async_trait]
pub trait Approver: Send + Sync {
    /// Waits for a decision. The request is already in the journal.
    async fn decide(&self, request: &ApprovalRequest) -> Answer;
}

/// Answers every request the same way: for headless runs
/// (`--approve recommended|abort|wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandingApprover {
    /// Take the recommended option.
    Recommended,
    /// Abort.
    Abort,
    /// Leave pending.
    Wait,
}

#[async_trait]
impl Approver for StandingApprover {
    async fn decide(&self, request: &ApprovalRequest) -> Answer {
        let (option, rule) = match self {
            StandingApprover::Recommended => (request.recommended.clone(), "--approve recommended"),
            StandingApprover::Abort => ("abort".to_owned(), "--approve abort"),
            StandingApprover::Wait => return Answer::Pending,
        };
        Answer::Decided(Decision {
            option,
            instructions: None,
            decided_by: DecidedBy::Policy { rule: rule.to_owned() },
            decided_ms: crate::clock::now_ms(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: ApprovalKind, tool: &str, code: Option<&str>) -> ApprovalRequest {
        let opt = |id: &str| ApprovalOption { id: id.into(), label: id.into(), choice: Choice::Skip, detail: String::new() };
        ApprovalRequest {
            id: "q".into(),
            run_id: "r".into(),
            job: "sync".into(),
            step: "pull".into(),
            kind,
            title: String::new(),
            what_happened: String::new(),
            diagnosis: String::new(),
            recommended: "skip".into(),
            recommendation: String::new(),
            options: vec![opt("skip"), opt("abort")],
            attempts: vec![],
            created_ms: 0,
            timeout_ms: None,
            on_timeout: OnTimeout::Wait,
            call: None,
            tool: Some(tool.into()),
            code: code.map(Into::into),
            subject: None,
            danger: None,
            call_digest: None,
            call_source: None,
            agent: None,
        }
    }

    fn rule(scope: RuleScope, option: &str) -> DecisionRule {
        DecisionRule {
            id: "rule-1".into(),
            scope,
            kind: ApprovalKind::Escalation,
            option: option.into(),
            created_ms: 0,
            note: None,
            agent: None,
        }
    }

    #[test]
    fn option_constructors_keep_their_ids_and_words() {
        let rows = [
            (ApprovalOption::run("rm -r x"), "run", "Run it", Choice::Run, "Run `rm -r x` now."),
            (
                ApprovalOption::run_again("POST /a"),
                "run",
                "Run it again",
                Choice::Run,
                "Run `POST /a` once more: only if it did not run, or running it twice is harmless.",
            ),
            (
                ApprovalOption::send_again("POST /a"),
                "run",
                "Send it again",
                Choice::Run,
                "Send `POST /a` once more. It may already have happened: if it did, it happens twice.",
            ),
            (
                ApprovalOption::retry(),
                "retry",
                "Retry now",
                Choice::Retry,
                "Run the failed call again, with a fresh attempt budget for this step.",
            ),
            (
                ApprovalOption::rerun_step(),
                "retry",
                "Run the step again",
                Choice::Retry,
                "Start the step over from its own call (destructive calls still ask first).",
            ),
            (
                ApprovalOption::alternative(1, "GET /b"),
                "alt-1",
                "Use alternative 2",
                Choice::Alternative { index: 1 },
                "Run `GET /b` instead.",
            ),
            (ApprovalOption::skip(), "skip", "Skip this step", Choice::Skip, "The job goes on without it."),
            (ApprovalOption::abort(), "abort", "Abort the job", Choice::Abort, "Nothing more runs."),
            (
                ApprovalOption::it_happened(),
                "ran",
                "It happened: go on",
                Choice::Skip,
                "Count the step as done without sending it again; the job goes on.",
            ),
            (
                ApprovalOption::it_ran(),
                "ran",
                "It ran: go on",
                Choice::Skip,
                "Count the step as done without running it again; the job goes on.",
            ),
        ];
        for (option, id, label, choice, detail) in rows {
            assert_eq!(option, ApprovalOption { id: id.into(), label: label.into(), choice, detail: detail.into() });
        }
    }

    #[test]
    fn rules_match_by_scope_kind_and_option() {
        let q = req(ApprovalKind::Escalation, "http", Some("TIMEOUT"));
        assert!(rule(RuleScope::Always, "skip").matches(&q));
        assert!(!rule(RuleScope::Always, "run").matches(&q), "an option the request lacks never matches");
        assert!(rule(RuleScope::Job { job: "sync".into(), step: None }, "skip").matches(&q));
        assert!(rule(RuleScope::Job { job: "sync".into(), step: Some("pull".into()) }, "skip").matches(&q));
        assert!(!rule(RuleScope::Job { job: "sync".into(), step: Some("push".into()) }, "skip").matches(&q));
        assert!(!rule(RuleScope::Job { job: "other".into(), step: None }, "skip").matches(&q));
        assert!(rule(RuleScope::Failure { tool: "http".into(), code: "TIMEOUT".into() }, "skip").matches(&q));
        assert!(!rule(RuleScope::Failure { tool: "exec".into(), code: "TIMEOUT".into() }, "skip").matches(&q));
        let before = req(ApprovalKind::BeforeRun, "http", None);
        assert!(!rule(RuleScope::Always, "skip").matches(&before), "an escalation rule does not approve a call");
        let json = serde_json::to_value(rule(RuleScope::Failure { tool: "http".into(), code: "TIMEOUT".into() }, "skip")).unwrap();
        assert_eq!(json["scope"], "failure");
        assert_eq!(
            serde_json::from_value::<DecisionRule>(json).unwrap().scope,
            RuleScope::Failure { tool: "http".into(), code: "TIMEOUT".into() }
        );
    }
}
