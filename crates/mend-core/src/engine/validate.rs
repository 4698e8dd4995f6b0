//! Whether a healing proposal may run: the closed action set's rules, the
//! tool's schema, the no-repeat rule, retry and wall-clock budgets — and the
//! rules for a call whose outcome is unknown (issue 14): when a step is in
//! doubt, what may not be sent again, and the words a person reads when
//! nothing heals.

use std::path::Path;

use serde_json::Value;

use super::{Current, Doubt, Run, StepState, expand_call};
use crate::action::{Action, Diagnosis};
use crate::event::{Event, Level};
use crate::job::Step;
use crate::outcome::{Outcome, ToolError, fate_unknown};
use crate::payload::{Body, CallPurpose, Guardrail};
use crate::tool::{Effect, ToolRegistry};

/// What a proposal is judged against: the failed call of a step, the
/// step's healing state, and the wall-clock time left. No I/O; built by
/// `Run::validate` (and by hand in tests).
#[derive(Clone, Copy)]
struct Situation<'a> {
    /// The tools: schemas, and what an alternative's call does.
    registry: &'a ToolRegistry,
    /// The run's environment, to expand an alternative's templates.
    env: &'a [(String, String)],
    /// The job's folder, to expand an alternative's templates.
    base_dir: &'a Path,
    /// The step being healed.
    step: &'a Step,
    /// What was tried, which alternatives and verify call ran, a doubt.
    st: &'a StepState,
    /// The call that failed.
    cur: &'a Current,
    /// How it failed.
    err: &'a ToolError,
    /// `retry_same` attempts already made for this error code.
    retries: u32,
    /// Wall-clock time left: the job's, or the step's when less.
    left_ms: u64,
}

impl Run<'_> {
    /// `validate` in this run: its tools, environment and time left.
    pub(super) fn validate(
        &self,
        step: &Step,
        st: &StepState,
        cur: &Current,
        err: &ToolError,
        d: &mut Diagnosis,
        retries: u32,
    ) -> Result<(), String> {
        let mut left_ms = self.job.budget.wall_clock_ms.saturating_sub(self.elapsed_ms());
        if let Some(limit) = step.wall_clock_ms {
            left_ms = left_ms.min(limit.saturating_sub(st.elapsed_ms()));
        }
        let s =
            Situation { registry: &self.e.registry, env: &self.env, base_dir: &self.job.base_dir, step, st, cur, err, retries, left_ms };
        validate(&s, d)
    }

    /// Why `cur`, one of `step`'s calls, may not be sent again when its
    /// outcome is unknown; `None` when it may (issue 14). A key the tool
    /// sends makes any call safe to repeat; then the step's `idempotent`
    /// flag; then the tool's judgment ([`crate::tool::Tool::idempotent`]).
    fn not_repeatable(&self, step: &Step, cur: &Current) -> Option<String> {
        let tool = self.e.registry.get(&cur.tool)?;
        if step.idempotency_key.is_some() && tool.takes_idempotency_key() {
            return None;
        }
        let by = match step.idempotent {
            Some(true) => return None,
            Some(false) => "the step says `idempotent = false`".to_owned(),
            None if tool.idempotent(&cur.args) => return None,
            None if cur.tool == "exec" => "Mend cannot know what a command does (a step says `idempotent = true` when it is)".to_owned(),
            None if cur.tool == "http" => {
                let m = cur.args.get("method").and_then(Value::as_str).unwrap_or("GET").to_uppercase();
                format!("{m} is not idempotent (RFC 9110 §9.2.2)")
            }
            None => format!("the `{}` tool says this call is not safe to repeat", cur.tool),
        };
        Some(by)
    }

    /// After a call of the step that failed: if its outcome is unknown and
    /// it is not safe to repeat, the step is in doubt until a verify call
    /// or a person clears it (issue 14). Journaled as a guardrail.
    pub(super) fn note_doubt(&self, step: &Step, st: &mut StepState, cur: &Current, outcome: &Outcome, purpose: CallPurpose) {
        let Some(e) = outcome.error.as_ref().filter(|_| !outcome.is_ok()) else { return };
        // A step that says its calls are not safe to repeat doubts every
        // failure of a call that ran; otherwise only an unknown fate.
        // What never ran: the tool says so (`sent: false`: a refused
        // connection, a program that could not start), or the call was
        // refused before it (bad arguments, the gate).
        let ran = !matches!(e.code.as_str(), "INVALID_ARGS" | "BLOCKED") && e.hints.get("sent").and_then(Value::as_bool) != Some(false);
        let doubted = fate_unknown(e) || (step.idempotent == Some(false) && ran);
        if !doubted || purpose == CallPurpose::Verify {
            return;
        }
        let Some(by) = self.not_repeatable(step, cur) else { return };
        let how = if fate_unknown(e) { format!("{} after it was sent", e.code) } else { format!("{} after it ran", e.code) };
        let why = format!(
            "`{}` may already have taken effect ({how}) and is not safe to repeat: {by}. \
             It is not sent again unless the step's verify call says the goal does not hold, or a person says so.",
            self.render(cur),
        );
        let ev = Event {
            tool: Some(cur.tool.clone()),
            code: Some(e.code.to_string()),
            ..self.event(
                Body::Guardrail(Guardrail::InDoubt { call_text: Some(self.render(cur)), cleared: false }),
                Level::Warn,
                Some(&step.name),
                why.clone(),
            )
        };
        self.emit(ev);
        st.doubt = Some(Doubt { why, call: cur.clone() });
    }

    /// Why no layer's proposal applies, in words a person reads (issue 14),
    /// when no proposal was made at all.
    pub(super) fn no_fix(&self, step: &Step, err: &ToolError, retries: u32, no_alternatives_left: bool) -> String {
        let mut why = Vec::new();
        let retryable = err.retryable || step.retry.also_on.contains(&err.code);
        if !retryable {
            why.push(format!("{} is not retried (the same call would fail the same way; `retry.on` opts a step in)", err.code));
        } else if retries >= step.retry.max {
            why.push(format!("its retries are spent ({retries} of the step's retry.max {})", step.retry.max));
        }
        if step.alternatives.is_empty() {
            why.push("the step declares no alternative".to_owned());
        } else if no_alternatives_left {
            why.push("every alternative was tried".to_owned());
        }
        if why.is_empty() {
            why.push("no layer proposed a fix".to_owned());
        }
        format!("not healed automatically: {}", why.join("; "))
    }
}

