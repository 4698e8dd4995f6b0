//! What leaves the engine: events (built, redacted, sent to the journal and
//! the observer) and the journaled tool call — every call goes through
//! `Run::call`, which journals a call that is not read-only ahead of it.

use std::time::Instant;

use super::{Current, EngineError, Run, new_id};
use crate::code::ErrorCode;
use crate::event::{Event, Level};
use crate::job::Step;
use crate::outcome::{Outcome, ToolError};
use crate::payload::{Body, CallMade, CallPurpose, CallStarted};
use crate::tool::{CallContext, Effect, IdempotencyKey};

impl Run<'_> {
    /// An event of this run, at the clock's now, about `step` if given.
    pub(super) fn event(&self, body: Body, level: Level, step: Option<&str>, message: String) -> Event {
        Event {
            step: step.map(str::to_owned),
            agent: self.agent.clone(),
            ..Event::new(self.e.clock.now_ms(), &self.ctx.run_id, &self.job.name, body, level, message)
        }
    }

    /// Redacts an event: its message and every string of its payload; and
    /// marks it as the run's agent's (issue 17), however it was built.
    fn redact(&self, mut ev: Event) -> Event {
        if ev.agent.is_none() {
            ev.agent = self.agent.clone();
        }
        ev.message = self.redactor.text(&ev.message);
        ev.body = ev.body.map_strings(|v| self.redactor.value(v));
        ev
    }

    /// Redacts and sends an event to the journal and the observer.
    pub(super) fn emit(&self, ev: Event) {
        let ev = self.redact(ev);
        if let Some(o) = &self.e.observer {
            o.on_event(&ev);
        }
        self.e.journal.record(ev);
    }

    /// [`emit`](Self::emit), durable before it returns.
    async fn emit_durable(&self, ev: Event) -> Result<(), EngineError> {
        let ev = self.redact(ev);
        if let Some(o) = &self.e.observer {
            o.on_event(&ev);
        }
        Ok(self.e.journal.record_durable(ev).await?)
    }

    /// Runs one call and journals it. An unknown tool or invalid arguments
    /// become an `INVALID_ARGS` outcome, not a panic. A call that is not
    /// read-only is journaled ahead (issue 12): its `call_started` event is
    /// durable before the call runs, so after any crash every call that ran
    /// has a record; a journal that cannot store it stops the run before
    /// the call.
    pub(super) async fn call(&self, step: &Step, cur: &Current, purpose: CallPurpose) -> Result<Outcome, EngineError> {
        let tool = self.e.registry.get(&cur.tool);
        let valid = self.e.registry.validate(&cur.tool, &cur.args);
        // The step's idempotency key: one value for every attempt of the
        // step in this run (issue 14); never on its verify call.
        let key = step
            .idempotency_key
            .as_deref()
            .filter(|_| purpose != CallPurpose::Verify && tool.is_some_and(|t| t.takes_idempotency_key()))
            .map(|h| IdempotencyKey::derive(h, &self.ctx.run_id, &step.name));
        let call_id = match (&tool, &valid) {
            (Some(t), Ok(())) if t.effect(&cur.args) != Effect::ReadOnly => {
                let id = new_id();
                let body =
                    Body::CallStarted(CallStarted { call: id.clone(), purpose, call_text: self.render(cur), idempotency_key: key.clone() });
                let ev = Event {
                    tool: Some(cur.tool.clone()),
                    ..self.event(body, Level::Debug, Some(&step.name), format!("{purpose} `{}` started", self.render(cur)))
                };
                self.emit_durable(ev).await?;
                Some(id)
            }
            _ => None,
        };
        let t0 = Instant::now();
        let outcome = match (tool, valid) {
            (Some(tool), Ok(())) if key.is_some() => {
                let ctx = CallContext { idempotency_key: key.clone(), ..self.ctx.clone() };
                tool.call(&cur.args, &ctx).await
            }
            (Some(tool), Ok(())) => tool.call(&cur.args, &self.ctx).await,
            (_, Err(problems)) => {
                let msg = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
                Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, msg))
            }
            (None, Ok(())) => Outcome::failure(ToolError::new(ErrorCode::INTERNAL, "tool vanished")),
        };
        let mut outcome = outcome.timed(t0.elapsed().as_millis() as u64);
        // A failed status without an error would stall diagnosis: make it explicit.
        if !outcome.is_ok() && outcome.error.is_none() {
            outcome.error = Some(ToolError::new(ErrorCode::INTERNAL, "the tool reported a failure without an error"));
        }
        // What the tool saw beyond its call (an MCP server's circuit, a
        // fall-over to a backup), journaled after it (issue 16).
        for (what, message) in self.ctx.notes.take() {
            let ev = Event { tool: Some(cur.tool.clone()), ..self.event(Body::Guardrail(what), Level::Warn, Some(&step.name), message) };
            self.emit(ev);
        }
        let rendered = self.render(cur);
        let (level, msg) = match &outcome.error {
            Some(e) if !outcome.is_ok() => (Level::Warn, format!("{purpose} `{rendered}` failed: {} {}", e.code, e.message)),
            _ => (Level::Info, format!("{purpose} `{rendered}` {}", outcome.status.as_str())),
        };
        let ev = Event {
            tool: Some(cur.tool.clone()),
            code: outcome.code().map(|c| c.to_string()),
            ok: Some(outcome.is_ok()),
            duration_ms: Some(outcome.duration_ms),
            ..self.event(
                Body::Call(CallMade { purpose, args: cur.args.clone(), outcome: outcome.clone(), call: call_id, idempotency_key: key }),
                level,
                Some(&step.name),
                msg,
            )
        };
        self.emit(ev);
        Ok(outcome)
    }

    /// An outcome with its output, message and hints redacted, for reports.
    pub(super) fn redacted_outcome(&self, o: &Outcome) -> Outcome {
        let mut o = o.clone();
        self.redactor.value(&mut o.output);
        if let Some(e) = &mut o.error {
            e.message = self.redactor.text(&e.message);
            for v in e.hints.values_mut() {
                self.redactor.value(v);
            }
        }
        o
    }
}
