//! Diagnosis layers and the built-in policy.
//!
//! Layers run cheapest first (a learned lesson, the policy table, an LLM);
//! each returns proposals in its order of preference and the engine takes the
//! first one that passes validation. The policy layer needs no model and
//! heals the common failures by itself.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::Value;

use crate::action::{Action, Diagnosis};
use crate::code::DefaultPolicy;
use crate::event::Stats;
use crate::job::{Job, Step};
use crate::lesson::LessonMatch;
use crate::outcome::{Severity, ToolError};
use crate::report::AttemptReport;
use crate::tool::{Effect, Repair};

/// Everything a layer may look at.
#[derive(Debug)]
pub struct DiagnosisContext<'a> {
    /// The job.
    pub job: &'a Job,
    /// The failing step.
    pub step: &'a Step,
    /// The tool of the call that failed (the step's, or an alternative's).
    pub tool: &'a str,
    /// Its arguments, expanded (not redacted: layers run in-process).
    pub args: &'a Value,
    /// What the call does to the world, as its tool judges.
    pub effect: Effect,
    /// The failure.
    pub error: &'a ToolError,
    /// Attempts already made for this step.
    pub attempts: &'a [AttemptReport],
    /// `retry_same` attempts already made for this error code.
    pub retries_for_code: u32,
    /// Alternatives not tried yet, by index.
    pub untried_alternatives: Vec<usize>,
    /// Whether the verify call was already tried for this failure.
    pub verify_tried: bool,
    /// Why the failed call must not be sent again now, when it must not: it
    /// is not safe to repeat and its outcome is unknown (issue 14). Only a
    /// verify call that says the goal does not hold, or a person, lets it
    /// be sent again; the engine rejects every proposal that would resend
    /// it, so layers should not make one.
    pub in_doubt: Option<&'a str>,
    /// Argument changes the tool proposes for this failure.
    pub repairs: &'a [Repair],
    /// Fingerprints of strategies that already failed.
    pub tried: &'a HashSet<String>,
    /// Measured success rates.
    pub stats: &'a Stats,
    /// LLM tokens left in the job's budget.
    pub tokens_left: u64,
    /// Lessons the memory found for this failure, best first (top-k, never
    /// the whole file).
    pub lessons: &'a [LessonMatch],
    /// The job's redactor: anything that leaves the process (an LLM
    /// prompt) goes through it.
    pub redactor: &'a crate::redact::Redactor,
    /// The tools (their schemas, for a prompt).
    pub registry: &'a crate::tool::ToolRegistry,
    /// What the journal says lately about the failing call's subject (an
    /// MCP server's failures and starts in the last 30 minutes, its state
    /// and last stderr lines), from [`History`]: read when a layer that
    /// spends tokens will ask (issue 16, `read_logs` for the diagnosis).
    pub history: Option<&'a str>,
}

/// The audit trail for the diagnosis (issue 16): a short account of what
/// the journal says lately about a failing call's subject, so that a model
/// sees "this server failed 12 times in the last 30 minutes" before it
/// proposes a fix. Implemented over the journal by `mend_agent`.
#[async_trait]
pub trait History: Send + Sync {
    /// A few lines for `tool` called with `args` that failed with `error`,
    /// or `None` when the journal has nothing to say (or cannot be read).
    async fn recent(&self, tool: &str, args: &Value, error: &ToolError) -> Option<String>;
}

/// A diagnosis layer.
#[async_trait]
pub trait Diagnoser: Send + Sync {
    /// Its name in reports and the journal (`lesson`, `policy`, `llm`).
    fn layer(&self) -> &str;
    /// Whether it spends LLM tokens (skipped when the budget is spent).
    fn uses_tokens(&self) -> bool {
        false
    }
    /// Proposals, best first; empty when the layer has no opinion.
    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis>;
}

/// The built-in policy table: the default diagnoser, no model needed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PolicyDiagnoser;

/// Exponential backoff with equal jitter: half the capped delay is fixed,
/// half random, so retries spread out without ever hammering at zero delay.
/// A server's Retry-After is a floor.
pub fn backoff_ms(base_ms: u64, retry_n: u32, max_ms: u64, retry_after_ms: Option<u64>) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << retry_n.min(20));
    let cap = exp.min(max_ms).max(1);
    let jittered = cap / 2 + fastrand::u64(0..=cap - cap / 2);
    jittered.max(retry_after_ms.unwrap_or(0))
}

#[async_trait]
impl Diagnoser for PolicyDiagnoser {
    fn layer(&self) -> &str {
        "policy"
    }

    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let err = cx.error;
        let info = err.code.info();
        let cause = format!("{}: {}", err.code, err.message);
        let d = |action: Action, why: String| Diagnosis::new("policy", action, why);

        if err.severity == Severity::Critical {
            return vec![d(Action::Escalate, format!("{cause} (severity critical: a person must look)"))];
        }

        let retryable = err.retryable || cx.step.retry.also_on.contains(&err.code);
        let mut out = Vec::new();