/// Code stays in charge: a proposal runs only if it fits the closed
/// action set's rules, the tool's schema and the no-repeat rule.
fn validate(s: &Situation<'_>, d: &mut Diagnosis) -> Result<(), String> {
    let Situation { registry, env, base_dir, step, st, cur, err, retries, left_ms: left } = *s;
    // Above every layer (issue 14): a call in doubt is not sent again —
    // not as it was, not changed, not as an alternative that does the
    // same work — before a verify call or a person says so.
    if let Some(Doubt { why, .. }) = &st.doubt {
        match &d.action {
            Action::RetrySame { .. } | Action::RetryModified { .. } => return Err(why.clone()),
            Action::UseAlternative { index } => {
                // Only an alternative that just reads, of a step that
                // does not say its calls are unsafe to repeat.
                let read_only = step.idempotent != Some(false)
                    && step.alternatives.get(*index).is_some_and(|a| {
                        let a = expand_call(a, env, base_dir);
                        registry.get(&a.tool).is_some_and(|t| t.effect(&a.args) == Effect::ReadOnly)
                    });
                if !read_only {
                    return Err(format!("{why} An alternative would do the same work a second time."));
                }
            }
            _ => {}
        }
    }
    match &mut d.action {
        Action::RetrySame { delay_ms } => {
            let retryable = err.retryable || step.retry.also_on.contains(&err.code);
            if !retryable {
                return Err(format!("{} is not retryable: the same call will fail the same way", err.code));
            }
            if retries >= step.retry.max {
                return Err(format!("retry budget for {} spent ({} of {})", err.code, retries, step.retry.max));
            }
            if let Some(ra) = err.retry_after_ms() {
                *delay_ms = (*delay_ms).max(ra);
            }
            if *delay_ms > step.retry.max_delay_ms {
                let asked = err.retry_after_ms().filter(|&ra| ra >= *delay_ms);
                return Err(match asked {
                    Some(ra) => {
                        format!("the service asked to wait {}, over this step's max_delay of {}", span(ra), span(step.retry.max_delay_ms))
                    }
                    None => format!("a wait of {} is over this step's max_delay of {}", span(*delay_ms), span(step.retry.max_delay_ms)),
                });
            }
            if *delay_ms >= left {
                return Err(format!("a wait of {} does not fit the {} left of the wall-clock budget", span(*delay_ms), span(left)));
            }
            Ok(())
        }
        Action::RetryModified { args } => {
            if *args == cur.args {
                return Err("the modified arguments are the same as the failed ones".into());
            }
            // The key a server dedups on stays the step's (issue 14).
            let named = |h: &str| {
                h.eq_ignore_ascii_case("idempotency-key") || step.idempotency_key.as_deref().is_some_and(|k| h.eq_ignore_ascii_case(k))
            };
            let keys = |a: &Value| -> Vec<(String, Value)> {
                let mut v: Vec<(String, Value)> = a
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| h.iter().filter(|(k, _)| named(k)).map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
                    .unwrap_or_default();
                v.sort_by(|x, y| x.0.cmp(&y.0));
                v
            };
            if keys(args) != keys(&cur.args) {
                return Err("a healing change may not set or change the idempotency key header".into());
            }
            registry.validate(&cur.tool, args).map_err(|p| {
                format!("arguments break the `{}` schema: {}", cur.tool, p.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; "))
            })?;
            if st.tried.contains(&fingerprint("retry_modified", &cur.tool, args)) {
                return Err("this exact change was already tried and failed".into());
            }
            Ok(())
        }
        Action::UseAlternative { index } => {
            let Some(alt) = step.alternatives.get(*index) else {
                return Err(format!("the step has no alternative #{index}"));
            };
            if st.used_alternatives.contains(index) {
                return Err(format!("alternative #{index} was already tried"));
            }
            if registry.get(&alt.tool).is_none() {
                return Err(format!("alternative tool `{}` does not exist", alt.tool));
            }
            Ok(())
        }
        Action::VerifyState => {
            if step.verify.is_none() {
                return Err("the step declares no verify call".into());
            }
            if st.verify_tried {
                return Err("the verify call already ran for this failure".into());
            }
            Ok(())
        }
        Action::AskUser { .. } | Action::Escalate | Action::Abort => Ok(()),
    }
}

/// A duration in ms as a person reads it: `86,400 s`, `2 s`, `250 ms`.
fn span(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        let digits = (ms / 1000).to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{out} s")
    } else if ms >= 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// What identifies a call tried for a failure: the no-repeat rule's key.
pub(super) fn fingerprint(action: &str, tool: &str, args: &Value) -> String {
    format!("{action}|{tool}|{args}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::code::ErrorCode;
    use crate::job::{Call, RetryPolicy};
    use crate::tool::{CallContext, Tool};

    /// A small HTTP-like tool: a GET only reads, anything else changes the world.
    struct Svc;

    #[async_trait]
    impl Tool for Svc {
        fn name(&self) -> &str {
            "svc"
        }
        fn description(&self) -> &str {
            "a test service"
        }
        fn schema(&self) -> Value {
            json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "method": {"type": "string"},
                    "headers": {"type": "object"},
                    "timeout_ms": {"type": "integer"}
                },
                "required": ["url"],
                "additionalProperties": false
            })
        }
        fn render(&self, args: &Value) -> String {
            format!("{} {}", args["method"].as_str().unwrap_or("GET"), args["url"].as_str().unwrap_or(""))
        }
        fn effect(&self, args: &Value) -> Effect {
            if args["method"].as_str().unwrap_or("GET") == "GET" { Effect::ReadOnly } else { Effect::Mutating }
        }
        async fn call(&self, _args: &Value, _ctx: &CallContext) -> Outcome {
            Outcome::success(Value::Null)
        }
    }

    /// A POST with two alternatives (another POST, a GET that only reads),
    /// one whose tool does not exist, and a verify call.
    fn step(g: &Given) -> Step {
        Step {
            name: "push".into(),
            call: Call::new("svc", json!({"url": "http://a/x", "method": "POST"})),
            alternatives: vec![
                Call::new("svc", json!({"url": "http://b/x", "method": "POST"})),
                Call::new("svc", json!({"url": "http://a/x"})),
                Call::new("gone", json!({})),
            ],
            verify: g.verify.then(|| Call::new("svc", json!({"url": "http://a/x/status"}))),
            retry: RetryPolicy { max: 3, base_ms: 250, max_delay_ms: 2_000, also_on: g.also_on.clone() },
            max_attempts: 6,
            wall_clock_ms: None,
            needs_approval: false,
            optional: false,
            idempotent: g.idempotent,
            idempotency_key: None,
        }
    }

    /// The situation a row judges its proposal in; rows change a few fields.
    struct Given {
        err: ToolError,
        also_on: Vec<ErrorCode>,
        retries: u32,
        left_ms: u64,
        idempotent: Option<bool>,
        verify: bool,
        verify_tried: bool,
        used: Vec<usize>,
        tried: Vec<Value>,
        in_doubt: bool,
    }

    impl Default for Given {
        fn default() -> Self {
            Given {
                err: ToolError::new(ErrorCode::SERVER_ERROR, "boom"),
                also_on: vec![],
                retries: 0,
                left_ms: 60_000,
                idempotent: None,
                verify: true,
                verify_tried: false,
                used: vec![],
                tried: vec![],
                in_doubt: false,
            }
        }
    }

    /// Judges the proposal `d` in the situation `g`: `Ok` or the reason.
    fn judge(g: &Given, d: &mut Diagnosis) -> Result<(), String> {
        let mut registry = ToolRegistry::new();
        registry.register(Arc::new(Svc)).unwrap();
        let step = step(g);
        let cur = Current { tool: "svc".into(), args: step.call.args.clone() };
        let mut st = StepState::new(&step);
        st.verify_tried = g.verify_tried;
        st.used_alternatives.extend(g.used.iter().copied());
        st.tried.extend(g.tried.iter().map(|a| fingerprint("retry_modified", "svc", a)));
        if g.in_doubt {
            st.doubt = Some(Doubt { why: "`POST http://a/x` may already have taken effect.".into(), call: cur.clone() });
        }
        let s = Situation {
            registry: &registry,
            env: &[],
            base_dir: Path::new("."),
            step: &step,
            st: &st,
            cur: &cur,
            err: &g.err,
            retries: g.retries,
            left_ms: g.left_ms,
        };
        validate(&s, d)
    }

    #[test]
    fn proposals_are_judged_by_the_rules_of_their_action() {
        let same = |delay_ms| Action::RetrySame { delay_ms };
        let modified = |args: Value| Action::RetryModified { args };
        let alt = |index| Action::UseAlternative { index };
        let longer = json!({"url": "http://a/x", "method": "POST", "timeout_ms": 9000});
        let rate_limited = |ms: u64| ToolError::new(ErrorCode::RATE_LIMITED, "slow down").hint("retry_after_ms", ms);
        let doubt = || Given { in_doubt: true, ..Given::default() };
        let rows: Vec<(&str, Given, Action, Result<(), &str>)> = vec![
            // retry_same
            ("a transient failure is retried", Given::default(), same(100), Ok(())),
            (
                "a failure that is not retryable",
                Given { err: ToolError::new(ErrorCode::NOT_FOUND, "gone"), ..Given::default() },
                same(100),
                Err("NOT_FOUND is not retryable: the same call will fail the same way"),
            ),
            (
                "retry.on opts a step in",
                Given { err: ToolError::new(ErrorCode::NON_ZERO_EXIT, "1"), also_on: vec![ErrorCode::NON_ZERO_EXIT], ..Given::default() },
                same(100),
                Ok(()),
            ),
            (
                "the retry budget is spent",
                Given { retries: 3, ..Given::default() },
                same(100),
                Err("retry budget for SERVER_ERROR spent (3 of 3)"),
            ),
            (
                "Retry-After over max_delay",
                Given { err: rate_limited(86_400_000), ..Given::default() },
                same(100),
                Err("the service asked to wait 86,400 s, over this step's max_delay of 2 s"),
            ),
            ("Retry-After within max_delay", Given { err: rate_limited(1_500), ..Given::default() }, same(100), Ok(())),
            ("a backoff over max_delay", Given::default(), same(5_000), Err("a wait of 5 s is over this step's max_delay of 2 s")),
            (
                "a wait over the wall-clock left",
                Given { left_ms: 1_000, ..Given::default() },
                same(1_500),
                Err("a wait of 1500 ms does not fit the 1 s left of the wall-clock budget"),
            ),
            // retry_modified
            ("a changed argument", Given::default(), modified(longer.clone()), Ok(())),
            (
                "the same arguments",
                Given::default(),
                modified(json!({"url": "http://a/x", "method": "POST"})),
                Err("the modified arguments are the same as the failed ones"),
            ),
            ("arguments that break the schema", Given::default(), modified(json!({"url": 5})), Err("arguments break the `svc` schema")),
            (
                "a change already tried",
                Given { tried: vec![longer.clone()], ..Given::default() },
                modified(longer.clone()),
                Err("this exact change was already tried and failed"),
            ),
            (
                "a change of the idempotency key header",
                Given::default(),
                modified(json!({"url": "http://a/x", "method": "POST", "headers": {"Idempotency-Key": "mine"}})),
                Err("a healing change may not set or change the idempotency key header"),
            ),
            // use_alternative
            ("an untried alternative", Given::default(), alt(0), Ok(())),
            ("an alternative the step does not have", Given::default(), alt(7), Err("the step has no alternative #7")),
            ("an alternative already used", Given { used: vec![0], ..Given::default() }, alt(0), Err("alternative #0 was already tried")),
            ("an alternative whose tool does not exist", Given::default(), alt(2), Err("alternative tool `gone` does not exist")),
            // verify_state
            ("a verify call", Given::default(), Action::VerifyState, Ok(())),
            ("no verify call", Given { verify: false, ..Given::default() }, Action::VerifyState, Err("the step declares no verify call")),
            (
                "the verify call already ran",
                Given { verify_tried: true, ..Given::default() },
                Action::VerifyState,
                Err("the verify call already ran for this failure"),
            ),
            // a person decides
            ("escalate", Given::default(), Action::Escalate, Ok(())),
            ("abort", Given::default(), Action::Abort, Ok(())),
            // a call in doubt (issue 14)
            ("in doubt: the same call again", doubt(), same(100), Err("may already have taken effect")),
            ("in doubt: a changed call", doubt(), modified(longer.clone()), Err("may already have taken effect")),
            ("in doubt: an alternative that changes", doubt(), alt(0), Err("An alternative would do the same work a second time.")),
            ("in doubt: an alternative that only reads", doubt(), alt(1), Ok(())),
            ("in doubt: the verify call", doubt(), Action::VerifyState, Ok(())),
            (
                "in doubt, idempotent = false: an alternative that only reads",
                Given { idempotent: Some(false), ..doubt() },
                alt(1),
                Err("An alternative would do the same work a second time."),
            ),
        ];
        for (what, given, action, expected) in rows {
            match (judge(&given, &mut Diagnosis::new("test", action, "because")), expected) {
                (Ok(()), Ok(())) => {}
                (Err(reason), Err(part)) => assert!(reason.contains(part), "{what}: `{reason}` does not say `{part}`"),
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn retry_after_raises_the_delay_of_a_retry() {
        let mut d = Diagnosis::new("policy", Action::RetrySame { delay_ms: 100 }, "busy");
        let g = Given { err: ToolError::new(ErrorCode::RATE_LIMITED, "slow down").hint("retry_after_ms", 1_500u64), ..Given::default() };
        assert_eq!(judge(&g, &mut d), Ok(()));
        assert_eq!(d.action, Action::RetrySame { delay_ms: 1_500 });
    }

    #[test]
    fn spans_read_as_a_person_reads_them() {
        for (ms, shown) in [(250, "250 ms"), (1_500, "1500 ms"), (2_000, "2 s"), (86_400_000, "86,400 s"), (12_345, "12.3 s")] {
            assert_eq!(span(ms), shown);
        }
    }
}
