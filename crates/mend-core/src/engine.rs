//! The self-healing loop: DETECT → CLASSIFY → ATTEMPT FIX → ESCALATE →
//! LEARN (metrics) → REPEAT, with every guardrail in code.
//!
//! The engine runs a [`Job`] step by step. A failed call is diagnosed by the
//! layers in order; the first proposal that passes validation runs. Budgets
//! (attempts per step and per job, wall clock, tokens), the no-repeat rule and
//! the safety policy are checked here, never left to a layer. Every call,
//! diagnosis, attempt, recovery, escalation and decision becomes a redacted
//! [`Event`] in the [`Journal`]; a pending approval is durable before anyone
//! waits on it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::action::{Action, ActionKind, Diagnosis};
use crate::approval::{
    Answer, ApprovalKind, ApprovalOption, ApprovalRequest, Approver, CallSource, Choice, Danger, DecidedBy, Decision, DecisionRule,
    OnTimeout,
};
use crate::clock::{Clock, SystemClock};
use crate::code::ErrorCode;
use crate::diagnose::{Diagnoser, DiagnosisContext, PolicyDiagnoser};
use crate::event::{Event, Journal, JournalError, Level, Stats};
use crate::job::{Call, Job, Step, expand};
use crate::lesson::{FailureQuery, Learner, LessonDiagnoser, LessonMatch, LessonSource, TOP_K, subject_of};
use crate::outcome::{Outcome, ToolError, fate_unknown};
use crate::payload::{
    Attempted, Body, BudgetInfo, CallMade, CallPurpose, CallStarted, Diagnosed, Guardrail, LessonChanged, LessonSeen, Recovered, Rejected,
    RunFinished, RunStarted, StepFinished, StepStarted,
};
use crate::redact::Redactor;
use crate::report::{AttemptReport, EscalationReport, FailureReport, RunReport, RunStatus, StepReport, StepStatus, args_diff};
use crate::safety::{Category, Context, Finding, Gate, Intent, Probe, destination};
use crate::tool::{CallContext, Effect, IdempotencyKey, ToolRegistry};

/// Sees every event as it happens (already redacted): the CLI's progress
/// lines, the desktop's live view.
pub trait Observer: Send + Sync {
    /// One event.
    fn on_event(&self, event: &Event);
}

/// The loop itself is broken (not a tool failure): the journal failed, or
/// the job's safety rules do not compile.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The journal could not store an event or approval.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The job's safety configuration is invalid.
    #[error("safety policy: {0}")]
    Safety(String),
    /// A run cannot be resumed as asked.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// The run's lease cannot be taken: a live process owns the run, or
    /// the lease file cannot be written (issue 12).
    #[error("run ownership: {0}")]
    Ownership(String),
}

/// Per-run inputs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The environment `${env:NAME}` reads and redaction learns secrets from.
    pub env: Vec<(String, String)>,
    /// A fixed run id (for tests); random otherwise.
    pub run_id: Option<String>,
    /// The job file, journaled so a waiting run can be resumed later.
    pub job_path: Option<String>,
    /// Go on with a run that stopped waiting for a person.
    pub resume: Option<Resume>,
    /// Go on with a run whose process ended before the run did (needs
    /// `run_id`; ignored with `resume`).
    pub restart: Option<Restart>,
    /// Where tools note the process groups they start (the run's lease).
    pub processes: Option<crate::tool::Processes>,
}

/// Where a run whose process ended (killed, crashed, the machine went down)
/// goes on, as its journal tells (issue 12). Steps before `step` are not run
/// again.
#[derive(Debug, Clone, Default)]
pub struct Restart {
    /// The step to go on from; `None`: every step had finished, nothing is
    /// left to run (the run is only closed).
    pub step: Option<String>,
    /// A call of that step that changes the world was started and has no
    /// outcome in the journal: it may have run. The step asks a person
    /// before anything runs again.
    pub in_doubt: Option<InDoubt>,
    /// What that step had done before its process ended, when it made calls
    /// whose outcomes are in the journal: the step goes on from there (its
    /// last outcome, its budgets) instead of starting over, so a crash never
    /// adds calls a run without one would not have made.
    pub prior: Option<Prior>,
}

/// What a step had done before its run's process ended (issue 12), as the
/// journal tells: the last call and its outcome, and the budgets spent.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    /// The tool of the step's last call with an outcome (not a verify call).
    pub tool: String,
    /// Its arguments, as journaled (redacted).
    pub args: Value,
    /// Its outcome (redacted).
    pub outcome: Outcome,
    /// The step's verify call ran and its outcome: `Some(true)` means the
    /// step's goal held and the step is done.
    pub verified: Option<bool>,
    /// Healing attempts made in the step.
    pub attempts: u32,
    /// Retries of the same call, by error code.
    pub retries: Vec<(String, u32)>,
}

