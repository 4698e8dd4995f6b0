//! The agent: what runs job files, shared by the `mend` command line and the
//! desktop app so both behave the same way.
//!
//! - [`load`]: the user config and job files, checked, with errors that name
//!   file, line and field.
//! - [`Agent`]: one journal (one writer) and the tool registry; runs a job
//!   with an approver and an observer, can be cancelled, records a person's
//!   decision and finds what a decided request resumes.
//! - [`folder`]: a folder of job files and their schedules.
//! - [`memory`]: the memory file, indexed and watched, which the engine asks
//!   for lessons; [`learn`]: what a run and a person's decisions teach it.
//! - [`demo`]: the bundled demo job and its flaky loopback service.
//! - [`hook`]: Claude Code's own tool calls judged, journaled and diagnosed
//!   (`mend hook claude`, issue 17).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mend_core::approval::{ApprovalRequest, Approver, DecidedBy, Decision, DecisionRule, RuleScope};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::{Engine, EngineError, InDoubt, Observer, Restart, Resume, RunOptions};
use mend_core::event::{Event, Journal, Level};
use mend_core::job::Job;
use mend_core::payload::{Body, CallPurpose, RunEnd, RunFinished, StepStarted};
use mend_core::report::RunReport;
use mend_core::tool::ToolRegistry;
use mend_journal::{Reader, SqliteJournal};

pub mod demo;
pub mod folder;
pub mod hook;
pub mod learn;
pub mod lease;
pub mod load;
pub mod logs;
pub mod memory;
pub mod repeat;

use memory::Lessons;

/// Why the agent could not do what it was asked, by whose problem it is,
/// each with a message for a person (the command line maps the kinds to its
/// exit codes, the desktop to its IPC error codes).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The input is wrong: an option a request does not have, a scope that
    /// does not fit, a job file that does not load.
    #[error("{message}")]
    BadInput {
        /// What is wrong.
        message: String,
        /// Where, when known: a field (`option`, `remember`) or a file
        /// place (`jobs/sync.toml:5:3`).
        place: Option<String>,
    },
    /// What the input names does not exist: an approval request, a run, a
    /// remembered decision.
    #[error("{0}")]
    NotFound(String),
    /// The input contradicts what holds now: a request already decided
    /// with another option, a run that has ended.
    #[error("{0}")]
    Conflict(String),
    /// The journal, the disk or the engine failed: not the input's fault.
    #[error("{0}")]
    Internal(String),
}

impl AgentError {
    /// Bad input without a known place.
    pub fn bad_input(message: impl Into<String>) -> Self {
        AgentError::BadInput { message: message.into(), place: None }
    }

    /// Bad input at `place` (a field, or a file place).
    pub fn bad_input_at(place: impl Into<String>, message: impl Into<String>) -> Self {
        AgentError::BadInput { message: message.into(), place: Some(place.into()) }
    }

    /// Where the input is wrong, when known.
    pub fn place(&self) -> Option<&str> {
        match self {
            AgentError::BadInput { place, .. } => place.as_deref(),
            _ => None,
        }
    }
}

impl From<load::LoadError> for AgentError {
    fn from(e: load::LoadError) -> Self {
        AgentError::BadInput { message: e.message, place: e.place }
    }
}

impl From<mend_journal::Error> for AgentError {
    fn from(e: mend_journal::Error) -> Self {
        AgentError::Internal(e.to_string())
    }
}

impl From<mend_core::event::JournalError> for AgentError {
    fn from(e: mend_core::event::JournalError) -> Self {
        match e {
            mend_core::event::JournalError::NotFound(m) => AgentError::NotFound(m),
            other => AgentError::Internal(other.to_string()),
        }
    }
}

/// Where a remembered decision applies, as a person picks it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remember {
    /// Requests of this job.
    Job,
    /// Requests of this job's step.
    Step,
    /// This failure (error code) on this tool, in any job.
    Failure,
    /// Every request of this kind.
    Always,
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    /// The engine finished (success, failure, or waiting for a person).
    Finished(Box<RunReport>),
    /// Cancelled before the end; journaled as interrupted.
    Interrupted {
        /// The run's id.
        run_id: String,
    },
}

/// One run to start, or one to go on with.
pub struct RunSpec<'a> {
    /// The checked job.
    pub job: &'a Job,
    /// The environment the job's templates and tools see.
    pub env: Vec<(String, String)>,
    /// The job file, journaled so a waiting run can be resumed.
    pub job_path: Option<&'a Path>,
    /// A decided request to go on from (keeps that run's id).
    pub resume: Option<Resume>,
    /// Where to go on with a run whose process ended (needs `run_id`).
    pub restart: Option<Restart>,
    /// The run id to use (a new one if absent and not resuming).
    pub run_id: Option<String>,
    /// The run's lease, when the caller took it (going on with a run);
    /// otherwise [`Agent::execute`] takes it, and fails if a live process
    /// holds it.
    pub lease: Option<lease::Lease>,
    /// The agent whose call the run is (issue 17): journaled with every
    /// event, named in its requests' titles, matched by agent-scoped rules.
    pub agent: Option<String>,
}

