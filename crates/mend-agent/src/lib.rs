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

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mend_core::approval::{ApprovalRequest, Approver, Choice, DecidedBy, Decision, DecisionRule, RuleScope};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::{Engine, EngineError, Observer, Resume, RunOptions};
use mend_core::event::{Event, EventKind, Journal, Level};
use mend_core::job::Job;
use mend_core::report::RunReport;
use mend_core::tool::ToolRegistry;
use mend_journal::{Reader, SqliteJournal};

pub mod demo;
pub mod folder;
pub mod learn;
pub mod load;
pub mod memory;

use memory::Lessons;

/// A bad request or a broken journal, with a message for a person.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The input is wrong (unknown request, option, scope…).
    #[error("{0}")]
    BadInput(String),
    /// The journal or the engine failed.
    #[error("{0}")]
    Internal(String),
}

impl From<mend_journal::Error> for AgentError {
    fn from(e: mend_journal::Error) -> Self {
        AgentError::Internal(e.to_string())
    }
}

impl From<mend_core::event::JournalError> for AgentError {
    fn from(e: mend_core::event::JournalError) -> Self {
        AgentError::Internal(e.to_string())
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

/// One run to start.
pub struct RunSpec<'a> {
    /// The checked job.
    pub job: &'a Job,
    /// The environment the job's templates and tools see.
    pub env: Vec<(String, String)>,
    /// The job file, journaled so a waiting run can be resumed.
    pub job_path: Option<&'a Path>,
    /// A decided request to go on from (keeps that run's id).
    pub resume: Option<Resume>,
    /// The run id to use (a new one if absent and not resuming).
    pub run_id: Option<String>,
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
    /// The decision.
    pub decision: Decision,
    /// The rule stored, if the person asked to remember.
    pub rule: Option<DecisionRule>,
}

/// The journal (one writer for the process) and the tools.
pub struct Agent {
    data_dir: PathBuf,
    journal: Arc<SqliteJournal>,
    registry: Arc<ToolRegistry>,
    lessons: Result<Arc<Lessons>, String>,
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
        let lessons = Lessons::open(&path, &Lessons::index_dir(data_dir)).map(Arc::new).map_err(|e| e.to_string());
        Ok(Agent {
            data_dir: data_dir.to_path_buf(),
            journal: Arc::new(journal),
            registry: Arc::new(mend_tools::default_registry()),
            lessons,
            llm: None,
        })
    }

    /// Adds the LLM layer over the configured chain of models (after the
    /// lesson and policy layers). No models: no layer. A model whose API key
    /// cannot be read is an error naming it.
    pub fn with_llm(mut self, models: &[mend_core::config::LlmModel]) -> Result<Agent, AgentError> {
        if models.is_empty() {
            return Ok(self);
        }
        let chain = mend_llm::Chain::new(models).map_err(|e| AgentError::BadInput(format!("LLM: {e}")))?;
        self.llm = Some(Arc::new(mend_llm::LlmDiagnoser::new(chain)));
        Ok(self)
    }

    /// The memory, unless its file could not be read.
    pub fn lessons(&self) -> Option<&Arc<Lessons>> {
        self.lessons.as_ref().ok()
    }