/// A call that may have run: its "call started" record is in the journal,
/// its outcome is not (issue 12).
#[derive(Debug, Clone, PartialEq)]
pub struct InDoubt {
    /// The tool.
    pub tool: String,
    /// The call as it was shown, redacted.
    pub call: String,
    /// When it started (ms since epoch).
    pub started_ms: i64,
    /// What it was: `call`, `attempt`, `verify`, …
    pub purpose: String,
    /// The call did not end by itself: it was stopped — by Mend when the
    /// run was interrupted, or by whoever took the run over after its
    /// process died and found it still running. One sentence saying which.
    pub stopped: Option<String>,
}

/// Where a resumed run picks up: the step a decided request was about.
///
/// The run keeps its id; steps before that one are not run again. The
/// decision applies as it would have live: `run` runs the approved call (if
/// the job still renders it the same; otherwise it asks again), `retry`
/// starts the step afresh, `alt-N` starts it on that alternative, `skip`
/// skips it, `abort` ends the run.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The request.
    pub request: ApprovalRequest,
    /// The decision on it, already journaled.
    pub decision: Decision,
}

/// How a step begins.
enum Entry {
    /// Its own call, through the safety gate.
    Fresh,
    /// Its own call, already approved for exactly this rendered form and,
    /// when the gate named a part of it, exactly that simple command as the
    /// gate reads it now (a variable the call expands may have changed).
    /// The last field: the call that may have run, when the approval was
    /// "run it again" on an in-doubt request — a call that changed since is
    /// asked about again, never run on the old answer.
    Approved(String, Option<String>, Option<String>, Option<CallSource>, Option<InDoubt>),
    /// Declared alternative N.
    Alternative(usize),
    /// A call of the step may have run: ask before anything runs.
    InDoubt(InDoubt),
    /// Go on where the step was when its run's process ended.
    Continue(Prior),
    /// Not at all.
    Skip,
    /// The run ends here (by a person's decision, or not).
    Abort(bool),
}

/// The engine: tools, diagnosis layers, journal, approver, clock.
pub struct Engine {
    registry: Arc<ToolRegistry>,
    layers: Vec<Arc<dyn Diagnoser>>,
    journal: Arc<dyn Journal>,
    approver: Arc<dyn Approver>,
    observer: Option<Arc<dyn Observer>>,
    clock: Arc<dyn Clock>,
    stats: Stats,
    /// Remembered decisions, consulted before asking anyone.
    rules: Vec<DecisionRule>,
    /// The memory's lessons, looked up once per diagnosis.
    lessons: Option<Arc<dyn LessonSource>>,
    /// What learns from each run.
    learner: Option<Arc<dyn Learner>>,
    /// The file system as the strict safety level sees it; `None` assumes
    /// every file a command could replace exists.
    probe: Option<Arc<dyn Probe>>,
}

impl Engine {
    /// An engine with the policy layer only and the system clock.
    pub fn new(registry: Arc<ToolRegistry>, journal: Arc<dyn Journal>, approver: Arc<dyn Approver>) -> Self {
        Engine {
            registry,
            layers: vec![Arc::new(PolicyDiagnoser)],
            journal,
            approver,
            observer: None,
            clock: Arc::new(SystemClock),
            stats: Stats::default(),
            rules: Vec::new(),
            lessons: None,
            learner: None,
            probe: None,
        }
    }

    /// Lets the safety gate look at the file system (the strict level asks
    /// only about files that exist).
    pub fn with_probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Learns from every run before it is closed (see [`Learner`]).
    pub fn with_learner(mut self, learner: Arc<dyn Learner>) -> Self {
        self.learner = Some(learner);
        self
    }

    /// Consults the memory: every diagnosis gets the lessons that match its
    /// failure, and the lesson layer goes first, applying trusted ones.
    pub fn with_lessons(mut self, source: Arc<dyn LessonSource>) -> Self {
        self.lessons = Some(source);
        self.layers.insert(0, Arc::new(LessonDiagnoser));
        self
    }

    /// Puts a layer before the existing ones (lessons go before the policy).
    pub fn with_layer_first(mut self, layer: Arc<dyn Diagnoser>) -> Self {
        self.layers.insert(0, layer);
        self
    }

    /// Adds a layer after the existing ones (an LLM goes after the policy).
    pub fn with_layer_last(mut self, layer: Arc<dyn Diagnoser>) -> Self {
        self.layers.push(layer);
        self
    }

    /// Uses another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the observer.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the measured success rates the policy orders by.
    pub fn with_stats(mut self, stats: Stats) -> Self {
        self.stats = stats;
        self
    }

    /// Sets the remembered decisions.
    pub fn with_rules(mut self, rules: Vec<DecisionRule>) -> Self {
        self.rules = rules;
        self
    }