impl<'a> RunSpec<'a> {
    /// A new run of `job` with the environment `env`; fill the other fields
    /// with struct update syntax.
    pub fn new(job: &'a Job, env: Vec<(String, String)>) -> Self {
        RunSpec { job, env, job_path: None, resume: None, restart: None, run_id: None, lease: None, agent: None }
    }
}

/// What goes on with a run whose lease this process holds (issue 12), as the
/// journal tells.
#[derive(Debug)]
pub enum Continuation {
    /// The run ended (its status): nothing to go on with.
    Ended(String),
    /// It waits on this request: a person decides it first.
    Waiting(Box<ApprovalRequest>),
    /// A decision made outside the run that no run has gone on with yet.
    Resume(Box<Resume>),
    /// From a step, with the call that may have run, if one did.
    Restart(Box<Restart>),
}

/// A run this process took over: its lease, and what goes on.
#[derive(Debug)]
pub struct Takeover {
    /// The run's lease (held until the run ends).
    pub lease: lease::Lease,
    /// The job, loaded again from the run's job file (a changed file is checked again).
    pub job: Job,
    /// That file.
    pub job_path: PathBuf,
    /// What goes on.
    pub next: Continuation,
}

/// Whether a live owner went on with a decision made outside it.
#[derive(Debug)]
pub enum OwnerWait {
    /// The owner acted on the decision.
    Applied,
    /// The owner let go (it ended, or died): the lease is ours now.
    Ours(lease::Lease),
    /// Still held and not acted on when the wait ran out.
    StillHeld(Option<lease::Holder>),
}

/// A person's answer to a waiting request.
#[derive(Debug, Clone)]
pub struct DecideArgs {
    /// The request.
    pub id: String,
    /// The chosen option's id.
    pub option: String,
    /// Free-text instructions.
    pub note: Option<String>,
    /// Remember the decision for later requests.
    pub remember: Option<Remember>,
    /// Who decided (a user name; may be empty).
    pub who: String,
    /// Where, for the journal ("from the command line").
    pub via: &'static str,
}

/// What [`Agent::decide`] recorded.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The request.
    pub request: ApprovalRequest,
    /// The decision that holds.
    pub decision: Decision,
    /// The rule stored, if the person asked to remember.
    pub rule: Option<DecisionRule>,
    /// The same decision was already recorded (a `decide` run again after
    /// it was killed, or two deciders at once): nothing new was journaled.
    pub earlier: bool,
}

/// The journal (one writer for the process) and the tools.
pub struct Agent {
    data_dir: PathBuf,
    journal: Arc<SqliteJournal>,
    registry: Arc<ToolRegistry>,
    /// The memory, opened on first need (issue 13): a run whose calls all
    /// succeed never reads MEMORY.md.
    lessons: Arc<LazyLessons>,
    /// The LLM layer, when models are configured.
    llm: Option<Arc<mend_llm::LlmDiagnoser>>,
}

impl Agent {
    /// Opens (creating if needed) the journal in `data_dir` and the memory
    /// file: `$MEND_MEMORY` if set, else `MEMORY.md` in `data_dir` (created
    /// with the starter lessons).
    pub fn open(data_dir: &Path) -> Result<Agent, AgentError> {
        let env = std::env::var_os("MEND_MEMORY").filter(|v| !v.is_empty()).map(PathBuf::from);
        Self::open_with(data_dir, env.as_deref())
    }

    /// Opens the journal in `data_dir` and the memory file `memory` (default
    /// `MEMORY.md` in `data_dir`). A memory file that cannot be read does not
    /// stop jobs from running: they run without lessons and
    /// [`memory_error`](Self::memory_error) says why.
    pub fn open_with(data_dir: &Path, memory: Option<&Path>) -> Result<Agent, AgentError> {
        std::fs::create_dir_all(data_dir).map_err(|e| AgentError::Internal(format!("{}: {e}", data_dir.display())))?;
        let journal = SqliteJournal::open(&data_dir.join(mend_journal::FILE_NAME))?;
        let path = memory.map(Path::to_path_buf).unwrap_or_else(|| Lessons::default_path(data_dir));
        let lessons = Arc::new(LazyLessons {
            path,
            index_dir: Lessons::index_dir(data_dir),
            cell: std::sync::OnceLock::new(),
            snapshot: std::sync::OnceLock::new(),
        });
        let registry = registry(journal.path());
        Ok(Agent { data_dir: data_dir.to_path_buf(), journal: Arc::new(journal), registry: Arc::new(registry), lessons, llm: None })
    }

    /// Adds the LLM layer over the configured chain of models (after the
    /// lesson and policy layers). No models: no layer. A model whose API key
    /// cannot be read is an error naming it.
    pub fn with_llm(mut self, models: &[mend_core::config::LlmModel]) -> Result<Agent, AgentError> {
        if models.is_empty() {
            return Ok(self);
        }
        let chain = mend_llm::Chain::new(models).map_err(|e| AgentError::bad_input_at("llm", format!("LLM: {e}")))?;
        self.llm = Some(Arc::new(mend_llm::LlmDiagnoser::new(chain)));
        Ok(self)
    }