        // A call that changes the world and broke off mid-way may have done
        // its work: check before sending it again (no double POST). A call
        // not safe to repeat is never sent again before that (issue 14).
        let maybe_done = cx.in_doubt.is_some() || (cx.effect != Effect::ReadOnly && crate::outcome::fate_unknown(err));
        if (matches!(info.policy, DefaultPolicy::Verify) || maybe_done) && cx.step.verify.is_some() && !cx.verify_tried {
            let why = if maybe_done {
                "the call may have done its work before it broke off, so check first"
            } else {
                "the goal may already hold, so check it"
            };
            out.push(d(Action::VerifyState, format!("{cause}; {why}")));
        }
        if cx.in_doubt.is_some() {
            return out;
        }
        let repairs_first = matches!(info.policy, DefaultPolicy::PathSearch | DefaultPolicy::Chunked | DefaultPolicy::LongerTimeout);
        let repairs = cx.repairs.iter().map(|r| d(Action::RetryModified { args: r.args.clone() }, format!("{cause}; {}", r.reason)));
        if repairs_first {
            out.extend(repairs.clone());
        }
        if retryable {
            let delay_ms = backoff_ms(cx.step.retry.base_ms, cx.retries_for_code, cx.step.retry.max_delay_ms, err.retry_after_ms());
            let why = match err.retry_after_ms() {
                Some(ra) => format!("{cause}; transient, the service asked to wait {ra} ms"),
                None => format!("{cause}; transient, back off and retry"),
            };
            out.push(d(Action::RetrySame { delay_ms }, why));
        }
        if !repairs_first {
            out.extend(repairs);
        }
        // The job's author declared the alternatives for this step: they are
        // worth a try for any failure that is not critical.
        for &i in &cx.untried_alternatives {
            out.push(d(Action::UseAlternative { index: i }, format!("{cause}; the step declares an alternative")));
        }

        // Where several actions apply, the best measured one goes first;
        // actions without enough samples keep their default order.
        out.sort_by(|a, b| {
            let r = |x: &Diagnosis| cx.stats.rate(err.code.as_str(), x.action.kind().as_str()).unwrap_or(0.5);
            r(b).partial_cmp(&r(a)).unwrap_or(std::cmp::Ordering::Equal)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::ErrorCode;
    use crate::job::{Call, RetryPolicy};
    use serde_json::json;

    fn job_with(step: Step) -> Job {
        Job {
            name: "j".into(),
            description: String::new(),
            base_dir: ".".into(),
            budget: Default::default(),
            approval: Default::default(),
            safety: Default::default(),
            secrets: vec![],
            schedule: None,
            steps: vec![step],
            mcp_servers: vec![],
        }
    }

    fn step() -> Step {
        Step {
            name: "s".into(),
            call: Call::new("http", json!({"url": "http://x"})),
            alternatives: vec![Call::new("http", json!({"url": "http://y"}))],
            verify: Some(Call::new("http", json!({"url": "http://x/health"}))),
            retry: RetryPolicy::default(),
            max_attempts: 6,
            wall_clock_ms: None,
            needs_approval: false,
            optional: false,
            idempotent: None,
            idempotency_key: None,
        }
    }

    async fn run(code: ErrorCode, stats: Stats, repairs: &[Repair]) -> Vec<String> {
        let job = job_with(step());
        let err = ToolError::new(code, "boom");
        let tried = HashSet::new();
        let cx = DiagnosisContext {
            job: &job,
            step: &job.steps[0],
            tool: "http",
            args: &job.steps[0].call.args,
            effect: Effect::ReadOnly,
            error: &err,
            attempts: &[],
            retries_for_code: 0,
            untried_alternatives: vec![0],
            verify_tried: false,
            in_doubt: None,
            repairs,
            tried: &tried,
            stats: &stats,
            tokens_left: 0,
            lessons: &[],
            redactor: &crate::redact::Redactor::new(Vec::<(String, String)>::new()),
            registry: &crate::tool::ToolRegistry::default(),
            history: None,
        };
        PolicyDiagnoser.diagnose(&cx).await.into_iter().map(|d| d.action.kind().to_string()).collect()
    }

    #[tokio::test]
    async fn each_code_family_gets_its_policy() {
        assert_eq!(run(ErrorCode::CONNECTION_REFUSED, Stats::default(), &[]).await, ["retry_same", "use_alternative"]);
        assert_eq!(run(ErrorCode::ALREADY_EXISTS, Stats::default(), &[]).await, ["verify_state", "use_alternative"]);
        assert_eq!(run(ErrorCode::UNAUTHORIZED, Stats::default(), &[]).await, ["use_alternative"]);
        assert_eq!(run(ErrorCode::BLOCKED, Stats::default(), &[]).await, ["escalate"]);
        let r = [Repair { args: json!({"url": "http://x", "timeout_ms": 2}), reason: "longer".into() }];
        assert_eq!(run(ErrorCode::TIMEOUT, Stats::default(), &r).await, ["retry_modified", "retry_same", "use_alternative"]);
        assert_eq!(run(ErrorCode::NOT_FOUND, Stats::default(), &r).await, ["retry_modified", "use_alternative"]);
    }

    #[tokio::test]
    async fn measured_success_reorders_candidates() {
        let mut stats = Stats::default();
        stats.by_code_action.insert(("CONNECTION_REFUSED".into(), "retry_same".into()), (1, 20));
        stats.by_code_action.insert(("CONNECTION_REFUSED".into(), "use_alternative".into()), (19, 20));
        assert_eq!(run(ErrorCode::CONNECTION_REFUSED, stats, &[]).await, ["use_alternative", "retry_same"]);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        for n in 0..10 {
            let d = backoff_ms(100, n, 5_000, None);
            let cap = (100u64 << n).min(5_000);
            assert!(d >= cap / 2 && d <= cap, "retry {n}: {d} not in [{}, {cap}]", cap / 2);
        }
        assert_eq!(backoff_ms(100, 0, 5_000, Some(2_000)), 2_000);
    }
}