    /// The tool registry.
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// Runs a job to its end: success, failure, a person's refusal, or a
    /// request left waiting.
    pub async fn run(&self, job: &Job, opts: RunOptions) -> Result<RunReport, EngineError> {
        let safety = Gate::new(&job.safety).map_err(EngineError::Safety)?;
        let redactor = Redactor::from_env(job.secrets.iter().map(String::as_str), &opts.env);
        let find = |name: &str| {
            job.steps
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| EngineError::Resume(format!("the job has no step `{name}` any more")))
        };
        let restart = opts.restart.as_ref().filter(|_| opts.resume.is_none());
        let start = match (&opts.resume, restart) {
            (Some(r), _) => find(&r.request.step)?,
            (None, Some(Restart { step: Some(s), .. })) => find(s)?,
            (None, Some(Restart { step: None, .. })) => job.steps.len(),
            (None, None) => 0,
        };
        let entry = match &opts.resume {
            None => match (restart.and_then(|r| r.in_doubt.clone()), restart.and_then(|r| r.prior.clone())) {
                (Some(d), _) => Entry::InDoubt(d),
                (None, Some(p)) => Entry::Continue(p),
                (None, None) => Entry::Fresh,
            },
            Some(r) => match r.request.option(&r.decision.option).map(|o| &o.choice) {
                Some(Choice::Run) => Entry::Approved(
                    r.request.call.clone().unwrap_or_default(),
                    r.request.danger.as_ref().map(|d| d.command.clone()),
                    r.request.call_digest.clone(),
                    r.request.call_source.clone(),
                    (r.request.kind == ApprovalKind::InDoubt).then(|| InDoubt {
                        tool: r.request.tool.clone().unwrap_or_default(),
                        call: r.request.call.clone().unwrap_or_default(),
                        started_ms: r.request.created_ms,
                        purpose: "call".into(),
                        stopped: None,
                    }),
                ),
                Some(Choice::Retry) => Entry::Fresh,
                Some(Choice::Alternative { index }) => Entry::Alternative(*index),
                Some(Choice::Skip) => Entry::Skip,
                Some(Choice::Abort) => Entry::Abort(matches!(r.decision.decided_by, DecidedBy::Person { .. })),
                None => return Err(EngineError::Resume(format!("`{}` is not an option of request {}", r.decision.option, r.request.id))),
            },
        };
        let run_id = opts.resume.as_ref().map(|r| r.request.run_id.clone()).or(opts.run_id.clone()).unwrap_or_else(new_id);
        let mut run = Run {
            e: self,
            job,
            ctx: CallContext {
                base_dir: job.base_dir.clone(),
                run_id: run_id.clone(),
                processes: opts.processes.clone(),
                idempotency_key: None,
            },
            env: opts.env,
            redactor,
            safety,
            started: Instant::now(),
            started_ms: self.clock.now_ms(),
            paused: Duration::ZERO,
            attempts_used: 0,
            tokens_used: 0,
            decided: Vec::new(),
            stop: None,
        };
        let started = RunStarted {
            steps: job.steps.len(),
            budget: BudgetInfo {
                max_attempts: job.budget.max_attempts,
                wall_clock_ms: job.budget.wall_clock_ms,
                tokens: job.budget.tokens,
            },
            job_path: opts.job_path.clone(),
            resumed_from: opts.resume.as_ref().map(|r| r.request.id.clone()),
            restarted: restart.is_some(),
            in_doubt: restart.and_then(|r| r.in_doubt.as_ref()).map(|d| d.call.clone()),
            start_step: job.steps.get(start).map(|s| s.name.clone()),
        };
        run.emit(Event::new(
            run.started_ms,
            &run_id,
            &job.name,
            Body::RunStarted(started),
            Level::Info,
            format!("run of `{}` started", job.name),
        ));

        let mut steps = Vec::new();
        let mut status = RunStatus::Succeeded;
        let mut entry = Some(entry);
        for (i, step) in job.steps.iter().enumerate() {
            // Before a resumed step: those ran in the run's first part.
            if status != RunStatus::Succeeded || i < start {
                steps.push(StepReport::not_run(&step.name));
                continue;
            }
            let rep = run.step(step, entry.take().unwrap_or(Entry::Fresh)).await?;
            status = match (run.stop, rep.status) {
                // An abort from any source stops the job (issue 11): a
                // person's is `aborted`, a standing rule's or a timeout's
                // `failed` (exit 1, as the README says), optional step or not.
                (Some(true), _) | (_, StepStatus::Aborted) => RunStatus::Aborted,
                (Some(false), _) => RunStatus::Failed,
                (None, s) if s.is_ok() => RunStatus::Succeeded,
                (None, StepStatus::Failed) if step.optional => RunStatus::Succeeded,
                (None, StepStatus::Waiting) => RunStatus::Waiting,
                _ => RunStatus::Failed,
            };
            steps.push(rep);
        }

        let mut report = RunReport {
            run_id: run_id.clone(),
            job: job.name.clone(),
            status,
            exit_code: status.exit_code(),
            steps,
            attempts: run.attempts_used,
            tokens: run.tokens_used,
            started_ms: run.started_ms,
            duration_ms: 0,
            lessons: Vec::new(),
        };
        if let Some(learner) = &self.learner {
            report.lessons = learner.learn(&report, &run.decided, &run.redactor).await;
            for n in &report.lessons {
                let body = Body::Lesson(LessonChanged { lesson: n.id.clone(), change: n.change });
                let ev = Event { action: Some(n.change.to_string()), ..run.event(body, Level::Info, None, n.message.clone()) };
                run.emit(ev);
            }
        }
        let duration_ms = run.started.elapsed().as_millis() as u64;
        report.duration_ms = duration_ms;
        let level = if status == RunStatus::Succeeded { Level::Info } else { Level::Error };
        let ev = Event {
            ok: Some(status == RunStatus::Succeeded),
            duration_ms: Some(duration_ms),
            tokens: Some(run.tokens_used),
            ..run.event(
                Body::RunFinished(RunFinished { status: status.into(), attempts: Some(run.attempts_used), ..Default::default() }),
                level,
                None,
                format!("run of `{}` {}", job.name, status.as_str()),
            )
        };
        run.emit(ev);
        self.journal.flush().await?;
        Ok(report)
    }
}