    /// Runs jobs with `registry`'s tools instead of [`registry`]'s
    /// (`mend hook claude` adds its pseudo-tool: [`hook::registry`]).
    pub fn with_registry(mut self, registry: ToolRegistry) -> Agent {
        self.registry = Arc::new(registry);
        self
    }

    /// The memory's lessons for a failure, best first, at most `k`: the
    /// lookup a run's diagnosis makes (the persisted index when it is
    /// current, else the file); none when the memory cannot be read.
    pub fn find_lessons(&self, failure: &mend_core::lesson::FailureQuery, k: usize) -> Vec<mend_core::lesson::LessonMatch> {
        mend_core::lesson::LessonSource::find(&*self.lessons, failure, k)
    }

    /// The memory (opened now if it was not yet), unless its file could
    /// not be read.
    pub fn lessons(&self) -> Option<&Arc<Lessons>> {
        self.lessons.get().ok()
    }

    /// Why the memory file could not be read, if it could not (opens it).
    pub fn memory_error(&self) -> Option<&str> {
        self.lessons.get().err()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The journal's writer.
    pub fn journal(&self) -> &Arc<SqliteJournal> {
        &self.journal
    }

    /// A new read-only connection to the journal.
    pub fn reader(&self) -> Result<Reader, AgentError> {
        Ok(Reader::open(self.journal.path())?)
    }

    /// Runs a job with healing until it ends or `cancel` completes with
    /// why (`interrupted by SIGTERM`, `cancelled from the desktop app`). On
    /// cancel the run is dropped (a running command's process group is
    /// killed with it), everything journaled so far is kept and the run is
    /// closed as interrupted, with that reason; pending approvals stay
    /// pending, and a call that was running is in doubt when the run goes on.
    pub async fn execute(
        &self,
        spec: RunSpec<'_>,
        approver: Arc<dyn Approver>,
        observer: Option<Arc<dyn Observer>>,
        cancel: impl Future<Output = String>,
    ) -> Result<Ended, EngineError> {
        let (stats, rules) = match self.reader() {
            Ok(r) => (r.stats().unwrap_or_default(), r.rules().unwrap_or_default()),
            Err(_) => Default::default(),
        };
        // A decision made in another process (`mend approvals decide`) reaches
        // a run waiting at a terminal prompt or in the desktop app.
        let approver: Arc<dyn Approver> = Arc::new(Watched { inner: approver, journal: self.journal.path().to_path_buf() });
        let mut engine = Engine::new(self.registry.clone(), self.journal.clone(), approver)
            .with_stats(stats)
            .with_rules(rules)
            .with_probe(Arc::new(mend_tools::FsProbe));
        if let Some(o) = observer.clone() {
            engine = engine.with_observer(o);
        }
        // Opened only when a call fails (a diagnosis looks lessons up) or
        // the run has something to teach (issue 13).
        engine = engine.with_lessons(self.lessons.clone()).with_learner(self.lessons.clone());
        if let Some(llm) = &self.llm {
            // The model reads the journal's account of what failed (issue 16).
            engine = engine.with_layer_last(llm.clone()).with_history(Arc::new(logs::ReadLogs::new(self.journal.path().to_path_buf())));
        }
        let RunSpec { job, env, job_path, resume, restart, run_id, lease, agent } = spec;
        // The MCP tools' annotations are read before the gate needs them: a
        // tool marked destructive asks before it runs (issue 16).
        mend_tools::mcp::prepare(job, &env).await;
        let run_id = resume.as_ref().map(|r| r.request.run_id.clone()).or(run_id).unwrap_or_else(mend_core::engine::new_id);
        // The run is this process's for its whole life (issue 12): the lease
        // is taken before anything about the run is journaled.
        let lease = match lease {
            Some(l) if l.run_id() == run_id => l,
            Some(l) => return Err(EngineError::Ownership(format!("the lease held is for run {}, not {run_id}", l.run_id()))),
            None => match lease::take(&self.data_dir, &run_id, &process_what()) {
                Ok(lease::Taken::Ours(l)) => l,
                Ok(lease::Taken::Held(h)) => {
                    return Err(EngineError::Ownership(format!("run {run_id} is owned by {}", owner_text(h.as_ref()))));
                }
                Err(e) => return Err(EngineError::Ownership(format!("cannot take run {run_id}'s lease: {e}"))),
            },
        };
        let job_path = job_path.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string());
        // Each call's process group is written to the lease file while it runs.
        let lease = Arc::new(lease);
        let processes = Some(mend_core::tool::Processes(Arc::new(lease::Note(lease.clone()))));
        let who = agent.clone();
        let run = engine.run(job, RunOptions { env, run_id: Some(run_id.clone()), job_path, resume, restart, processes, agent });
        tokio::select! {
            r = run => r.map(|r| Ended::Finished(Box::new(r))),
            why = cancel => {
                // The call that was running was stopped with the run (its
                // process group killed): going on asks whether it ran.
                let stopped = format!("Mend stopped its process group when the run was {why} (anything it started outside that group was left running)");
                let body = Body::RunFinished(RunFinished {
                    status: RunEnd::Interrupted,
                    reason: Some(why.to_string()),
                    stopped: Some(stopped),
                    ..Default::default()
                });
                let ev = Event {
                    ok: Some(false),
                    agent: who,
                    ..Event::new(now_ms(), &run_id, &job.name, body, Level::Error, format!("run of `{}` interrupted", job.name))
                };
                if let Some(o) = &observer {
                    o.on_event(&ev);
                }
                self.journal.record(ev);
                self.journal.flush().await?;
                Ok(Ended::Interrupted { run_id })
            }
        }
    }

