//! Asking a person: an escalation when healing cannot or may not go on
//! (with its recommendation), a call whose outcome is unknown (issue 14) or
//! that may have run before the process ended (issue 12), and the one path
//! every request takes — persisted, answered (a remembered rule, the
//! approver, or the timeout policy), and its decision journaled.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Current, EngineError, InDoubt, Resolution, Run, StepState, new_id, says_not_done};
use crate::action::Diagnosis;
use crate::approval::{Answer, ApprovalKind, ApprovalOption, ApprovalRequest, CallSource, Choice, Danger, DecidedBy, Decision, OnTimeout};
use crate::code::ErrorCode;
use crate::event::{Event, Level};
use crate::job::Step;
use crate::lesson::{LessonMatch, subject_of};
use crate::outcome::ToolError;
use crate::payload::{Body, CallPurpose, Guardrail};
use crate::report::{EscalationReport, StepStatus};

impl Run<'_> {
    /// Raises an escalation with the diagnosis, a recommendation and options.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn escalate(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &Current,
        err: &ToolError,
        d: &Diagnosis,
        exhausted: bool,
        question: Option<&str>,
    ) -> Result<Resolution, EngineError> {
        if let Some((why, call)) = st.doubt.as_ref().map(|d| (d.why.clone(), d.call.clone())) {
            return self.ask_resend(step, st, &call, err, d, &why, question).await;
        }
        let retryable = err.retryable || step.retry.also_on.contains(&err.code);
        let mut options = vec![ApprovalOption::retry()];
        for (i, alt) in step.alternatives.iter().enumerate() {
            if !st.used_alternatives.contains(&i) {
                options.push(ApprovalOption::alternative(i, &self.render(&self.expand(alt))));
            }
        }
        options.push(ApprovalOption::skip());
        options.push(ApprovalOption::abort());

        // A standing rule or a timeout may grant one more round per step,
        // never an endless loop of them: after that only a person can.
        let auto_retried = st
            .rep
            .escalations
            .iter()
            .filter_map(|e| e.decision.as_ref())
            .any(|d| d.option == "retry" && !matches!(d.decided_by, DecidedBy::Person { .. }));
        let (recommended, recommendation) = recommend(&Grounds {
            options: &options,
            lessons: &st.lessons,
            code: &err.code,
            retryable,
            retries_spent: exhausted || st.retries.get(&err.code).copied().unwrap_or(0) >= step.retry.max,
            auto_retried,
            optional: step.optional,
        });
        // Recommended option first.
        if let Some(pos) = options.iter().position(|o| o.id == recommended) {
            let o = options.remove(pos);
            options.insert(0, o);
        }
        let shown = self.render(cur);
        let mut what = format!("`{shown}` failed with {}: {}", err.code, err.message);
        for key in ["http_status", "exit_code", "stderr_tail"] {
            if let Some(v) = err.hints.get(key) {
                what.push_str(&format!("\n{key}: {}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
            }
        }
        // The code's facts first; a model's reading of them, clearly apart.
        let mut diagnosis = match (d.layer.as_str(), &d.advice) {
            ("llm", advice) => format!(
                "What the code knows: {} {} after {} attempt(s).\n\nWhat the model{} thinks (advice, not a fact): {}{}",
                err.code,
                if retryable { "(transient)" } else { "(not transient)" },
                st.rep.attempts.len(),
                d.model.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(),
                d.root_cause,
                advice.as_deref().map(|a| format!("\nIt recommends: {a}")).unwrap_or_default()
            ),
            _ => format!("[{}] {}", d.layer, d.root_cause),
        };
        if let Some(q) = question {
            diagnosis.push_str(&format!("\nQuestion: {q}"));
        }
        let title = if exhausted {
            format!("{} › {}: still failing ({}) after {} attempt(s)", self.job.name, step.name, err.code, st.rep.attempts.len())
        } else {
            format!("{} › {}: {} needs a decision", self.job.name, step.name, err.code)
        };
        let mut req = self.request(step, st, ApprovalKind::Escalation, title, what, diagnosis, recommendation, options);
        req.tool = Some(cur.tool.clone());
        req.code = Some(err.code.to_string());
        req.subject = subject_of(&cur.tool, &cur.args).map(|s| self.redactor.text(&s));
        self.ask(step, st, req, true).await
    }

    /// Asks a person whether to send a call in doubt again (issue 14): it
    /// may already have happened. A remembered decision never answers this,
    /// nor does a lesson's recommendation: only a person knows.
    #[allow(clippy::too_many_arguments)]
    async fn ask_resend(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &Current,
        err: &ToolError,
        d: &Diagnosis,
        why: &str,
        question: Option<&str>,
    ) -> Result<Resolution, EngineError> {
        let shown = self.render(cur);
        let options = vec![ApprovalOption::it_happened(), ApprovalOption::send_again(&shown), ApprovalOption::abort()];
        let mut what = format!("`{shown}` failed with {}: {}", err.code, err.message);
        for key in ["http_status", "exit_code", "stderr_tail"] {
            if let Some(v) = err.hints.get(key) {
                what.push_str(&format!("\n{key}: {}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
            }
        }
        let mut diagnosis = why.to_owned();
        if d.layer == "llm" {
            diagnosis.push_str(&format!("\n\nWhat the model thinks (advice, not a fact): {}", d.root_cause));
        }
        if step.verify.is_none() {
            diagnosis.push_str("\nThe step declares no verify call to check it with.");
        }
        if let Some(q) = question {
            diagnosis.push_str(&format!("\nQuestion: {q}"));
        }
        let mut req = self.request(
            step,
            st,
            ApprovalKind::InDoubt,
            format!("{} › {}: `{shown}` may already have happened", self.job.name, step.name),
            what,
            diagnosis,
            "Do not send it twice unasked: check whether it took effect, then go on, or send it again if it did not.".to_owned(),
            options,
        );
        req.call = Some(shown);
        req.tool = Some(cur.tool.clone());
        req.code = Some(err.code.to_string());
        req.subject = subject_of(&cur.tool, &cur.args).map(|s| self.redactor.text(&s));
        req.call_digest = Some(self.digest(cur));
        req.call_source = Some(self.source_of(step, cur));
        req.danger = self.danger(cur).map(|f| Danger {
            category: f.category.as_str().to_owned(),
            rule: self.redactor.text(&f.rule),
            command: self.redactor.text(&f.command),
            why: self.redactor.text(&f.why),
            span: None,
        });
        self.ask(step, st, req, false).await
    }

    /// A request about `step`, redacted, with the step's attempts so far;
    /// the first option is the recommended one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request(
        &self,
        step: &Step,
        st: &StepState,
        kind: ApprovalKind,
        title: String,
        what_happened: String,
        diagnosis: String,
        recommendation: String,
        options: Vec<ApprovalOption>,
    ) -> ApprovalRequest {
        let attempts = st
            .rep
            .attempts
            .iter()
            .map(|a| json!({"n": a.n, "action": a.action, "layer": a.layer, "status": a.outcome.status, "code": a.outcome.code(), "duration_ms": a.duration_ms}))
            .collect();
        ApprovalRequest {
            id: new_id(),
            run_id: self.ctx.run_id.clone(),
            job: self.job.name.clone(),
            step: step.name.clone(),
            kind,
            // Which agent asks, first: a person sees whose call it is.
            title: self.redactor.text(&match &self.agent {
                Some(a) => format!("{a}: {title}"),
                None => title,
            }),
            what_happened: self.redactor.text(&what_happened),
            diagnosis: self.redactor.text(&diagnosis),
            recommended: options.first().map(|o| o.id.clone()).unwrap_or_default(),
            recommendation,
            options,
            attempts,
            created_ms: self.e.clock.now_ms(),
            timeout_ms: self.job.approval.timeout_ms,
            on_timeout: self.job.approval.on_timeout,
            call: None,
            tool: None,
            code: None,
            subject: None,
            danger: None,
            call_digest: None,
            call_source: None,
            agent: self.agent.clone(),
        }
    }

    /// A call of this step may have run: the run's process ended after its
    /// "call started" record and before its outcome (issue 12). Nothing runs
    /// again silently: the step's verify call (when it has one and the gate
    /// lets it run unasked) says whether the step's effect is there, and a
    /// person decides. `Ok(approved)` runs the step (`true`: its own call,
    /// approved as shown); `Err(status)` ends it.
    pub(super) async fn in_doubt(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &Current,
        d: InDoubt,
    ) -> Result<Result<bool, StepStatus>, EngineError> {
        let shown = self.render(cur);
        let own = d.call == shown;
        // The verify call answers, unless it is the call in doubt (it is not
        // run again to answer about itself) or the gate would ask first.
        let verify_in_doubt = d.purpose == "verify" || step.verify.as_ref().is_some_and(|v| self.render(&self.expand(v)) == d.call);
        let verify = match &step.verify {
            Some(v) if !verify_in_doubt => {
                let v = self.expand(v);
                if self.verdict(&v).asks.is_empty() {
                    Some((self.render(&v), self.call(step, &v, CallPurpose::Verify).await?))
                } else {
                    None
                }
            }
            _ => None,
        };
        let started = time_of_day(d.started_ms);
        let what = match &d.stopped {
            Some(how) => format!(
                "The run was interrupted while this {} was running, started at {started}: `{}`. {how}: it may have done part of its work.",
                d.purpose, d.call
            ),
            None => format!(
                "Mend's process ended (killed, crashed, or the machine went down) while this {} was running, started at {started}: `{}`. \
                 Whether it finished, and what it did, is unknown.",
                d.purpose, d.call
            ),
        };
        let (diagnosis, done) = match &verify {
            Some((v, o)) if o.is_ok() => (format!("The step's verify call `{v}` succeeds: what the step does looks done."), true),
            Some((v, o)) if !says_not_done(o) => (
                format!(
                    "The step's verify call `{v}` could not tell ({}): check by hand before running it again.",
                    o.error.as_ref().map(|e| format!("{} {}", e.code, e.message)).unwrap_or_default()
                ),
                true,
            ),
            Some((v, o)) => (
                format!(
                    "The step's verify call `{v}` fails ({}): what the step does looks not done.",
                    o.error.as_ref().map(|e| format!("{} {}", e.code, e.message)).unwrap_or_default()
                ),
                false,
            ),
            None if verify_in_doubt => {
                ("The call in doubt is the step's verify call; it was not run again to answer: check by hand.".to_owned(), true)
            }
            None => ("The step has no verify call: check by hand before running it again.".to_owned(), true),
        };
        let skip = ApprovalOption::it_ran();
        let again = if own { ApprovalOption::run_again(&shown) } else { ApprovalOption::rerun_step() };
        let abort = ApprovalOption::abort();
        let (options, recommendation) = if done {
            let why = match (&verify, &d.stopped) {
                (None, Some(_)) => {
                    "It was cut off part-way: check what it did before choosing; going on without running it again is the safe default."
                }
                _ => "Do not run it twice unasked: go on unless you find it did not run.",
            };
            (vec![skip, again, abort], why.to_owned())
        } else {
            (vec![again, skip, abort], "The verify call says the step's effect is not there: run it again.".to_owned())
        };
        let mut req = self.request(
            step,
            st,
            ApprovalKind::InDoubt,
            format!("`{}` may have run: check before running it again", d.call),
            what,
            diagnosis,
            recommendation,
            options,
        );
        req.call = Some(d.call.clone());
        req.tool = Some(d.tool.clone());
        if own {
            req.call_digest = Some(self.digest(cur));
            req.call_source = Some(CallSource::Step);
            req.danger = self.danger(cur).map(|f| Danger {
                category: f.category.as_str().to_owned(),
                rule: self.redactor.text(&f.rule),
                command: self.redactor.text(&f.command),
                why: self.redactor.text(&f.why),
                span: None,
            });
        }
        // A remembered decision never answers this: only a person knows.
        Ok(match self.ask(step, st, req, false).await? {
            Resolution::Waiting => Err(StepStatus::Waiting),
            Resolution::Chose(Choice::Skip, _) => Err(StepStatus::Skipped),
            Resolution::Chose(Choice::Abort, dec) => {
                let person = matches!(dec.decided_by, DecidedBy::Person { .. });
                self.stop = Some(person);
                Err(if person { StepStatus::Aborted } else { StepStatus::Failed })
            }
            Resolution::Chose(Choice::Run, _) => Ok(own),
            Resolution::Chose(Choice::Retry, _) => Ok(false),
            Resolution::Chose(Choice::Alternative { .. }, _) => Err(StepStatus::Failed),
        })
    }

    /// Persists the request, waits for the approver (bounded by the job's
    /// timeout) and journals the decision.
    pub(super) async fn ask(
        &mut self,
        step: &Step,
        st: &mut StepState,
        req: ApprovalRequest,
        remembered_ok: bool,
    ) -> Result<Resolution, EngineError> {
        self.e.journal.save_approval(&req).await?;
        let ev = self.event(Body::Escalation(Box::new(req.clone())), Level::Warn, Some(&step.name), req.title.clone());
        self.emit(ev);
        self.e.journal.flush().await?;

        let t0 = Instant::now();
        let remembered = self.e.rules.iter().filter(|_| remembered_ok).find(|r| r.matches(&req));
        let answer = match (remembered, req.timeout_ms) {
            // A remembered decision answers without asking; the journal says which.
            (Some(rule), _) => Some(Answer::Decided(rule.decision(self.e.clock.now_ms()))),
            (None, Some(ms)) => tokio::time::timeout(Duration::from_millis(ms), self.e.approver.decide(&req)).await.ok(),
            (None, None) => Some(self.e.approver.decide(&req).await),
        };
        self.paused += t0.elapsed();
        st.paused += t0.elapsed();

        let recorded = matches!(answer, Some(Answer::Recorded(_)));
        let decision = match answer {
            Some(Answer::Decided(d) | Answer::Recorded(d)) if req.option(&d.option).is_some() => Some(d),
            Some(Answer::Decided(d) | Answer::Recorded(d)) => {
                let ev = self.event(
                    Body::Guardrail(Guardrail::UnknownOption),
                    Level::Warn,
                    Some(&step.name),
                    format!("decision `{}` is not an option of request {}", d.option, req.id),
                );
                self.emit(ev);
                None
            }
            Some(Answer::Pending) => None,
            None => {
                let option = match req.on_timeout {
                    OnTimeout::Wait => None,
                    OnTimeout::Abort => Some("abort".to_owned()),
                    OnTimeout::Skip => Some("skip".to_owned()),
                    OnTimeout::Recommended => Some(req.recommended.clone()),
                };
                let ev = self.event(
                    Body::Guardrail(Guardrail::ApprovalTimeout { request: req.id.clone() }),
                    Level::Warn,
                    Some(&step.name),
                    format!("nobody answered request {} in {} ms: on_timeout = {:?}", req.id, req.timeout_ms.unwrap_or(0), req.on_timeout)
                        .to_lowercase(),
                );
                self.emit(ev);
                option.map(|option| Decision {
                    option,
                    instructions: None,
                    decided_by: DecidedBy::Timeout,
                    decided_ms: self.e.clock.now_ms(),
                })
            }
        };
        let mut esc =
            EscalationReport { request_id: req.id.clone(), title: req.title.clone(), recommended: req.recommended.clone(), decision: None };
        let Some(mut decision) = decision else {
            st.rep.escalations.push(esc);
            return Ok(Resolution::Waiting);
        };
        decision.instructions = decision.instructions.map(|i| self.redactor.text(&i));
        let Some(option) = req.option(&decision.option) else { return Ok(Resolution::Waiting) };
        if recorded {
            // Decided and journaled elsewhere; storing it again only marks it
            // acted on (and yields the one decision that holds).
            let held = self.e.journal.resolve_approval(&req.id, &decision).await?;
            let Some(option) = req.option(&held.option) else { return Ok(Resolution::Waiting) };
            let ev = self.event(
                Body::Guardrail(Guardrail::DecidedElsewhere { request: req.id.clone(), option: option.id.clone() }),
                Level::Info,
                Some(&step.name),
                format!("request {} was decided elsewhere: `{}` ({}); going on with it", req.id, option.id, option.label),
            );
            self.emit(ev);
            esc.decision = Some(held.clone());
            st.rep.escalations.push(esc);
            return Ok(Resolution::Chose(option.choice.clone(), held));
        }
        let held = self.e.journal.resolve_approval(&req.id, &decision).await?;
        if held != decision {
            // Someone else decided first (the desktop app and a terminal at
            // once): theirs is the one decision, already journaled.
            let Some(option) = req.option(&held.option) else { return Ok(Resolution::Waiting) };
            esc.decision = Some(held.clone());
            st.rep.escalations.push(esc);
            return Ok(Resolution::Chose(option.choice.clone(), held));
        }
        // The one decision event (issue 15), timed by this run's clock.
        let ev =
            Event { ts_ms: self.e.clock.now_ms(), duration_ms: Some(t0.elapsed().as_millis() as u64), ..req.decision_event(&decision, "") };
        self.emit(ev);
        self.e.journal.flush().await?;
        esc.decision = Some(decision.clone());
        st.rep.escalations.push(esc);
        if matches!(decision.decided_by, DecidedBy::Person { .. }) {
            self.decided.push((req.clone(), decision.clone()));
        }
        Ok(Resolution::Chose(option.choice.clone(), decision))
    }
}

/// `HH:MM:SS` UTC of a time in ms since epoch, for a person.
fn time_of_day(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// What the recommendation of an escalation is chosen from.
struct Grounds<'a> {
    /// The request's options (retry, the untried alternatives, skip, abort).
    options: &'a [ApprovalOption],
    /// The lessons found for the failure.
    lessons: &'a [LessonMatch],
    /// The failure's code.
    code: &'a ErrorCode,
    /// The failure is retried (transient, or the step's `retry.on`).
    retryable: bool,
    /// The step's attempt budget, or its retries for this code, are spent.
    retries_spent: bool,
    /// A standing rule or a timeout already granted this step a retry.
    auto_retried: bool,
    /// A failure of the step does not fail the job.
    optional: bool,
}

/// The option an escalation recommends, and why, best first: a person's
/// choice a lesson recorded for this failure (if it is an option), an
/// alternative not tried yet, a retry of a transient failure whose budget
/// is spent (once per step unless a person grants more), skipping an
/// optional step, else aborting.
fn recommend(g: &Grounds<'_>) -> (String, String) {
    let has = |id: &str| g.options.iter().any(|o| o.id == id);
    let learned = g.lessons.iter().filter(|l| l.applies).find_map(|l| {
        let id = l.recommends()?;
        has(id).then(|| (id.to_owned(), l.id.clone()))
    });
    let first_alt = g.options.iter().find(|o| matches!(o.choice, Choice::Alternative { .. }));
    if let Some((option, lesson)) = learned {
        (option, format!("The last time this failed, a person chose this (lesson `{lesson}`)."))
    } else if let Some(alt) = first_alt {
        (alt.id.clone(), "A declared alternative has not been tried yet.".to_owned())
    } else if g.retryable && g.retries_spent && !g.auto_retried {
        ("retry".to_owned(), format!("{} is transient: the service may be back by now.", g.code))
    } else if g.optional {
        ("skip".to_owned(), "The step is optional; the job can finish without it.".to_owned())
    } else {
        ("abort".to_owned(), format!("{} will not go away by retrying: fix the cause, then re-run the job.", g.code))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lesson::LessonFix;

    /// A lesson that recorded a person's choice `option` for the failure.
    fn lesson(option: &str, applies: bool) -> LessonMatch {
        LessonMatch {
            id: "l1".into(),
            section: "Failures".into(),
            text: "a person chose".into(),
            fix: Some(LessonFix { action: "escalate".into(), args: Some(json!({"recommend": option})) }),
            applies,
            specificity: 0,
            seen: 1,
            failures: 0,
            score: 1.0,
        }
    }

    /// (what, a lesson's recorded choice and whether it applies, an untried
    /// alternative?, retryable, retries spent, a retry already granted
    /// unasked, optional step) → the recommended option and a part of why.
    type Row = (&'static str, Option<(&'static str, bool)>, bool, bool, bool, bool, bool, &'static str, &'static str);

    #[test]
    fn an_escalation_recommends_the_best_grounded_option() {
        #[rustfmt::skip]
        let rows: [Row; 12] = [
            ("a person's earlier choice comes first", Some(("skip", true)), true, true, true, false, false, "skip", "lesson `l1`"),
            ("a learned alternative", Some(("alt-0", true)), true, false, false, false, false, "alt-0", "a person chose this"),
            ("a learned choice that is not an option", Some(("alt-0", true)), false, true, true, false, false, "retry", "transient"),
            ("a lesson that does not apply", Some(("skip", false)), false, false, false, false, false, "abort", "will not go away"),
            ("an untried alternative", None, true, true, true, false, true, "alt-0", "not been tried"),
            ("transient, retries spent", None, false, true, true, false, false, "retry", "RATE_LIMITED is transient"),
            ("transient, retries left", None, false, true, false, false, false, "abort", "fix the cause"),
            ("transient, spent, a retry already granted", None, false, true, true, true, false, "abort", "fix the cause"),
            ("transient, spent, granted, optional", None, false, true, true, true, true, "skip", "optional"),
            ("not transient, optional", None, false, false, true, false, true, "skip", "optional"),
            ("not transient", None, false, false, true, false, false, "abort", "RATE_LIMITED will not go away by retrying"),
            ("nothing spent, optional", None, false, true, false, false, true, "skip", "the job can finish without it"),
        ];
        for (what, learned, alt, retryable, retries_spent, auto_retried, optional, want, why_part) in rows {
            let mut options = vec![ApprovalOption::retry()];
            if alt {
                options.push(ApprovalOption::alternative(0, "GET http://b/x"));
            }
            options.extend([ApprovalOption::skip(), ApprovalOption::abort()]);
            let lessons: Vec<LessonMatch> = learned.map(|(o, applies)| lesson(o, applies)).into_iter().collect();
            let (got, why) = recommend(&Grounds {
                options: &options,
                lessons: &lessons,
                code: &ErrorCode::RATE_LIMITED,
                retryable,
                retries_spent,
                auto_retried,
                optional,
            });
            assert_eq!(got, want, "{what}");
            assert!(why.contains(why_part), "{what}: `{why}` does not say `{why_part}`");
        }
    }
}