/// Whether `name` appears in `text` as a whole word (`$NAME`, `${NAME}`,
/// `printenv NAME`, `${!NAME}`), not inside a longer name.
fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// `HH:MM:SS` UTC of a time in ms since epoch, for a person.
fn time_of_day(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// A random id: 16 hex digits.
pub fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Whether a verify call's outcome answers "the goal does not hold" (issue
/// 14): it failed with a code that is an answer — `NOT_FOUND` (a 404, a
/// missing file), `NON_ZERO_EXIT` (`test -f` false), `REMOTE_ERROR` (the
/// body says otherwise), `HTTP_ERROR` (another 4xx). A verify call that
/// timed out, could not connect, or met a transient error says nothing.
pub fn says_not_done(o: &Outcome) -> bool {
    !o.is_ok() && o.error.as_ref().is_some_and(|e| matches!(e.code.as_str(), "NOT_FOUND" | "NON_ZERO_EXIT" | "REMOTE_ERROR" | "HTTP_ERROR"))
}

/// Whether a script runs `env`, `set` or `export` with no operand on its
/// command (`env` and `export` may have options): each prints every
/// variable. `set -e` or `env X=1 cmd` do not. Read conservatively: an
/// end, `;`, `|`, `&`, `)`, a backquote, a newline or a redirection counts
/// as the command's end.
fn bare_dump(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    ["env", "set", "export"].iter().any(|w| {
        text.match_indices(w).any(|(i, _)| {
            if text[..i].chars().next_back().is_some_and(word) || text[i + w.len()..].chars().next().is_some_and(word) {
                return false;
            }
            let mut rest = text[i + w.len()..].trim_start_matches([' ', '\t']);
            if *w != "set" {
                while rest.starts_with('-') {
                    rest = rest.trim_start_matches(|c: char| !c.is_whitespace() && !";|&)`\n".contains(c)).trim_start_matches([' ', '\t']);
                }
            }
            let mut chars = rest.chars();
            match chars.next() {
                None => true,
                Some(c) if ";|&)`\n<>".contains(c) => true,
                Some(c) if c.is_ascii_digit() => chars.next() == Some('>'),
                _ => false,
            }
        })
    })
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

/// Where the call being healed came from: the job's author, or the healer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Job,
    Healer,
}

/// The call currently being healed.
#[derive(Debug, Clone)]
struct Current {
    tool: String,
    /// Expanded arguments.
    args: Value,
}

/// What a request to a person resolved to.
enum Resolution {
    Chose(Choice, Decision),
    Waiting,
}

struct Run<'a> {
    e: &'a Engine,
    job: &'a Job,
    ctx: CallContext,
    env: Vec<(String, String)>,
    redactor: Redactor,
    safety: Gate,
    started: Instant,
    started_ms: i64,
    /// Time spent waiting for people: not charged to the wall-clock budget.
    paused: Duration,
    attempts_used: u32,
    tokens_used: u64,
    /// Requests people answered in this run, for the learner.
    decided: Vec<(ApprovalRequest, Decision)>,
    /// Set when an abort was chosen: the job stops after this step
    /// (`Some(true)` when a person chose it).
    stop: Option<bool>,
}

/// Mutable healing state of one step.
struct StepState {
    rep: StepReport,
    t0: Instant,
    tried: HashSet<String>,
    retries: HashMap<ErrorCode, u32>,
    used_alternatives: HashSet<usize>,
    verify_tried: bool,
    /// Attempts since the last human "retry".
    attempts: u32,
    /// The step's first call failed (so it needed healing).
    failed_first: bool,
    /// Time this step spent waiting for people.
    paused: Duration,
    /// Lessons found for the failure being healed.
    lessons: Vec<LessonMatch>,
    /// Set while the step's last call may have done its work and is not
    /// safe to send again (issue 14): why, for the journal and a person.
    /// Cleared by a verify call that says the goal does not hold, or by a
    /// person's "send it again".
    doubt: Option<Doubt>,
}

/// A call of a step that may already have done its work (issue 14).
struct Doubt {
    /// Why, for the journal and a person.
    why: String,
    /// The call itself: what "Send it again" sends.
    call: Current,
}

impl StepState {
    fn elapsed_ms(&self) -> u64 {
        self.t0.elapsed().saturating_sub(self.paused).as_millis() as u64
    }
}

fn fingerprint(action: &str, tool: &str, args: &Value) -> String {
    format!("{action}|{tool}|{args}")
}