    /// The request `id` and its decision, if any. Unknown: `NotFound`.
    pub fn request(&self, id: &str) -> Result<(ApprovalRequest, Option<Decision>), AgentError> {
        self.reader()?.approval(id)?.ok_or_else(|| AgentError::NotFound(format!("no approval request `{id}`")))
    }

    /// Records a person's decision on a waiting request (and the rule, if
    /// asked to remember), for a request nobody is waiting on in this
    /// process: one from an earlier run, a restart, or another process.
    ///
    /// Idempotent and race-free (issue 12): the decision is durable before
    /// anything acts on it; a request takes one decision however many
    /// deciders there are at once; deciding again with the option that
    /// holds returns it (`earlier`), so a `decide` killed part-way can be
    /// run again and go on. Another option than the one that holds is a
    /// `Conflict` naming it; an unknown request `NotFound`; an option the
    /// request does not have `BadInput` at `option`.
    pub async fn decide(&self, args: DecideArgs) -> Result<Decided, AgentError> {
        let by = DecidedBy::Person { who: args.who.clone() };
        self.decide_as(args, by).await
    }

    /// [`decide`](Self::decide) for an answer that is not a person's: a
    /// standing `--approve` policy answering a request `mend runs resume`
    /// found waiting is journaled as that policy's, never as a person's.
    pub async fn decide_as(&self, args: DecideArgs, by: DecidedBy) -> Result<Decided, AgentError> {
        let (request, earlier) = self.request(&args.id)?;
        check_option(&request, &args.option)?;
        let ended = self.reader().ok().and_then(|r| r.run_state(&request.run_id).ok().flatten()).and_then(|s| s.status);
        let already = |d: &Decision| {
            let next = match ended.as_deref() {
                Some(s @ ("succeeded" | "failed" | "aborted")) => format!("its run {} has ended ({s})", request.run_id),
                _ => format!("`mend runs resume {}` goes on with that decision", request.run_id),
            };
            AgentError::Conflict(format!("request {} was already decided: `{}` at {}; {next}", args.id, d.option, d.decided_ms))
        };
        if let Some(d) = earlier {
            return if d.option == args.option {
                Ok(Decided { request, decision: d, rule: None, earlier: true })
            } else {
                Err(already(&d))
            };
        }
        let rule = args.remember.map(|scope| rule_for(&request, &args.option, scope, args.note.clone())).transpose()?;
        // The one way to decide (issue 15): the option checked above.
        let (decision, _) =
            request.decide(&args.option, args.note.clone(), by, now_ms()).map_err(|e| AgentError::bad_input_at("option", e.to_string()))?;
        // Not acted on yet: whoever goes on with the run applies it.
        let held = self.journal.resolve(&args.id, &decision, false).await?;
        if held != decision {
            return if held.option == args.option {
                Ok(Decided { request, decision: held, rule: None, earlier: true })
            } else {
                Err(already(&held))
            };
        }
        if let Some(rule) = &rule {
            self.save_rule(rule).await?;
        }
        let ev = request.decision_event(&decision, &format!(" {}", args.via));
        self.journal.record(ev);
        self.journal.flush().await?;
        // What a person chose is learned for that failure.
        if let Some(lessons) = self.lessons().filter(|_| matches!(decision.decided_by, DecidedBy::Person { .. })) {
            let redactor = learn::redactor(&[], &std::env::vars().collect::<Vec<_>>());
            let pair = [(request.clone(), decision.clone())];
            for n in learn::write(lessons, |m, today| learn::from_run(m, &RunReport::empty(), &pair, today, &redactor)) {
                self.journal.record(n.event(now_ms(), &request.run_id, &request.job, Some(&request.step)));
            }
            self.journal.flush().await?;
        }
        Ok(Decided { request, decision, rule, earlier: false })
    }

