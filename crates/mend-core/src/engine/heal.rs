//! One step and its healing loop: the step's entry (fresh, approved, an
//! alternative, going on after a crash), its call, and on failure the
//! loop — guardrails, diagnosis by the layers, the chosen attempt through
//! the safety gate, recovery or escalation.

use std::time::{Duration, Instant};

use super::validate::fingerprint;
use super::{Current, Doubt, EngineError, Entry, Origin, Prior, Resolution, Run, StepState, says_not_done};
use crate::action::{Action, ActionKind, Diagnosis};
use crate::approval::{CallSource, Choice, DecidedBy};
use crate::code::ErrorCode;
use crate::diagnose::DiagnosisContext;
use crate::event::{Event, Level};
use crate::job::{Call, Step};
use crate::lesson::{FailureQuery, TOP_K, subject_of};
use crate::outcome::{Outcome, ToolError};
use crate::payload::{Attempted, Body, CallPurpose, Diagnosed, Guardrail, LessonSeen, Recovered, Rejected, StepFinished, StepStarted};
use crate::report::{AttemptReport, FailureReport, StepReport, StepStatus, args_diff};
use crate::tool::Effect;

impl Run<'_> {
    /// Runs one step from `entry` to its end, journaled from
    /// `step_started` to `step_finished`.
    pub(super) async fn step(&mut self, step: &Step, entry: Entry) -> Result<StepReport, EngineError> {
        let mut st = StepState::new(step);
        let mut cur = self.expand(&step.call);
        let mut approved = false;
        let mut in_doubt = None;
        let mut resumed = None;
        let continued = matches!(entry, Entry::Continue(_));
        let early = match entry {
            Entry::Fresh => None,
            Entry::Continue(prior) => self.continue_step(step, &mut st, &mut cur, prior, &mut resumed),
            Entry::InDoubt(d) => {
                in_doubt = Some(d);
                None
            }
            Entry::Approved(call, command, digest, source, doubt) => {
                // The approved call: the step's own, an alternative, the
                // verify call or a healing proposal (one whose arguments held
                // a secret cannot be rebuilt from the journal: it asks again).
                let target = match &source {
                    None | Some(CallSource::Step) => Some(cur.clone()),
                    Some(CallSource::Alternative { index }) => step.alternatives.get(*index).map(|a| self.expand(a)),
                    Some(CallSource::Verify) => step.verify.as_ref().map(|v| self.expand(v)),
                    Some(CallSource::Proposal { tool, args }) => {
                        (!args.to_string().contains("[REDACTED")).then(|| Current { tool: tool.clone(), args: args.clone() })
                    }
                };
                // The approval holds for exactly the call that was shown, as
                // the gate reads it now: `rm -rf "$TARGET"` approved for
                // `./build` does not run for another TARGET.
                if let Some(t) = target
                    && call == self.render(&t)
                    && self.danger(&t).map(|d| self.redactor.text(&d.command)) == command
                    && digest.is_none_or(|d| d == self.digest(&t))
                {
                    approved = true;
                    if let Some(CallSource::Alternative { index }) = source {
                        st.used_alternatives.insert(index);
                    }
                    cur = t;
                }
                if !approved {
                    in_doubt = doubt;
                }
                None
            }
            Entry::Alternative(i) => match step.alternatives.get(i) {
                Some(alt) => {
                    st.used_alternatives.insert(i);
                    cur = self.expand(alt);
                    None
                }
                None => Some(StepStatus::Failed),
            },
            Entry::Skip => Some(StepStatus::Skipped),
            Entry::Abort(person) => {
                self.stop = Some(person);
                Some(if person { StepStatus::Aborted } else { StepStatus::Failed })
            }
        };
        let ev = Event {
            tool: Some(cur.tool.clone()),
            ..self.event(
                Body::StepStarted(StepStarted { continued }),
                Level::Info,
                Some(&step.name),
                format!("step `{}`: {}", step.name, self.render(&cur)),
            )
        };
        // A step going on after a crash is the same step: its history (and
        // budgets) reach back to where it first started (issue 12).
        self.emit(ev);

        let status = match (early, in_doubt) {
            (Some(s), _) => s,
            (None, Some(d)) => match self.in_doubt(step, &mut st, &cur, d).await? {
                Ok(approved) => self.heal(step, &mut st, cur, approved, None).await?,
                Err(status) => status,
            },
            (None, None) => self.heal(step, &mut st, cur, approved, resumed).await?,
        };
        st.rep.status = status;
        st.rep.duration_ms = st.t0.elapsed().as_millis() as u64;
        let level = if status.is_ok() { Level::Info } else { Level::Error };
        let person =
            st.rep.escalations.iter().any(|e| matches!(e.decision.as_ref().map(|d| &d.decided_by), Some(DecidedBy::Person { .. })));
        let body = Body::StepFinished(StepFinished { status, attempts: st.rep.attempts.len(), failed_first: st.failed_first, person });
        let ev = Event {
            ok: Some(status.is_ok()),
            duration_ms: Some(st.rep.duration_ms),
            ..self.event(body, level, Some(&step.name), format!("step `{}` {:?}", step.name, status).to_lowercase())
        };
        self.emit(ev);
        Ok(st.rep)
    }

    /// The loop for one step. Returns how the step ended.
    /// `resumed`: the outcome the step's last call had before its run's
    /// process ended (issue 12): healing goes on from it without calling.
    async fn heal(
        &mut self,
        step: &Step,
        st: &mut StepState,
        mut cur: Current,
        approved: bool,
        resumed: Option<Outcome>,
    ) -> Result<StepStatus, EngineError> {
        let mut outcome = match resumed {
            Some(o) => o,
            None => {
                // Approval before the first call: the step asks for it, or the call is destructive.
                if !approved && let Some(end) = self.gate(step, st, &cur, Origin::Job, None, step.needs_approval).await? {
                    return Ok(end);
                }
                self.call(step, &cur, CallPurpose::Call).await?
            }
        };
        if outcome.is_ok() {
            let status = if outcome.status == crate::Status::Partial { StepStatus::Partial } else { StepStatus::Succeeded };
            st.rep.final_outcome = Some(self.redacted_outcome(&outcome));
            return Ok(status);
        }
        st.failed_first = true;
        self.note_doubt(step, st, &cur, &outcome, CallPurpose::Call);
        if let Some(e) = &outcome.error {
            st.rep.failure = Some(FailureReport {
                tool: cur.tool.clone(),
                code: e.code.to_string(),
                message: self.redactor.text(&e.message),
                subject: subject_of(&cur.tool, &cur.args).map(|s| self.redactor.text(&s)),
                target: self.render(&cur),
                in_doubt: st.doubt.is_some(),
            });
        }
        let failure_t0 = Instant::now();
        let first_code = outcome.code().cloned().unwrap_or(ErrorCode::INTERNAL);

        loop {
            let err = outcome.error.clone().unwrap_or_else(|| ToolError::new(ErrorCode::INTERNAL, "missing error"));
            st.rep.final_outcome = Some(self.redacted_outcome(&outcome));

            // Guardrails first: a budget that ran out goes straight to a person.
            let exhausted = if st.attempts >= step.max_attempts {
                Some(format!("the step's attempt budget is spent ({} of {})", st.attempts, step.max_attempts))
            } else if self.attempts_used >= self.job.budget.max_attempts {
                Some(format!("the job's attempt budget is spent ({} of {})", self.attempts_used, self.job.budget.max_attempts))
            } else if self.elapsed_ms() >= self.job.budget.wall_clock_ms {
                Some(format!("the job's wall-clock budget is spent ({} ms)", self.job.budget.wall_clock_ms))
            } else {
                step.wall_clock_ms
                    .filter(|&l| st.elapsed_ms() >= l)
                    .map(|limit| format!("the step's wall-clock budget is spent ({limit} ms)"))
            };
            let diagnosis = match &exhausted {
                Some(why) => {
                    let ev = Event {
                        code: Some(err.code.to_string()),
                        ..self.event(Body::Guardrail(Guardrail::Budget), Level::Warn, Some(&step.name), why.clone())
                    };
                    self.emit(ev);
                    Diagnosis::new("guardrail", Action::Escalate, format!("{}: {}; {why}", err.code, err.message))
                }
                None => self.diagnose(step, st, &cur, &err).await?,
            };

            let action = diagnosis.action.clone();
            let (next, origin, delay_ms) = match &action {
                Action::Abort => {
                    self.stop = Some(false);
                    return Ok(StepStatus::Failed);
                }
                Action::Escalate | Action::AskUser { .. } => {
                    let question = match &action {
                        Action::AskUser { question } => Some(question.as_str()),
                        _ => None,
                    };
                    match self.escalate(step, st, &cur, &err, &diagnosis, exhausted.is_some(), question).await? {
                        Resolution::Waiting => return Ok(StepStatus::Waiting),
                        Resolution::Chose(Choice::Abort, d) => {
                            self.stop = Some(matches!(d.decided_by, DecidedBy::Person { .. }));
                            return Ok(if matches!(d.decided_by, DecidedBy::Person { .. }) {
                                StepStatus::Aborted
                            } else {
                                StepStatus::Failed
                            });
                        }
                        Resolution::Chose(Choice::Skip, _) => return Ok(StepStatus::Skipped),
                        Resolution::Chose(Choice::Alternative { index }, _) => {
                            let Some(alt) = step.alternatives.get(index) else { return Ok(StepStatus::Failed) };
                            st.used_alternatives.insert(index);
                            (self.expand(alt), Origin::Job, 0)
                        }
                        Resolution::Chose(Choice::Retry | Choice::Run, _) => {
                            // A person granted another round: budgets of this step start over.
                            // A call in doubt goes again — that call, not one tried since —
                            // because a person said so (issue 14).
                            st.attempts = 0;
                            st.retries.clear();
                            match st.doubt.take() {
                                Some(d) => (d.call, Origin::Job, 0),
                                None => (cur.clone(), Origin::Job, 0),
                            }
                        }
                    }
                }
                Action::RetrySame { delay_ms } => {
                    *st.retries.entry(err.code.clone()).or_default() += 1;
                    (cur.clone(), Origin::Job, *delay_ms)
                }
                Action::RetryModified { args } => (Current { tool: cur.tool.clone(), args: args.clone() }, Origin::Healer, 0),
                Action::UseAlternative { index } => {
                    st.used_alternatives.insert(*index);
                    (self.expand(&step.alternatives[*index]), Origin::Job, 0)
                }
                Action::VerifyState => {
                    st.verify_tried = true;
                    let Some(v) = &step.verify else { return Ok(StepStatus::Failed) };
                    (self.expand(v), Origin::Job, 0)
                }
            };
            let kind = if matches!(action, Action::Escalate | Action::AskUser { .. }) { ActionKind::Escalate } else { action.kind() };
            if !matches!(action, Action::RetrySame { .. }) {
                st.tried.insert(fingerprint(action.kind().as_str(), &next.tool, &next.args));
            }

            // A healer-proposed call goes through the safety gate like any other.
            if (next.tool != cur.tool || next.args != cur.args)
                && let Some(end) = self.gate(step, st, &next, origin, Some(&cur), false).await?
            {
                return Ok(end);
            }
            if delay_ms > 0 {
                self.e.clock.sleep(Duration::from_millis(delay_ms)).await;
            }
            let purpose = match kind {
                ActionKind::VerifyState => CallPurpose::Verify,
                ActionKind::Escalate => CallPurpose::Decision,
                _ => CallPurpose::Attempt,
            };
            let result = self.call(step, &next, purpose).await?;
            st.attempts += 1;
            self.attempts_used += 1;
            let fixed = result.is_ok();
            let n = st.rep.attempts.len() as u32 + 1;
            st.rep.attempts.push(AttemptReport {
                n,
                action: kind,
                layer: diagnosis.layer.clone(),
                lesson: diagnosis.lesson.clone(),
                alternative: match &action {
                    Action::UseAlternative { index } => Some(*index),
                    _ => None,
                },
                root_cause: self.redactor.text(&diagnosis.root_cause),
                fixing: err.code.to_string(),
                tool: next.tool.clone(),
                args_diff: args_diff(&self.redactor.redacted(&cur.args), &self.redactor.redacted(&next.args)),
                delay_ms,
                outcome: self.redacted_outcome(&result),
                duration_ms: result.duration_ms,
            });
            let body = Body::Attempt(Box::new(Attempted {
                layer: diagnosis.layer.clone(),
                lesson: diagnosis.lesson.clone(),
                delay_ms,
                attempt: st.rep.attempts.last().cloned(),
            }));
            let ev = Event {
                tool: Some(next.tool.clone()),
                code: Some(err.code.to_string()),
                action: Some(kind.to_string()),
                ok: Some(fixed),
                duration_ms: Some(result.duration_ms),
                ..self.event(
                    body,
                    if fixed { Level::Info } else { Level::Warn },
                    Some(&step.name),
                    format!("attempt {n} ({kind}, {}) {}", diagnosis.layer, if fixed { "fixed it" } else { "did not fix it" }),
                )
            };
            self.emit(ev);

            if fixed {
                let ttr = failure_t0.elapsed().as_millis() as u64;
                let status = match (kind, result.status) {
                    (ActionKind::VerifyState, _) => StepStatus::Verified,
                    (_, crate::Status::Partial) => StepStatus::Partial,
                    _ => StepStatus::Healed,
                };
                let body = Body::Recovery(Recovered {
                    attempts: st.rep.attempts.len(),
                    ttr_ms: ttr,
                    final_action: kind,
                    layer: diagnosis.layer.clone(),
                    lesson: diagnosis.lesson.clone(),
                });
                let ev = Event {
                    tool: Some(step.call.tool.clone()),
                    code: Some(first_code.to_string()),
                    action: Some(kind.to_string()),
                    ok: Some(true),
                    duration_ms: Some(ttr),
                    ..self.event(
                        body,
                        Level::Info,
                        Some(&step.name),
                        format!("healed {first_code} in {} attempt(s), {ttr} ms", st.rep.attempts.len()),
                    )
                };
                self.emit(ev);
                st.rep.final_outcome = Some(self.redacted_outcome(&result));
                return Ok(status);
            }
            if kind == ActionKind::VerifyState {
                // The original failure stands. A verify call that answered
                // "not there" lets a call in doubt go again; one that could
                // not tell leaves it in doubt (issue 14).
                if let Some(Doubt { why, call }) = st.doubt.take() {
                    if says_not_done(&result) {
                        let ev = self.event(
                            Body::Guardrail(Guardrail::InDoubt { call_text: None, cleared: true }),
                            Level::Info,
                            Some(&step.name),
                            "the verify call says the goal does not hold: the call in doubt may be sent again".into(),
                        );
                        self.emit(ev);
                    } else {
                        let code = result.code().map(|c| c.to_string()).unwrap_or_default();
                        st.doubt = Some(Doubt { why: format!("{why} The step's verify call could not tell ({code})."), call });
                    }
                }
                continue;
            }
            self.note_doubt(step, st, &next, &result, purpose);
            cur = next;
            outcome = result;
        }
    }

    /// Asks the layers in order; returns the first valid proposal, or an
    /// escalation when none is. Rejected proposals are journaled with why.
    async fn diagnose(&mut self, step: &Step, st: &mut StepState, cur: &Current, err: &ToolError) -> Result<Diagnosis, EngineError> {
        st.lessons = match &self.e.lessons {
            Some(source) => {
                let q = FailureQuery {
                    tool: cur.tool.clone(),
                    code: err.code.to_string(),
                    message: self.redactor.text(&err.message),
                    subject: subject_of(&cur.tool, &cur.args).map(|s| self.redactor.text(&s)),
                    target: self.render(cur),
                };
                source.find(&q, TOP_K)
            }
            None => Vec::new(),
        };
        let st = &*st;
        let repairs = match self.e.registry.get(&cur.tool) {
            Some(t) => t.repairs(&cur.args, err, &self.ctx).await,
            None => vec![],
        };
        let untried_alternatives: Vec<usize> = (0..step.alternatives.len())
            .filter(|i| !st.used_alternatives.contains(i))
            .filter(|&i| {
                let alt = self.expand(&step.alternatives[i]);
                !st.tried.contains(&fingerprint("use_alternative", &alt.tool, &alt.args))
            })
            .collect();
        let retries_for_code = st.retries.get(&err.code).copied().unwrap_or(0);
        let effect = self.e.registry.get(&cur.tool).map(|t| t.effect(&cur.args)).unwrap_or(Effect::Mutating);
        // The journal's account of this subject, read only for a layer
        // that will spend tokens on it (issue 16).
        let history = match &self.e.history {
            Some(h) if self.e.layers.iter().any(|l| l.uses_tokens()) => h.recent(&cur.tool, &cur.args, err).await,
            _ => None,
        };
        let mut rejected = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut chosen = None;
        for layer in &self.e.layers {
            let tokens_left = self.job.budget.tokens.saturating_sub(self.tokens_used);
            if layer.uses_tokens() && tokens_left == 0 {
                rejected.push(Rejected { layer: layer.layer().to_owned(), action: None, reason: "token budget spent".into() });
                continue;
            }
            let cx = DiagnosisContext {
                job: self.job,
                step,
                tool: &cur.tool,
                args: &cur.args,
                effect,
                error: err,
                attempts: &st.rep.attempts,
                retries_for_code,
                untried_alternatives: untried_alternatives.clone(),
                verify_tried: st.verify_tried,
                in_doubt: st.doubt.as_ref().map(|d| d.why.as_str()),
                repairs: &repairs,
                tried: &st.tried,
                stats: &self.e.stats,
                tokens_left,
                lessons: &st.lessons,
                redactor: &self.redactor,
                registry: &self.e.registry,
                history: history.as_deref(),
            };
            let proposals = layer.diagnose(&cx).await;
            for mut d in proposals {
                self.tokens_used += d.tokens;
                match self.validate(step, st, cur, err, &mut d, retries_for_code) {
                    Ok(()) => {
                        chosen = Some(d);
                        break;
                    }
                    Err(reason) => {
                        rejected.push(Rejected { layer: d.layer.clone(), action: Some(d.action.kind()), reason: reason.clone() });
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        // Nothing passed: the person is told the real reason (issue 14).
        let d = chosen.unwrap_or_else(|| {
            let why = match &st.doubt {
                Some(doubt) => doubt.why.clone(),
                None if !reasons.is_empty() => format!("not healed automatically: {}", reasons.join("; ")),
                None => self.no_fix(step, err, retries_for_code, untried_alternatives.is_empty()),
            };
            Diagnosis::new("policy", Action::Escalate, format!("{}: {}; {why}", err.code, err.message))
        });
        let ev = Event {
            tool: Some(cur.tool.clone()),
            code: Some(err.code.to_string()),
            action: Some(d.action.kind().to_string()),
            tokens: (d.tokens > 0).then_some(d.tokens),
            ..self.event(
                Body::Diagnosis(Box::new(Diagnosed {
                    diagnosis: d.clone(),
                    rejected,
                    lessons: st.lessons.iter().map(|l| LessonSeen { id: l.id.clone(), applies: l.applies, trusted: l.trusted() }).collect(),
                })),
                Level::Info,
                Some(&step.name),
                format!("{} → {} ({})", err.code, d.action.kind(), d.layer),
            )
        };
        self.emit(ev);
        Ok(d)
    }

    /// Sets a step up to go on where it was when its run's process ended
    /// (issue 12): budgets as spent, the call that was being healed, and its
    /// last outcome to heal from (`resumed`). A last call that succeeded, or
    /// a verify call that found the goal held, ends the step without calling
    /// again. Returns the step's status when it ends here.
    fn continue_step(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &mut Current,
        p: Prior,
        resumed: &mut Option<Outcome>,
    ) -> Option<StepStatus> {
        st.attempts = p.attempts;
        st.retries = p.retries.iter().filter_map(|(c, n)| Some((ErrorCode::parse(c).ok()?, *n))).collect();
        st.verify_tried = p.verified.is_some();
        self.attempts_used += p.attempts;
        // The call being healed: the step's own, an alternative, or (a
        // healing proposal, whose arguments the journal holds redacted) the
        // step's own call again.
        let same = |c: &Call| {
            let e = self.expand(c);
            e.tool == p.tool && self.redactor.redacted(&e.args) == p.args
        };
        if let Some(i) = step.alternatives.iter().position(same) {
            st.used_alternatives.insert(i);
            *cur = self.expand(&step.alternatives[i]);
        }
        let ev = self.event(
            Body::Guardrail(Guardrail::Continued { attempts: p.attempts, verified: p.verified }),
            Level::Info,
            Some(&step.name),
            format!(
                "step `{}` goes on where it was when Mend stopped: {} healing attempt(s) made, last call {}",
                step.name,
                p.attempts,
                p.outcome.code().map(|c| format!("failed with {c}")).unwrap_or_else(|| "succeeded".into())
            ),
        );
        self.emit(ev);
        st.rep.final_outcome = Some(self.redacted_outcome(&p.outcome));
        match (p.verified, p.outcome.is_ok()) {
            (Some(true), _) => Some(StepStatus::Verified),
            (_, true) if p.attempts > 0 => Some(StepStatus::Healed),
            (_, true) if p.outcome.status == crate::Status::Partial => Some(StepStatus::Partial),
            (_, true) => Some(StepStatus::Succeeded),
            (_, false) => {
                st.failed_first = true;
                *resumed = Some(p.outcome);
                None
            }
        }
    }
}
