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
//!
//! This module holds the public types and [`Engine::run`], which walks the
//! steps; the rooms of the loop are its submodules:
//!
//! - `heal`: one step and its healing loop (diagnose, attempt, recover);
//! - `validate`: whether a proposal may run, and the unknown-fate rules;
//! - `gate`: the safety gate before every call;
//! - `ask`: asking a person (escalations, calls in doubt) and the decision;
//! - `emit`: events, redaction, and the journaled tool call.

mod ask;
mod emit;
mod gate;
mod heal;
mod validate;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::approval::{ApprovalKind, ApprovalRequest, Approver, CallSource, Choice, DecidedBy, Decision, DecisionRule};
use crate::clock::{Clock, SystemClock};
use crate::code::ErrorCode;
use crate::diagnose::{Diagnoser, PolicyDiagnoser};
use crate::event::{Event, Journal, JournalError, Level, Stats};
use crate::job::{Call, Job, Step, expand};
use crate::lesson::{Learner, LessonDiagnoser, LessonMatch, LessonSource};
use crate::outcome::Outcome;
use crate::payload::{Body, BudgetInfo, RunFinished, RunStarted};
use crate::redact::Redactor;
use crate::report::{RunReport, RunStatus, StepReport, StepStatus};
use crate::safety::{Gate, Probe};
use crate::tool::{CallContext, ToolRegistry};

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
    /// The agent whose call the run is (issue 17): on every event and
    /// request of the run, and what agent-scoped rules match.
    pub agent: Option<String>,
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
    /// The journal's account of a failing call's subject, for layers that
    /// spend tokens (issue 16).
    history: Option<Arc<dyn crate::diagnose::History>>,
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
            history: None,
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

    /// Gives the layers that spend tokens (an LLM) the journal's account of
    /// a failing call's subject ([`DiagnosisContext::history`](crate::diagnose::DiagnosisContext::history)).
    pub fn with_history(mut self, history: Arc<dyn crate::diagnose::History>) -> Self {
        self.history = Some(history);
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
        let redactor = redactor_for(job, &opts.env);
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
                mcp_servers: std::sync::Arc::new(job.mcp_servers.clone()),
                env: std::sync::Arc::new(opts.env.clone()),
                notes: Default::default(),
            },
            env: opts.env,
            agent: opts.agent.clone(),
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
                run.emit(n.event(self.clock.now_ms(), &run_id, &job.name, None));
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

/// One run of a job in progress: what every room of the loop works on.
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
    /// The agent whose call this run is (issue 17).
    agent: Option<String>,
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
    /// A step not started yet: nothing tried, no budget spent.
    fn new(step: &Step) -> Self {
        StepState {
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
        }
    }

    /// Time the step has run, not counting waits for people.
    fn elapsed_ms(&self) -> u64 {
        self.t0.elapsed().saturating_sub(self.paused).as_millis() as u64
    }
}

impl Run<'_> {
    /// Time the run has run, not counting waits for people.
    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().saturating_sub(self.paused).as_millis() as u64
    }

    /// A call of the job with its templates filled in.
    fn expand(&self, call: &Call) -> Current {
        expand_call(call, &self.env, &self.job.base_dir)
    }

    /// A call as people see it, redacted (the tool's name if it is unknown).
    fn render(&self, cur: &Current) -> String {
        match self.e.registry.get(&cur.tool) {
            Some(t) => self.redactor.text(&t.render(&cur.args)),
            None => cur.tool.clone(),
        }
    }
}

/// A call with its templates (`${env:NAME}`, `${job_dir}`) filled in.
/// The redactor a run of `job` in `env` uses: the job's secrets and what
/// its MCP servers' headers carry (issue 16). Also what a caller outside
/// the engine needs to compute a call's digest as the engine does.
pub fn redactor_for(job: &Job, env: &[(String, String)]) -> Redactor {
    let header_vars: Vec<String> = job.mcp_servers.iter().flat_map(|s| s.secret_vars()).collect();
    Redactor::from_env(job.secrets.iter().map(String::as_str).chain(header_vars.iter().map(String::as_str)), env)
}

fn expand_call(call: &Call, env: &[(String, String)], base_dir: &Path) -> Current {
    Current { tool: call.tool.clone(), args: expand(&call.args, env, base_dir) }
}