    /// Why the memory file could not be read, if it could not.
    pub fn memory_error(&self) -> Option<&str> {
        self.lessons.as_ref().err().map(String::as_str)
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

    /// Runs a job with healing until it ends or `cancel` completes. On
    /// cancel the run is dropped (a running command's process group is
    /// killed with it), everything journaled so far is kept and the run is
    /// closed as interrupted; pending approvals stay pending.
    pub async fn execute(
        &self,
        spec: RunSpec<'_>,
        approver: Arc<dyn Approver>,
        observer: Option<Arc<dyn Observer>>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Ended, EngineError> {
        let (stats, rules) = match self.reader() {
            Ok(r) => (r.stats().unwrap_or_default(), r.rules().unwrap_or_default()),
            Err(_) => Default::default(),
        };
        let mut engine = Engine::new(self.registry.clone(), self.journal.clone(), approver)
            .with_stats(stats)
            .with_rules(rules)
            .with_probe(Arc::new(mend_tools::FsProbe));
        if let Some(o) = observer.clone() {
            engine = engine.with_observer(o);
        }
        if let Some(l) = self.lessons() {
            engine = engine.with_lessons(l.clone()).with_learner(Arc::new(learn::MemoryLearner(l.clone())));
        }
        if let Some(llm) = &self.llm {
            engine = engine.with_layer_last(llm.clone());
        }
        let RunSpec { job, env, job_path, resume, run_id } = spec;
        let run_id = resume.as_ref().map(|r| r.request.run_id.clone()).or(run_id).unwrap_or_else(mend_core::engine::new_id);
        let job_path = job_path.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string());
        let run = engine.run(job, RunOptions { env, run_id: Some(run_id.clone()), job_path, resume });
        tokio::select! {
            r = run => r.map(|r| Ended::Finished(Box::new(r))),
            _ = cancel => {
                let ev = Event {
                    ok: Some(false),
                    data: serde_json::json!({"status": "interrupted"}),
                    ..Event::new(now_ms(), &run_id, &job.name, EventKind::RunFinished, Level::Error, format!("run of `{}` interrupted", job.name))
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

    /// Records a person's decision on a waiting request (and the rule, if
    /// asked to remember), for a request nobody is waiting on in this
    /// process: one from an earlier run, a restart, or another process.
    pub async fn decide(&self, args: DecideArgs) -> Result<Decided, AgentError> {
        let reader = self.reader()?;
        let (request, earlier) =
            reader.approval(&args.id)?.ok_or_else(|| AgentError::BadInput(format!("no approval request `{}`", args.id)))?;
        if let Some(d) = earlier {
            return Err(AgentError::BadInput(format!("request {} was already decided: `{}` at {}", args.id, d.option, d.decided_ms)));
        }
        let chosen = check_option(&request, &args.option)?;
        let rule = args.remember.map(|scope| rule_for(&request, &args.option, scope, args.note.clone())).transpose()?;
        let decision = Decision {
            option: args.option.clone(),
            instructions: args.note.clone(),
            decided_by: DecidedBy::Person { who: args.who.clone() },
            decided_ms: now_ms(),
        };
        self.journal.resolve_approval(&args.id, &decision).await?;
        if let Some(rule) = &rule {
            self.save_rule(rule).await?;
        }
        let ev = Event {
            action: Some(decision.option.clone()),
            ok: Some(chosen.choice != Choice::Abort),
            duration_ms: Some((decision.decided_ms - request.created_ms).max(0) as u64),
            step: Some(request.step.clone()),
            data: serde_json::json!({"request": args.id, "decision": decision, "recommended": request.recommended, "kind": request.kind}),
            ..Event::new(
                decision.decided_ms,
                &request.run_id,
                &request.job,
                EventKind::Decision,
                Level::Info,
                format!("a person chose `{}` ({}) {}", chosen.id, chosen.label, args.via),
            )
        };
        self.journal.record(ev);
        self.journal.flush().await?;
        // What the person chose is learned for that failure.
        if let Some(lessons) = self.lessons() {
            let redactor = learn::redactor(&[], &std::env::vars().collect::<Vec<_>>());
            let pair = [(request.clone(), decision.clone())];
            for n in learn::write(lessons, |m, today| learn::from_run(m, &RunReport::empty(), &pair, today, &redactor)) {
                let ev = Event {
                    action: Some(n.change.clone()),
                    step: Some(request.step.clone()),
                    data: serde_json::json!({"lesson": n.id, "change": n.change}),
                    ..Event::new(now_ms(), &request.run_id, &request.job, EventKind::Lesson, Level::Info, n.message)
                };
                self.journal.record(ev);
            }
            self.journal.flush().await?;
        }
        Ok(Decided { request, decision, rule })
    }

    /// Stores a remembered decision.
    pub async fn save_rule(&self, rule: &DecisionRule) -> Result<(), AgentError> {
        Ok(self.journal.save_rule(rule).await?)
    }

    /// Drops a remembered decision.
    pub async fn forget(&self, id: &str) -> Result<(), AgentError> {
        self.journal.delete_rule(id).await.map_err(|e| AgentError::BadInput(e.to_string()))
    }

    /// The job file a run was started from, as journaled.
    pub fn run_job_path(&self, run_id: &str) -> Result<PathBuf, AgentError> {
        self.reader()?
            .run_job_path(run_id)?
            .map(PathBuf::from)
            .ok_or_else(|| AgentError::BadInput(format!("run {run_id} has no job file in the journal: run the job again")))
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
        let job = load::job(&path, config, env).map_err(|e| AgentError::BadInput(format!("cannot resume run {}: {e}", request.run_id)))?;
        Ok((job, path))
    }

    /// Waits until every event is stored and stops the writer.
    pub fn close(&self) {
        self.journal.close();
    }
}

fn check_option<'a>(request: &'a ApprovalRequest, option: &str) -> Result<&'a mend_core::approval::ApprovalOption, AgentError> {
    request.option(option).ok_or_else(|| {
        let ids: Vec<&str> = request.options.iter().map(|o| o.id.as_str()).collect();
        AgentError::BadInput(format!("`{option}` is not an option of request {}; choose one of: {}", request.id, ids.join(", ")))
    })
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
                return Err(AgentError::BadInput(format!(
                    "request {} is not about a failure: remember it for the job or the step",
                    request.id
                )));
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
    })
}