    /// Takes the lease of `run_id` (issue 12), riding over a moment when
    /// another process holds it only to look (a sweep): a few tries in
    /// about half a second. `Held` means a live process owns the run.
    pub async fn claim(&self, run_id: &str) -> Result<lease::Taken, AgentError> {
        let mut last = None;
        for _ in 0..10 {
            match lease::take(&self.data_dir, run_id, &process_what()) {
                Ok(lease::Taken::Ours(mut l)) => {
                    // A call its dead owner left running is stopped first.
                    l.stop_orphan();
                    return Ok(lease::Taken::Ours(l));
                }
                Ok(lease::Taken::Held(h)) => last = h,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(AgentError::bad_input_at("run_id", e.to_string())),
                Err(e) => return Err(AgentError::Internal(format!("cannot take run {run_id}'s lease: {e}"))),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(lease::Taken::Held(last))
    }

    /// After deciding a request whose run a live process owns: waits up to
    /// `patience` for that process to act on the decision (it reads the
    /// journal while it waits) or to let go of the run (then the lease is
    /// ours and the caller goes on with the run).
    pub async fn await_owner(&self, request_id: &str, run_id: &str, patience: std::time::Duration) -> Result<OwnerWait, AgentError> {
        let t0 = std::time::Instant::now();
        let reader = self.reader()?;
        loop {
            if reader.approval_applied(request_id)? {
                return Ok(OwnerWait::Applied);
            }
            match lease::take(&self.data_dir, run_id, &process_what()) {
                Ok(lease::Taken::Ours(mut l)) => {
                    l.stop_orphan();
                    return Ok(OwnerWait::Ours(l));
                }
                Ok(lease::Taken::Held(h)) if t0.elapsed() >= patience => return Ok(OwnerWait::StillHeld(h)),
                Ok(lease::Taken::Held(_)) => {}
                Err(e) => return Err(AgentError::Internal(format!("cannot take run {run_id}'s lease: {e}"))),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// What goes on with a run whose lease is ours (see [`Continuation`]):
    /// a pending request waits for a person; a decision made outside the
    /// run that no run went on with is applied; otherwise the run goes on
    /// from the step that was going on (with its started call in doubt,
    /// when its outcome is not in the journal) or the one after the last
    /// finished step.
    pub fn continuation(&self, lease: lease::Lease, config: &Config, env: &[(String, String)]) -> Result<Takeover, AgentError> {
        let run_id = lease.run_id().to_owned();
        let reader = self.reader()?;
        let state = reader.run_state(&run_id)?.ok_or_else(|| AgentError::NotFound(format!("no run `{run_id}` in the journal")))?;
        let path = self.run_job_path(&run_id)?;
        let job = load::job(&path, config, env).map_err(|e| e.context(&format!("cannot go on with run {run_id}")))?;
        let missing = |step: &str| {
            AgentError::bad_input_at(
                path.display().to_string(),
                format!(
                    "run {run_id} cannot go on: its job file {} has no step `{step}` any more (renamed or removed): \
                     restore it, or end the run with `mend runs close {run_id}`",
                    path.display()
                ),
            )
        };
        let next = match state.status.as_deref() {
            Some(s @ ("succeeded" | "failed" | "aborted")) => Continuation::Ended(s.to_owned()),
            _ => match (reader.pending_for_run(&run_id)?.into_iter().next(), reader.unapplied_decision(&run_id)?) {
                (Some(req), _) => Continuation::Waiting(Box::new(req)),
                (None, Some((request, decision))) => {
                    if !job.steps.iter().any(|s| s.name == request.step) {
                        return Err(missing(&request.step));
                    }
                    Continuation::Resume(Box::new(Resume { request, decision }))
                }
                (None, None) => {
                    let mut r = restart_of(&state, &job);
                    if let Some(d) = &mut r.in_doubt
                        && let Some(g) = lease.stopped()
                    {
                        d.stopped = Some(orphan_stopped(g));
                    }
                    if r.in_doubt.is_none()
                        && let Some(step) = r.step.as_deref().filter(|s| state.step.as_deref() == Some(*s) && state.step_open)
                    {
                        r.prior = prior_of(&reader, &run_id, step)?;
                    }
                    if let Some(s) = r.step.as_deref().filter(|s| !job.steps.iter().any(|x| &x.name == s)) {
                        return Err(missing(s));
                    }
                    Continuation::Restart(Box::new(r))
                }
            },
        };
        Ok(Takeover { lease, job, job_path: path, next })
    }

    /// Ends a run a person gives up on (`mend runs close`): its lease must
    /// be ours (no live process owns it). Its waiting requests are decided
    /// `abort` by `who`, decisions nobody went on with are marked done, and
    /// the run is journaled as `aborted`, with why. Returns how many waiting
    /// requests were decided. A run that already ended is a `Conflict`.
    pub async fn close_run(&self, lease: &lease::Lease, who: &str, note: Option<&str>) -> Result<usize, AgentError> {
        self.close_run_as(lease, DecidedBy::Person { who: who.to_owned() }, note).await
    }

    /// [`close_run`](Self::close_run) by a policy, not a person: a run an
    /// agent's later identical call made moot (issue 17: its decision was
    /// acted on there, or the call was answered there). Its waiting
    /// requests are journaled as the policy's, never as a person's.
    pub async fn close_run_as(&self, lease: &lease::Lease, by: DecidedBy, note: Option<&str>) -> Result<usize, AgentError> {
        let who = match &by {
            DecidedBy::Person { who } => who.clone(),
            DecidedBy::Policy { rule } => format!("policy {rule}"),
            DecidedBy::Timeout => "timeout".to_owned(),
        };
        let who = who.as_str();
        let run_id = lease.run_id();
        let reader = self.reader()?;
        let state = reader.run_state(run_id)?.ok_or_else(|| AgentError::NotFound(format!("no run `{run_id}` in the journal")))?;
        if let Some(s @ ("succeeded" | "failed" | "aborted")) = state.status.as_deref() {
            return Err(AgentError::Conflict(format!("run {run_id} has already ended ({s})")));
        }
        let pending = reader.pending_for_run(run_id)?;
        let n = pending.len();
        for req in pending {
            let d =
                Decision { option: "abort".into(), instructions: note.map(str::to_owned), decided_by: by.clone(), decided_ms: now_ms() };
            let held = self.journal.resolve(&req.id, &d, true).await?;
            if held == d {
                let ev = req.decision_event(&d, " when the run was closed");
                self.journal.record(ev);
            }
        }
        while let Some((req, d)) = reader.unapplied_decision(run_id)? {
            self.journal.resolve(&req.id, &d, true).await?;
        }
        let who = if who.is_empty() { "a person" } else { who };
        let reason = match note {
            Some(n) => format!("closed by {who}: {n}"),
            None => format!("closed by {who}"),
        };
        let body = Body::RunFinished(RunFinished { status: RunEnd::Aborted, reason: Some(reason.clone()), ..Default::default() });
        let ev = Event {
            ok: Some(false),
            ..Event::new(now_ms(), run_id, &state.job, body, Level::Error, format!("run of `{}` {reason}", state.job))
        };
        self.journal.record(ev);
        self.journal.flush().await?;
        Ok(n)
    }

    /// Closes the runs whose process ended without closing them (killed,
    /// crashed, the machine went down): each is journaled as `interrupted`,
    /// with when it was last heard of and what was running, so `mend runs`,
    /// the runs view and the dashboard show it as such; its pending requests
    /// stay pending. Also removes lease files nobody holds. A run a live
    /// process owns is left alone. Returns the runs closed.
    pub async fn sweep(&self) -> Result<Vec<String>, AgentError> {
        let reader = self.reader()?;
        let mut closed = Vec::new();
        for run_id in reader.open_runs()? {
            if lease::peek(&self.data_dir, &run_id).is_some() {
                continue;
            }
            let last = lease::last_holder(&self.data_dir, &run_id);
            let Ok(lease::Taken::Ours(mut lease)) = lease::take(&self.data_dir, &run_id, &process_what()) else { continue };
            // Ours now: nobody else writes this run; is it still open?
            let Some(state) = reader.run_state(&run_id)? else { continue };
            if state.status.is_some() {
                continue;
            }
            let who = match &last {
                Some(h) => format!("its process ({h})"),
                None => "its process".to_owned(),
            };
            let doing = match &state.in_flight {
                Some(c) => {
                    format!(" while `{}` was running: it may have run", c.get("call_text").and_then(|v| v.as_str()).unwrap_or("a call"))
                }
                None => match (&state.step, state.step_open) {
                    (Some(s), true) => format!(" during step `{s}`"),
                    _ => String::new(),
                },
            };
            // Its call, left running without a supervisor, is stopped.
            let stopped = lease.stop_orphan().map(|g| orphan_stopped(&g));
            let reason = match &stopped {
                Some(s) => format!("{who} ended without closing the run{doing}. {s}"),
                None => format!("{who} ended without closing the run{doing}"),
            };
            let ev = Event {
                ok: Some(false),
                step: state.step.clone(),
                ..Event::new(
                    now_ms(),
                    &run_id,
                    &state.job,
                    Body::RunFinished(RunFinished {
                        status: RunEnd::Interrupted,
                        reason: Some(reason.clone()),
                        last_ms: state.last_ms,
                        in_flight: state.in_flight.clone(),
                        stopped: stopped.clone(),
                        attempts: None,
                    }),
                    Level::Error,
                    format!("run of `{}` interrupted: {reason}", state.job),
                )
            };
            self.journal.record(ev);
            self.journal.flush().await?;
            drop(lease);
            closed.push(run_id);
        }
        lease::sweep(&self.data_dir);
        Ok(closed)
    }

    /// Stores a remembered decision.
    pub async fn save_rule(&self, rule: &DecisionRule) -> Result<(), AgentError> {
        Ok(self.journal.save_rule(rule).await?)
    }

    /// Drops a remembered decision; an unknown id is `NotFound`.
    pub async fn forget(&self, id: &str) -> Result<(), AgentError> {
        if !self.reader()?.rules()?.iter().any(|r| r.id == id) {
            return Err(AgentError::NotFound(format!("no remembered decision {id}")));
        }
        Ok(self.journal.delete_rule(id).await?)
    }

    /// The job file a run was started from, as journaled.
    pub fn run_job_path(&self, run_id: &str) -> Result<PathBuf, AgentError> {
        self.reader()?
            .run_job_path(run_id)?
            .map(PathBuf::from)
            .ok_or_else(|| AgentError::NotFound(format!("run {run_id} has no job file in the journal: run the job again")))
    }

    /// The job a decided request resumes: its run's journaled job file,
    /// loaded again (a changed file is checked again).
    pub fn resume_target(
        &self,
        request: &ApprovalRequest,
        config: &Config,
        env: &[(String, String)],
    ) -> Result<(Job, PathBuf), AgentError> {
        let path = self.run_job_path(&request.run_id)?;
        let job = load::job(&path, config, env).map_err(|e| e.context(&format!("cannot resume run {}", request.run_id)))?;
        Ok((job, path))
    }

    /// Waits until every event is stored and stops the writer.
    pub fn close(&self) {
        self.journal.close();
    }
}

/// Who this process is, for the lease file: the command line, shortened.
fn process_what() -> String {
    let args: Vec<String> = std::env::args().collect();
    let prog =
        args.first().map(|p| Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()).unwrap_or_default();
    let mut what = std::iter::once(prog).chain(args.into_iter().skip(1)).collect::<Vec<_>>().join(" ");
    if what.len() > 200 {
        let cut = (0..=200).rev().find(|&i| what.is_char_boundary(i)).unwrap_or(0);
        what.truncate(cut);
        what.push('…');
    }
    what
}

/// The sentence the in-doubt question and the run's reason give for a
/// call's process group that its dead owner left running.
fn orphan_stopped(group: &str) -> String {
    format!("It was still running without Mend when the run was taken over: {group}")
}

fn owner_text(h: Option<&lease::Holder>) -> String {
    match h {
        Some(h) => format!("live {h}"),
        None => "a live process".to_owned(),
    }
}

/// Where a run goes on when no decision is waiting to be applied: the step
/// that was going on (with its started call in doubt), else the step after
/// the last one that finished, else the first.
fn restart_of(state: &mend_journal::RunState, job: &Job) -> Restart {
    let in_doubt = state.in_flight.as_ref().map(|c| {
        let text = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        InDoubt {
            tool: text("tool"),
            call: text("call_text"),
            started_ms: c.get("started_ms").and_then(|v| v.as_i64()).unwrap_or(0),
            purpose: text("purpose"),
            stopped: c.get("stopped").and_then(|v| v.as_str()).map(str::to_owned),
        }
    });
    let step = match (&state.step, state.step_open || in_doubt.is_some()) {
        (None, _) => job.steps.first().map(|s| s.name.clone()),
        (Some(s), true) => Some(s.clone()),
        (Some(s), false) => match job.steps.iter().position(|x| &x.name == s) {
            Some(i) => job.steps.get(i + 1).map(|x| x.name.clone()),
            None => Some(s.clone()),
        },
    };
    Restart { step, in_doubt, prior: None }
}

/// What a step that was going on when its run's process ended had done
/// since it last started: its last call's outcome and the budgets spent
/// (issue 12). `None` when it made no call with an outcome.
fn prior_of(reader: &Reader, run_id: &str, step: &str) -> Result<Option<mend_core::engine::Prior>, AgentError> {
    let filter = mend_journal::LogFilter { run_id: Some(run_id.to_owned()), limit: 0, ..Default::default() };
    let events = reader.logs(&filter)?;
    // Since the step last really started: a start that only went on after a
    // crash (`continued`) is the same step, its calls and budgets count.
    let since = events
        .iter()
        .rposition(|e| e.step.as_deref() == Some(step) && matches!(e.body, Body::StepStarted(StepStarted { continued: false })))
        .map_or(0, |i| i + 1);
    let mut prior: Option<mend_core::engine::Prior> = None;
    let (mut verified, mut any_verify, mut attempts) = (None, false, 0u32);
    let mut retries: Vec<(String, u32)> = Vec::new();
    for e in events[since..].iter().filter(|e| e.step.as_deref() == Some(step)) {
        match &e.body {
            Body::Call(c) => {
                let outcome = c.outcome.clone();
                if c.purpose == CallPurpose::Verify {
                    verified = Some(outcome.is_ok());
                    any_verify = true;
                    continue;
                }
                verified = None;
                prior = Some(mend_core::engine::Prior {
                    tool: e.tool.clone().unwrap_or_default(),
                    args: c.args.clone(),
                    outcome,
                    verified: None,
                    attempts: 0,
                    retries: Vec::new(),
                });
            }
            Body::Attempt(_) => {
                attempts += 1;
                if e.action.as_deref() == Some("retry_same")
                    && let Some(code) = &e.code
                {
                    match retries.iter_mut().find(|(c, _)| c == code) {
                        Some((_, n)) => *n += 1,
                        None => retries.push((code.clone(), 1)),
                    }
                }
            }
            _ => {}
        }
    }
    // Verified: the goal held after the last call (the step is done), or a
    // verify call ran and it did not.
    let verified = verified.or(any_verify.then_some(false));
    Ok(prior.map(|p| mend_core::engine::Prior { verified, attempts, retries, ..p }))
}

/// The memory file and its index, opened on first need (issue 13).
struct LazyLessons {
    path: PathBuf,
    index_dir: PathBuf,
    cell: std::sync::OnceLock<Result<Arc<Lessons>, String>>,
    /// The persisted index, read-only, when it was built from the file as
    /// it is: what a failing call's lookup uses before (or instead of)
    /// parsing the file. Opened once per process (a std mutex: held for
    /// one lookup).
    snapshot: std::sync::OnceLock<Option<std::sync::Mutex<mend_memory::index::LessonIndex>>>,
}

impl LazyLessons {
    fn get(&self) -> Result<&Arc<Lessons>, &str> {
        self.cell
            .get_or_init(|| Lessons::open(&self.path, &self.index_dir).map(Arc::new).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }
}

impl mend_core::lesson::LessonSource for LazyLessons {
    /// Through the memory when it is open; else through the persisted
    /// index when it was built from the file as it is (the file is read
    /// and hashed, not parsed); else the memory is opened.
    fn find(&self, failure: &mend_core::lesson::FailureQuery, k: usize) -> Vec<mend_core::lesson::LessonMatch> {
        if let Some(Ok(l)) = self.cell.get() {
            return l.find(failure, k);
        }
        let snapshot = self.snapshot.get_or_init(|| {
            let text = std::fs::read_to_string(&self.path).ok()?;
            mend_memory::index::LessonIndex::open_current(&self.index_dir, mend_memory::store::Version::of(&text).0)
                .map(std::sync::Mutex::new)
        });
        if let Some(Ok(idx)) = snapshot.as_ref().map(|m| m.lock()) {
            return memory::find_in_index(&idx, failure, k);
        }
        match self.get() {
            Ok(l) => l.find(failure, k),
            Err(_) => Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl mend_core::lesson::Learner for LazyLessons {
    async fn learn(
        &self,
        report: &RunReport,
        decided: &[(ApprovalRequest, Decision)],
        redactor: &mend_core::redact::Redactor,
    ) -> Vec<mend_core::report::LessonNote> {
        // A run where nothing failed and nobody decided teaches nothing.
        if decided.is_empty() && report.steps.iter().all(|s| s.failure.is_none() && s.attempts.is_empty()) {
            return Vec::new();
        }
        match self.get() {
            Ok(l) => learn::MemoryLearner(l.clone()).learn(report, decided, redactor).await,
            Err(_) => Vec::new(),
        }
    }
}

/// An approver that also reads the journal while it waits: a decision made
/// in another process (`mend approvals decide`, the desktop app) answers the
/// request (issue 12).
struct Watched {
    inner: Arc<dyn Approver>,
    journal: PathBuf,
}

#[async_trait::async_trait]
impl Approver for Watched {
    async fn decide(&self, request: &ApprovalRequest) -> mend_core::approval::Answer {
        let poll = async {
            let mut reader = None;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                if reader.is_none() {
                    reader = Reader::open(&self.journal).ok();
                }
                if let Some(r) = &reader
                    && let Ok(Some((_, Some(d)))) = r.approval(&request.id)
                {
                    return mend_core::approval::Answer::Recorded(d);
                }
            }
        };
        tokio::select! {
            a = self.inner.decide(request) => a,
            a = poll => a,
        }
    }
}

fn check_option<'a>(request: &'a ApprovalRequest, option: &str) -> Result<&'a mend_core::approval::ApprovalOption, AgentError> {
    request.option(option).ok_or_else(|| {
        let ids: Vec<String> = request.options.iter().map(|o| format!("{} ({})", o.id, o.label)).collect();
        AgentError::bad_input_at(
            "option",
            format!("`{option}` is not an option of request {}; choose one of: {}", request.id, ids.join(", ")),
        )
    })
}

/// Every tool a job run by an agent can call: the built-in ones and
/// `read_logs` over the journal at `journal` (issue 16).
pub fn registry(journal: &Path) -> ToolRegistry {
    let mut r = mend_tools::default_registry();
    // A fixed, tested schema: registration cannot fail.
    let _ = r.register(Arc::new(logs::ReadLogs::new(journal.to_path_buf())));
    r
}

/// The rule that remembers choosing `option` on `request` for `scope`.
pub fn rule_for(request: &ApprovalRequest, option: &str, scope: Remember, note: Option<String>) -> Result<DecisionRule, AgentError> {
    let chosen = check_option(request, option)?;
    let scope = match scope {
        Remember::Job => RuleScope::Job { job: request.job.clone(), step: None },
        Remember::Step => RuleScope::Job { job: request.job.clone(), step: Some(request.step.clone()) },
        Remember::Always => RuleScope::Always,
        Remember::Failure => match (&request.tool, &request.code) {
            (Some(tool), Some(code)) => RuleScope::Failure { tool: tool.clone(), code: code.clone() },
            _ => {
                return Err(AgentError::bad_input_at(
                    "remember",
                    format!("request {} is not about a failure: remember it for the job or the step", request.id),
                ));
            }
        },
    };
    Ok(DecisionRule {
        id: format!("rule-{}", mend_core::engine::new_id()),
        scope,
        kind: request.kind,
        option: chosen.id.clone(),
        created_ms: now_ms(),
        note,
        // A decision about an agent's call holds for that agent only (issue 17).
        agent: request.agent.clone(),
    })
}