impl Run<'_> {
    fn event(&self, body: Body, level: Level, step: Option<&str>, message: String) -> Event {
        Event { step: step.map(str::to_owned), ..Event::new(self.e.clock.now_ms(), &self.ctx.run_id, &self.job.name, body, level, message) }
    }

    /// Redacts an event: its message and every string of its payload.
    fn redact(&self, mut ev: Event) -> Event {
        ev.message = self.redactor.text(&ev.message);
        ev.body = ev.body.map_strings(|v| self.redactor.value(v));
        ev
    }

    /// Redacts and sends an event to the journal and the observer.
    fn emit(&self, ev: Event) {
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

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().saturating_sub(self.paused).as_millis() as u64
    }

    fn expand(&self, call: &Call) -> Current {
        Current { tool: call.tool.clone(), args: expand(&call.args, &self.env, &self.job.base_dir) }
    }

    fn render(&self, cur: &Current) -> String {
        match self.e.registry.get(&cur.tool) {
            Some(t) => self.redactor.text(&t.render(&cur.args)),
            None => cur.tool.clone(),
        }
    }

    /// Runs one call and journals it. An unknown tool or invalid arguments
    /// become an `INVALID_ARGS` outcome, not a panic. A call that is not
    /// read-only is journaled ahead (issue 12): its `call_started` event is
    /// durable before the call runs, so after any crash every call that ran
    /// has a record; a journal that cannot store it stops the run before
    /// the call.
    async fn call(&self, step: &Step, cur: &Current, purpose: CallPurpose) -> Result<Outcome, EngineError> {
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

    fn redacted_outcome(&self, o: &Outcome) -> Outcome {
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

    async fn step(&mut self, step: &Step, entry: Entry) -> Result<StepReport, EngineError> {
        let mut st = StepState {
            rep: StepReport::not_run(&step.name),
            t0: Instant::now(),
            tried: HashSet::new(),
            retries: HashMap::new(),
            used_alternatives: HashSet::new(),
            verify_tried: false,
            attempts: 0,
            failed_first: false,
            paused: Duration::ZERO,
            lessons: Vec::new(),
            doubt: None,
        };
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

    /// Code stays in charge: a proposal runs only if it fits the closed
    /// action set's rules, the tool's schema and the no-repeat rule.
    fn validate(&self, step: &Step, st: &StepState, cur: &Current, err: &ToolError, d: &mut Diagnosis, retries: u32) -> Result<(), String> {
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
                            let a = self.expand(a);
                            self.e.registry.get(&a.tool).is_some_and(|t| t.effect(&a.args) == Effect::ReadOnly)
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
                        Some(ra) => format!(
                            "the service asked to wait {}, over this step's max_delay of {}",
                            span(ra),
                            span(step.retry.max_delay_ms)
                        ),
                        None => format!("a wait of {} is over this step's max_delay of {}", span(*delay_ms), span(step.retry.max_delay_ms)),
                    });
                }
                let mut left = self.job.budget.wall_clock_ms.saturating_sub(self.elapsed_ms());
                if let Some(limit) = step.wall_clock_ms {
                    left = left.min(limit.saturating_sub(st.elapsed_ms()));
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
                self.e.registry.validate(&cur.tool, args).map_err(|p| {
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
                if self.e.registry.get(&alt.tool).is_none() {
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

    /// Asks for approval before a call runs when the step requires it, the
    /// gate finds a destructive part in it, or a healing proposal would send
    /// a secret somewhere new (issue 11). Every call the engine makes comes
    /// through here: the step's own, alternatives, verify calls, every
    /// modified call from every layer, a person's retry of a changed call.
    /// `from` is the call a healing proposal replaces. `None` means go
    /// ahead; `Some(status)` ends the step.
    #[allow(clippy::too_many_arguments)]
    async fn gate(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &Current,
        origin: Origin,
        from: Option<&Current>,
        required: bool,
    ) -> Result<Option<StepStatus>, EngineError> {
        let Some(tool) = self.e.registry.get(&cur.tool) else { return Ok(None) };
        let rendered = tool.render(&cur.args);
        let intent = tool.intent(&cur.args, &self.job.base_dir);
        let verdict = self.check(cur, &intent, &rendered);
        for (f, rule) in &verdict.allowed {
            let ev = self.event(
                Body::Guardrail(Guardrail::Allowed { finding: serde_json::to_value(f).unwrap_or_default(), allow: rule.clone() }),
                Level::Info,
                Some(&step.name),
                format!("`{}` ({}) runs unasked: allowed by `{rule}`", f.command, f.rule),
            );
            self.emit(ev);
        }
        let mut danger = verdict.asks.first().cloned();
        if danger.is_none()
            && origin == Origin::Healer
            && let Some(from) = from
        {
            danger = self.secret_move(from, cur, &intent, &rendered);
        }
        if danger.is_none() && !required {
            return Ok(None);
        }
        let shown = self.redactor.text(&rendered);
        let what = |d: &Finding| format!("{} (rule `{}`, {}) in `{}`", d.why, d.rule, d.category.as_str(), self.redactor.text(&d.command));
        let why = match (&danger, origin) {
            (Some(d), _) if d.category == Category::SecretDestination => {
                format!("Healing proposes a change that {}. A secret never changes destination unasked.", self.redactor.text(&d.why))
            }
            (Some(d), _) if d.category == Category::Unknown => {
                format!("The gate cannot tell what this runs: {}. It asks rather than guess.", what(d))
            }
            (Some(d), Origin::Job) => format!("The job runs a destructive call: {}. Approval is required before it runs.", what(d)),
            (Some(d), Origin::Healer) => format!("Healing proposes a destructive call that the job did not declare: {}.", what(d)),
            (None, _) => "The step is marked `approval = \"required\"`.".to_owned(),
        };
        let run_opt =
            ApprovalOption { id: "run".into(), label: "Run it".into(), choice: Choice::Run, detail: format!("Run `{shown}` now.") };
        let skip = ApprovalOption {
            id: "skip".into(),
            label: "Skip this step".into(),
            choice: Choice::Skip,
            detail: "The job goes on without it.".into(),
        };
        let abort = ApprovalOption {
            id: "abort".into(),
            label: "Abort the job".into(),
            choice: Choice::Abort,
            detail: "Nothing more runs.".into(),
        };
        let (options, recommendation) = match origin {
            Origin::Job => {
                (vec![run_opt, skip, abort], "The job's author declared this call; approve it if now is the right time.".to_owned())
            }
            Origin::Healer => (vec![abort, skip, run_opt], "A destructive fix nobody declared should not run unreviewed.".to_owned()),
        };
        let mut req = self.request(
            step,
            st,
            ApprovalKind::BeforeRun,
            match &danger {
                Some(d) => format!("Approve `{shown}`? ({}: {})", d.category.as_str(), d.rule),
                None => format!("Approve `{shown}`?"),
            },
            format!("Step `{}` is about to run `{shown}`.", step.name),
            why,
            recommendation,
            options,
        );
        req.call = Some(shown.clone());
        req.call_digest = Some(self.digest(cur));
        req.call_source = Some(self.source_of(step, cur));
        req.tool = Some(cur.tool.clone());
        req.danger = danger.as_ref().map(|d| Danger {
            category: d.category.as_str().to_owned(),
            rule: self.redactor.text(&d.rule),
            command: self.redactor.text(&d.command),
            why: self.redactor.text(&d.why),
            span: d.span.and_then(|sp| self.shown_span(&rendered, sp)),
        });
        // A remembered "run" is a person's word on the job's own call; it
        // never approves a destructive call healing made up, nor a secret's
        // new destination (issue 11).
        let remembered_ok = origin == Origin::Job && danger.as_ref().is_none_or(|d| d.category != Category::SecretDestination);
        match self.ask(step, st, req, remembered_ok).await? {
            Resolution::Waiting => Ok(Some(StepStatus::Waiting)),
            Resolution::Chose(Choice::Run | Choice::Retry, _) => Ok(None),
            Resolution::Chose(Choice::Skip, _) => Ok(Some(StepStatus::Skipped)),
            Resolution::Chose(Choice::Abort, d) => {
                self.stop = Some(matches!(d.decided_by, DecidedBy::Person { .. }));
                let ev = Event {
                    code: Some("BLOCKED".into()),
                    ..self.event(
                        Body::Guardrail(Guardrail::Approval {
                            rule: danger.as_ref().map(|d| d.rule.clone()),
                            command: danger.as_ref().map(|d| d.command.clone()),
                        }),
                        Level::Warn,
                        Some(&step.name),
                        format!("`{shown}` was not approved"),
                    )
                };
                self.emit(ev);
                st.rep.final_outcome = Some(Outcome::failure(ToolError::new(ErrorCode::BLOCKED, format!("`{shown}` was not approved"))));
                Ok(Some(if matches!(d.decided_by, DecidedBy::Person { .. }) { StepStatus::Aborted } else { StepStatus::Failed }))
            }
            Resolution::Chose(Choice::Alternative { .. }, _) => Ok(Some(StepStatus::Failed)),
        }
    }

    /// The gate's verdict on a call, in this run's environment.
    fn verdict(&self, cur: &Current) -> crate::safety::Verdict {
        let Some(tool) = self.e.registry.get(&cur.tool) else { return Default::default() };
        self.check(cur, &tool.intent(&cur.args, &self.job.base_dir), &tool.render(&cur.args))
    }

    /// The gate's verdict on a call whose intent and rendering are at hand.
    fn check(&self, cur: &Current, intent: &Intent, rendered: &str) -> crate::safety::Verdict {
        let destructive = self.e.registry.get(&cur.tool).is_some_and(|t| t.effect(&cur.args) == Effect::Destructive);
        let env = |name: &str| self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        self.safety.check(intent, rendered, destructive, &Context { env: &env, probe: self.e.probe.as_deref() })
    }

    /// A digest of everything a call is (tool and every argument: stdin,
    /// env, cwd — not only what `render` shows), redacted: an approval
    /// holds only for the call with the same digest. FNV-1a, 64 bits, so it
    /// is the same in every process and version.
    fn digest(&self, cur: &Current) -> String {
        let text = format!("{}\u{0}{}", cur.tool, self.redactor.redacted(&cur.args));
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// Which of the step's calls `cur` is (a healing proposal if none).
    fn source_of(&self, step: &Step, cur: &Current) -> CallSource {
        let same = |c: &Call| {
            let e = self.expand(c);
            e.tool == cur.tool && e.args == cur.args
        };
        if same(&step.call) {
            CallSource::Step
        } else if let Some(index) = step.alternatives.iter().position(same) {
            CallSource::Alternative { index }
        } else if step.verify.as_ref().is_some_and(same) {
            CallSource::Verify
        } else {
            CallSource::Proposal { tool: cur.tool.clone(), args: self.redactor.redacted(&cur.args) }
        }
    }

    /// The first part of a call the gate would ask about.
    fn danger(&self, cur: &Current) -> Option<Finding> {
        self.verdict(cur).asks.into_iter().next()
    }

    /// Where a highlighted byte range of the rendered call falls in the
    /// redacted text shown to people, if it can be placed.
    fn shown_span(&self, rendered: &str, (a, b): (usize, usize)) -> Option<(usize, usize)> {
        let pre = self.redactor.text(rendered.get(..a)?);
        let mid = self.redactor.text(rendered.get(a..b)?);
        let shown = self.redactor.text(rendered);
        let end = pre.len() + mid.len();
        (shown.get(pre.len()..end) == Some(mid.as_str())).then_some((pre.len(), end))
    }

    /// A healing proposal that would send a secret somewhere new (issue 11
    /// item 5): an HTTP call carrying a secret (a secret header or key, a
    /// secret value, URL userinfo) whose scheme, host or port changes, or a
    /// command whose text changes and that references a secret variable or
    /// value.
    fn secret_move(&self, from: &Current, to: &Current, intent: &Intent, rendered: &str) -> Option<Finding> {
        let tool = self.e.registry.get(&to.tool)?;
        if from.tool != to.tool {
            return None;
        }
        let finding = |rule: &str, why: String| Finding {
            category: Category::SecretDestination,
            rule: rule.to_owned(),
            command: rendered.to_owned(),
            why,
            span: Some((0, rendered.len())),
        };
        match (intent, tool.intent(&from.args, &self.job.base_dir)) {
            (Intent::Http { url, .. }, Intent::Http { url: old, .. }) => {
                let (a, b) = (destination(&old), destination(url));
                let carries = self.redactor.redacted(&to.args) != to.args;
                (a != b && carries).then(|| {
                    let show =
                        |d: Option<crate::safety::Destination>| d.map(|d| d.to_string()).unwrap_or_else(|| "an unreadable URL".into());
                    finding("secret to a new destination", format!("sends a secret to {} instead of {}", show(b), show(a)))
                })
            }
            (Intent::Exec { env, stdin, .. }, old) => {
                // Anything the child gets: the command, its input, its
                // variables, its folder (not only what `render` shows).
                if *intent == old {
                    return None;
                }
                // Names that hold a secret: the job's, any that look secret,
                // and the call's own variables whose value is one (`AUTH =
                // "${env:MY_API_TOKEN}"`).
                let mut names: Vec<String> = self.job.secrets.clone();
                names.extend(self.env.iter().filter(|(k, _)| crate::redact::looks_secret(k)).map(|(k, _)| k.clone()));
                names.extend(
                    env.iter().filter(|(k, v)| crate::redact::looks_secret(k) || self.redactor.text(v) != *v).map(|(k, _)| k.clone()),
                );
                let mut text = rendered.to_owned();
                for part in stdin.iter().chain(env.iter().map(|(_, v)| v)) {
                    text.push('\n');
                    text.push_str(part);
                }
                let named: Vec<&String> = names.iter().filter(|n| mentions(&text, n)).collect();
                let value = self.redactor.text(&text) != text;
                let dumps = ["printenv", "/environ", "compgen", "export -p", "declare -x", "declare -p", "typeset -x"]
                    .iter()
                    .any(|w| text.contains(w))
                    || bare_dump(&text);
                let proxy =
                    env.iter().any(|(k, _)| k.to_ascii_lowercase().ends_with("_proxy")) || text.to_ascii_lowercase().contains("_proxy=");
                (value || dumps || proxy || !named.is_empty()).then(|| {
                    let what = if let Some(n) = named.first() {
                        format!("`{n}`")
                    } else if value {
                        "a secret value".to_owned()
                    } else if proxy {
                        "a proxy setting (every request, secrets included, would go through it)".to_owned()
                    } else {
                        "the whole environment (secrets included)".to_owned()
                    };
                    finding("secret in a changed command", format!("changes a command that can reach {what}"))
                })
            }
            _ => None,
        }
    }

    /// Raises an escalation with the diagnosis, a recommendation and options.
    #[allow(clippy::too_many_arguments)]
    async fn escalate(
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
        let mut options = vec![ApprovalOption {
            id: "retry".into(),
            label: "Retry now".into(),
            choice: Choice::Retry,
            detail: "Run the failed call again, with a fresh attempt budget for this step.".into(),
        }];
        let mut first_alt = None;
        for (i, alt) in step.alternatives.iter().enumerate() {
            if st.used_alternatives.contains(&i) {
                continue;
            }
            first_alt.get_or_insert(format!("alt-{i}"));
            let shown = self.render(&self.expand(alt));
            options.push(ApprovalOption {
                id: format!("alt-{i}"),
                label: format!("Use alternative {}", i + 1),
                choice: Choice::Alternative { index: i },
                detail: format!("Run `{shown}` instead."),
            });
        }
        options.push(ApprovalOption {
            id: "skip".into(),
            label: "Skip this step".into(),
            choice: Choice::Skip,
            detail: "The job goes on without it.".into(),
        });
        options.push(ApprovalOption {
            id: "abort".into(),
            label: "Abort the job".into(),
            choice: Choice::Abort,
            detail: "Nothing more runs.".into(),
        });

        // A standing rule or a timeout may grant one more round per step,
        // never an endless loop of them: after that only a person can.
        let auto_retried = st
            .rep
            .escalations
            .iter()
            .filter_map(|e| e.decision.as_ref())
            .any(|d| d.option == "retry" && !matches!(d.decided_by, DecidedBy::Person { .. }));
        // A person's choice for this failure, learned earlier, comes first.
        let learned = st.lessons.iter().filter(|l| l.applies).find_map(|l| {
            let id = l.recommends()?;
            options.iter().any(|o| o.id == id).then(|| (id.to_owned(), l.id.clone()))
        });
        let (recommended, recommendation) = if let Some((option, lesson)) = learned {
            (option, format!("The last time this failed, a person chose this (lesson `{lesson}`)."))
        } else if let Some(alt) = first_alt {
            (alt, "A declared alternative has not been tried yet.".to_owned())
        } else if retryable && (exhausted || st.retries.get(&err.code).copied().unwrap_or(0) >= step.retry.max) && !auto_retried {
            ("retry".to_owned(), format!("{} is transient: the service may be back by now.", err.code))
        } else if step.optional {
            ("skip".to_owned(), "The step is optional; the job can finish without it.".to_owned())
        } else {
            ("abort".to_owned(), format!("{} will not go away by retrying: fix the cause, then re-run the job.", err.code))
        };
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
    fn note_doubt(&self, step: &Step, st: &mut StepState, cur: &Current, outcome: &Outcome, purpose: CallPurpose) {
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
    fn no_fix(&self, step: &Step, err: &ToolError, retries: u32, no_alternatives_left: bool) -> String {
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
        let options = vec![
            ApprovalOption {
                id: "ran".into(),
                label: "It happened: go on".into(),
                choice: Choice::Skip,
                detail: "Count the step as done without sending it again; the job goes on.".into(),
            },
            ApprovalOption {
                id: "run".into(),
                label: "Send it again".into(),
                choice: Choice::Run,
                detail: format!("Send `{shown}` once more. It may already have happened: if it did, it happens twice."),
            },
            ApprovalOption {
                id: "abort".into(),
                label: "Abort the job".into(),
                choice: Choice::Abort,
                detail: "Nothing more runs.".into(),
            },
        ];
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

    #[allow(clippy::too_many_arguments)]
    fn request(
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
            title: self.redactor.text(&title),
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
        }
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

    /// A call of this step may have run: the run's process ended after its
    /// "call started" record and before its outcome (issue 12). Nothing runs
    /// again silently: the step's verify call (when it has one and the gate
    /// lets it run unasked) says whether the step's effect is there, and a
    /// person decides. `Ok(approved)` runs the step (`true`: its own call,
    /// approved as shown); `Err(status)` ends it.
    async fn in_doubt(
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
        let skip = ApprovalOption {
            id: "ran".into(),
            label: "It ran: go on".into(),
            choice: Choice::Skip,
            detail: "Count the step as done without running it again; the job goes on.".into(),
        };
        let again = if own {
            ApprovalOption {
                id: "run".into(),
                label: "Run it again".into(),
                choice: Choice::Run,
                detail: format!("Run `{shown}` once more: only if it did not run, or running it twice is harmless."),
            }
        } else {
            ApprovalOption {
                id: "retry".into(),
                label: "Run the step again".into(),
                choice: Choice::Retry,
                detail: "Start the step over from its own call (destructive calls still ask first).".into(),
            }
        };
        let abort = ApprovalOption {
            id: "abort".into(),
            label: "Abort the job".into(),
            choice: Choice::Abort,
            detail: "Nothing more runs.".into(),
        };
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
    async fn ask(&mut self, step: &Step, st: &mut StepState, req: ApprovalRequest, remembered_ok: bool) -> Result<Resolution, EngineError> {
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

#[cfg(test)]
mod dump_tests {
    use super::bare_dump;

    #[test]
    fn bare_env_set_and_export_print_every_variable() {
        for dumps in
            ["env", "set", "export", "/usr/bin/env", "env -0", "set | grep KEY", "x=$(env)", "`set`", "set 2>&1", "env>o", "a; export\nb"]
        {
            assert!(bare_dump(dumps), "{dumps}");
        }
        for quiet in
            ["set -e; cat data/report.csv", "env FOO=1 make", "export A=1", "reset", "setup.sh", "envsubst < t", "set -- a b", "my_env"]
        {
            assert!(!bare_dump(quiet), "{quiet}");
        }
    }
}
