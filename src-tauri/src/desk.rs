//! The desk: the desktop app's background agent. It owns the journal (one
//! [`Agent`]), the live runs, the requests a run is waiting on, the jobs
//! folder and its schedule, and the demo service. Commands are thin calls
//! into it; it reaches the window only through the [`Shell`] trait, so it
//! runs the same under `tauri::test::mock_builder()`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use mend_agent::folder::JobFolder;
use mend_agent::lease::{Lease, Taken};
use mend_agent::{Agent, AgentError, Continuation, DecideArgs, Ended, OwnerWait, RunSpec, rule_for};
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, DecisionRule};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::{Observer, new_id};
use mend_core::event::Event;
use mend_core::job::Job;
use mend_core::mcp::McpServer;
use mend_core::payload::{Body, RunEnd};
use mend_faults::FaultServer;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::error::IpcError;
use crate::ipc::{DecideInput, DecideResult, JobEntry, JobsView, RunEnded};
use crate::timing::Timing;

/// What the desk needs from the window system.
pub trait Shell: Send + Sync {
    /// Sends an event to every window.
    fn emit(&self, event: &str, payload: Value);
    /// A request waits for a person: open or focus the approval popup and
    /// show an OS notification.
    fn approval_raised(&self, request: &ApprovalRequest);
    /// Puts the approval popup away (the person deferred, or decided the
    /// last request): hidden while runs go on, closed when none does.
    fn hide_popup(&self, close: bool);
    /// The number of live runs changed: while runs go on, a hidden popup
    /// is kept ready so an escalation only has to show it; with none, a
    /// hidden popup is closed (its WebKit process ends).
    fn runs_changed(&self, live: usize);
    /// Opens a file with the system's default program.
    fn open_path(&self, path: &Path) -> Result<(), String>;
}

/// The shell before the window exists, and in tests that do not need one.
struct NoShell;

impl Shell for NoShell {
    fn emit(&self, _: &str, _: Value) {}
    fn approval_raised(&self, _: &ApprovalRequest) {}
    fn hide_popup(&self, _: bool) {}
    fn runs_changed(&self, _: usize) {}
    fn open_path(&self, _: &Path) -> Result<(), String> {
        Err("no window".into())
    }
}

/// The demo's service and the environment its job needs.
type Demo = (FaultServer, Vec<(String, String)>);

struct Live {
    job: String,
    job_path: Option<PathBuf>,
    cancel: Option<oneshot::Sender<String>>,
}

struct Waiter {
    request: ApprovalRequest,
    tx: oneshot::Sender<Answer>,
}

/// The desktop app's background agent.
pub struct Desk {
    agent: Agent,
    config: Config,
    env: Vec<(String, String)>,
    jobs_dir: PathBuf,
    shell: OnceLock<Arc<dyn Shell>>,
    /// Runs of this process, by run id. A std mutex: held for map edits
    /// only, never across an await.
    live: Mutex<HashMap<String, Live>>,
    /// Requests a run of this process waits on, by request id (std mutex,
    /// as above).
    waiters: Mutex<HashMap<String, Waiter>>,
    /// The jobs folder (std mutex, as above).
    folder: Mutex<JobFolder>,
    /// The demo's service and its environment, started on first use
    /// (a Tokio mutex: starting the server awaits).
    demo: tokio::sync::Mutex<Option<Demo>>,
    /// Startup and latency marks for the benchmarks.
    pub timing: Timing,
    /// Watching the memory file for edits made in other editors.
    _memory_watch: Option<mend_agent::memory::Watch>,
    /// Pending requests already shown (std mutex, as above): a request of
    /// another process — `mend mcp serve` holding an agent's call, `mend
    /// hook claude`, a `mend run` waiting — pops up once (issue 17).
    raised: Mutex<std::collections::HashSet<String>>,
    /// The journal's newest event id at the last look (see
    /// [`Desk::watch_journal`]); -1 before the first.
    journal_seen: std::sync::atomic::AtomicI64,
}

/// Where the desktop keeps things.
pub struct Paths {
    /// The journal and the demo's work folder live here.
    pub data_dir: PathBuf,
    /// The folder of job files the app runs on their schedules.
    pub jobs_dir: PathBuf,
    /// The memory file (default: `$MEND_MEMORY`, else `MEMORY.md` in the data directory).
    pub memory: Option<PathBuf>,
}

impl Desk {
    /// Opens the journal and the jobs folder (created if missing).
    pub fn open(paths: &Paths, config: Config) -> Result<Arc<Desk>, AgentError> {
        let agent = match &paths.memory {
            Some(m) => Agent::open_with(&paths.data_dir, Some(m))?,
            None => Agent::open(&paths.data_dir)?,
        };
        let agent = agent.with_llm(&config.llm)?;
        if let Some(e) = agent.memory_error() {
            eprintln!("mend-desktop: the memory file cannot be used, jobs run without lessons: {e}");
        }
        // Edits made in another editor are picked up and re-indexed.
        let memory_watch = agent.lessons().and_then(|l| {
            l.watch(|e| eprintln!("mend-desktop: re-reading the memory file: {e}"))
                .map_err(|e| eprintln!("mend-desktop: cannot watch the memory file: {e}"))
                .ok()
        });
        std::fs::create_dir_all(&paths.jobs_dir).map_err(|e| AgentError::Internal(format!("{}: {e}", paths.jobs_dir.display())))?;
        // A server disabled by `mend mcp disable` is disabled here too.
        mend_tools::mcp::servers().load_disabled(&paths.data_dir);
        Ok(Arc::new(Desk {
            agent,
            config,
            env: std::env::vars().collect(),
            jobs_dir: paths.jobs_dir.clone(),
            shell: OnceLock::new(),
            live: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            folder: Mutex::new(JobFolder::new(&paths.jobs_dir)),
            demo: tokio::sync::Mutex::new(None),
            timing: Timing::from_env(),
            _memory_watch: memory_watch,
            raised: Mutex::new(std::collections::HashSet::new()),
            journal_seen: std::sync::atomic::AtomicI64::new(-1),
        }))
    }

    /// Connects the window system (once).
    pub fn attach(&self, shell: Arc<dyn Shell>) {
        let _ = self.shell.set(shell);
    }

    pub(crate) fn shell(&self) -> &dyn Shell {
        match self.shell.get() {
            Some(s) => s.as_ref(),
            None => &NoShell,
        }
    }

    /// The agent (journal and tools).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The jobs folder.
    pub fn jobs_dir(&self) -> &Path {
        &self.jobs_dir
    }

    /// The user config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The environment jobs run with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The MCP servers the config and the jobs folder's jobs declare, each
    /// name once (the config's first, then the jobs' in file order), with
    /// the folder a server's relative `cwd` resolves against and the job
    /// file that declared it (`None`: the config). The folder as the
    /// schedule last read it.
    pub fn mcp_servers(&self) -> Vec<(McpServer, PathBuf, Option<PathBuf>)> {
        let mut out: Vec<(McpServer, PathBuf, Option<PathBuf>)> =
            self.config.mcp_servers.iter().map(|s| (s.clone(), self.jobs_dir.clone(), None)).collect();
        let Ok(folder) = self.folder.lock() else { return out };
        for (path, entry) in folder.entries() {
            let Ok(job) = &entry.job else { continue };
            for s in &job.mcp_servers {
                if !out.iter().any(|(o, _, _)| o.name == s.name) {
                    out.push((s.clone(), job.base_dir.clone(), Some(path.to_path_buf())));
                }
            }
        }
        out
    }

    /// Whether a run of this process is going on.
    pub fn is_live(&self, run_id: &str) -> bool {
        self.live.lock().is_ok_and(|l| l.contains_key(run_id))
    }

    /// Whether a run of this process is waiting on this request.
    pub fn is_waiting_on(&self, request_id: &str) -> bool {
        self.waiters.lock().is_ok_and(|w| w.contains_key(request_id))
    }

    /// Loads and checks a job file (the demo's gets its service).
    pub async fn load(&self, path: &Path) -> Result<(Job, Vec<(String, String)>), IpcError> {
        let extra = if self.is_demo(path) { self.demo_env().await? } else { Vec::new() };
        let mut env = self.env.clone();
        env.extend(extra.iter().cloned());
        let job = mend_agent::load::job(path, &self.config, &env)?;
        Ok((job, extra))
    }

    fn demo_dir(&self) -> PathBuf {
        self.agent.data_dir().join("demo")
    }

    fn is_demo(&self, path: &Path) -> bool {
        let dir = std::fs::canonicalize(self.demo_dir()).unwrap_or_else(|_| self.demo_dir());
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).starts_with(dir)
    }

    async fn demo_env(&self) -> Result<Vec<(String, String)>, IpcError> {
        let mut demo = self.demo.lock().await;
        if demo.is_none() {
            let server = mend_agent::demo::server().await.map_err(|e| IpcError::internal(format!("cannot start the demo service: {e}")))?;
            let env = mend_agent::demo::env(&server);
            *demo = Some((server, env));
        }
        Ok(demo.as_ref().map(|(_, env)| env.clone()).unwrap_or_default())
    }

    /// Lays out the demo's work folder and starts the demo job.
    pub async fn start_demo(self: &Arc<Self>) -> Result<String, IpcError> {
        let path = mend_agent::demo::prepare(&self.demo_dir()).map_err(|e| IpcError::io(&self.demo_dir(), e))?;
        let (job, extra) = self.load(&path).await?;
        Ok(self.start(job, Some(path), extra, None))
    }

    /// A fresh install (no run in the journal, demo never shown): starts the
    /// demo so a newcomer sees healing in the first minute.
    pub async fn first_start(self: &Arc<Self>) -> Result<Option<String>, IpcError> {
        let marker = self.agent.data_dir().join("demo-shown");
        let empty = self.agent.reader()?.runs(1)?.is_empty();
        if marker.exists() || !empty {
            return Ok(None);
        }
        std::fs::write(&marker, b"").map_err(|e| IpcError::io(&marker, e))?;
        self.start_demo().await.map(Some)
    }

    /// Starts a job file by path.
    pub async fn start_path(self: &Arc<Self>, path: &Path) -> Result<String, IpcError> {
        let (job, extra) = self.load(path).await?;
        Ok(self.start(job, Some(path.to_path_buf()), extra, None))
    }

    /// Starts a run in the background, or goes on with one this process
    /// took over (`go_on`: its lease and where it goes on); returns its id
    /// at once.
    pub fn start(
        self: &Arc<Self>,
        job: Job,
        job_path: Option<PathBuf>,
        extra_env: Vec<(String, String)>,
        go_on: Option<(Lease, Continuation)>,
    ) -> String {
        let run_id = go_on.as_ref().map(|(l, _)| l.run_id().to_owned()).unwrap_or_else(new_id);
        let (cancel_tx, cancel_rx) = oneshot::channel::<String>();
        let live = self.live.lock().map(|mut live| {
            live.insert(run_id.clone(), Live { job: job.name.clone(), job_path: job_path.clone(), cancel: Some(cancel_tx) });
            live.len()
        });
        self.shell().runs_changed(live.unwrap_or(1));
        let desk = self.clone();
        let id = run_id.clone();
        tauri::async_runtime::spawn(async move {
            let approver: Arc<dyn Approver> = Arc::new(PopupApprover { desk: desk.clone() });
            let observer: Arc<dyn Observer> = Arc::new(UiObserver { desk: desk.clone() });
            // Cancelled when the sender fires; a dropped sender never cancels.
            let cancel = async move {
                match cancel_rx.await {
                    Ok(why) => why,
                    Err(_) => std::future::pending::<String>().await,
                }
            };
            let mut env = desk.env.clone();
            env.extend(extra_env);
            let mut spec = RunSpec { job_path: job_path.as_deref(), run_id: Some(id.clone()), ..RunSpec::new(&job, env) };
            if let Some((lease, next)) = go_on {
                spec.lease = Some(lease);
                match next {
                    Continuation::Resume(r) => spec.resume = Some(*r),
                    Continuation::Restart(r) => spec.restart = Some(*r),
                    Continuation::Ended(_) | Continuation::Waiting(_) => {}
                }
            }
            let ended = desk.agent.execute(spec, approver, Some(observer), cancel).await;
            let live = desk.live.lock().map(|mut live| {
                live.remove(&id);
                live.len()
            });
            desk.shell().runs_changed(live.unwrap_or(0));
            let status = match ended {
                Ok(Ended::Finished(r)) => RunEnded { run_id: id, status: r.status.into(), exit_code: Some(r.exit_code), error: None },
                Ok(Ended::Interrupted { .. }) => RunEnded { run_id: id, status: RunEnd::Interrupted, exit_code: None, error: None },
                Err(e) => RunEnded { run_id: id, status: RunEnd::Failed, exit_code: None, error: Some(IpcError::from(e)) },
            };
            desk.shell().emit("run-ended", serde_json::to_value(&status).unwrap_or_default());
        });
        self.shell().emit("run-started", json!({"run_id": run_id}));
        run_id
    }

    /// Cancels a live run (its command's process group is killed; pending
    /// requests stay pending). A run that is not going on is a conflict.
    pub fn cancel(&self, run_id: &str) -> Result<(), IpcError> {
        let tx = self.live.lock().ok().and_then(|mut l| l.get_mut(run_id).and_then(|r| r.cancel.take()));
        match tx {
            Some(tx) => {
                let _ = tx.send("cancelled from the desktop app".into());
                Ok(())
            }
            None => Err(IpcError::conflict(format!("run {run_id} is not running"))),
        }
    }

    /// Runs a past run's job file again, as a new run.
    pub async fn rerun(self: &Arc<Self>, run_id: &str) -> Result<String, IpcError> {
        let path = self.agent.run_job_path(run_id)?;
        self.start_path(&path).await
    }

    /// A person's decision, from any of the app's windows. A request a run
    /// of this process waits on is answered on its channel (the engine
    /// journals it and goes on); any other pending request (from before a
    /// restart, or another process) is journaled here and its run resumed.
    /// A remembered decision is stored and answers the other waiting
    /// requests it matches.
    pub async fn decide(self: &Arc<Self>, input: DecideInput) -> Result<DecideResult, IpcError> {
        self.timing.clicked(&input.id, input.clicked_ms);
        let who = std::env::var("USER").unwrap_or_default();
        let waiter = self.waiters.lock().map_err(|e| IpcError::internal(e.to_string()))?.remove(&input.id);
        let (rule, resumed) = match waiter {
            Some(Waiter { request, tx }) => {
                let rule = match input.remember {
                    Some(scope) => Some(rule_for(&request, &input.option, scope, input.note.clone())?),
                    None => None,
                };
                // The one way to decide (issue 15); the engine waiting on it
                // journals it.
                let decision = match request.decide(&input.option, input.note.clone(), DecidedBy::Person { who }, now_ms()) {
                    Ok((d, _)) => d,
                    Err(e) => {
                        // Put it back: the request is still waiting.
                        self.waiters
                            .lock()
                            .map_err(|e| IpcError::internal(e.to_string()))?
                            .insert(input.id.clone(), Waiter { request, tx });
                        return Err(IpcError::bad_input_at("option", e.to_string()));
                    }
                };
                if let Some(rule) = &rule {
                    self.agent.save_rule(rule).await?;
                }
                if tx.send(Answer::Decided(decision)).is_err() {
                    return Err(IpcError::conflict(format!("the run waiting on {} has stopped; decide again to resume it", input.id)));
                }
                (rule, true)
            }
            None => {
                // A run of another process, or of an earlier session (issue
                // 12): whoever holds its lease goes on with it.
                let (request, _) = self.agent.request(&input.id)?;
                let claim = self.agent.claim(&request.run_id).await?;
                let args = DecideArgs {
                    id: input.id.clone(),
                    option: input.option.clone(),
                    note: input.note.clone(),
                    remember: input.remember,
                    who,
                    via: "in the desktop app",
                };
                let decided = self.agent.decide(args).await?;
                let resumed = match claim {
                    // An agent's call (issue 17) is answered by the agent's
                    // next identical call, never run by the app itself.
                    Taken::Ours(_) if request.agent.is_some() => false,
                    Taken::Ours(lease) => self.go_on(lease).await.is_ok(),
                    Taken::Held(_) => {
                        // Its owner reads the decision from the journal; if
                        // it lets go of the run instead, this app goes on.
                        let desk = self.clone();
                        let (id, run_id) = (input.id.clone(), request.run_id.clone());
                        tauri::async_runtime::spawn(async move {
                            if let Ok(OwnerWait::Ours(lease)) = desk.agent.await_owner(&id, &run_id, Duration::from_secs(30)).await {
                                let _ = desk.go_on(lease).await;
                            }
                        });
                        true
                    }
                };
                (decided.rule, resumed)
            }
        };
        let applied = match &rule {
            Some(rule) => self.apply_rule(rule),
            None => Vec::new(),
        };
        self.shell().emit("approvals-changed", json!({"decided": input.id, "applied": applied}));
        Ok(DecideResult { resumed, rule, also_decided: applied })
    }

    /// Goes on with a run whose lease this app took, as its journal tells
    /// (a decision to apply, or the step that was going on). A run that
    /// waits on a request or has ended is left as it is.
    pub async fn go_on(self: &Arc<Self>, lease: Lease) -> Result<String, IpcError> {
        let path = self.agent.run_job_path(lease.run_id())?;
        let (_, extra) = self.load(&path).await?;
        let mut env = self.env.clone();
        env.extend(extra.iter().cloned());
        let t = self.agent.continuation(lease, &self.config, &env)?;
        match t.next {
            Continuation::Ended(s) => Err(IpcError::conflict(format!("run {} has already ended ({s})", t.lease.run_id()))),
            Continuation::Waiting(r) => Err(IpcError::conflict(format!("run {} waits on request {}", t.lease.run_id(), r.id))),
            next => Ok(self.start(t.job, Some(t.job_path), extra, Some((t.lease, next)))),
        }
    }

    /// Goes on with a run of an earlier session or another process whose
    /// process ended (the runs view's "resume"); a run a live process owns
    /// is an error naming it.
    pub async fn resume_run(self: &Arc<Self>, run_id: &str) -> Result<String, IpcError> {
        match self.agent.claim(run_id).await? {
            Taken::Ours(lease) => self.go_on(lease).await,
            Taken::Held(h) => Err(IpcError::conflict(format!(
                "run {run_id} is owned by {}",
                h.map(|h| h.to_string()).unwrap_or_else(|| "a live process".into())
            ))),
        }
    }

    /// Answers the waiting requests a new rule matches; returns their ids.
    fn apply_rule(&self, rule: &DecisionRule) -> Vec<String> {
        let Ok(mut waiters) = self.waiters.lock() else { return Vec::new() };
        let ids: Vec<String> = waiters.iter().filter(|(_, w)| rule.matches(&w.request)).map(|(id, _)| id.clone()).collect();
        for id in &ids {
            if let Some(w) = waiters.remove(id) {
                let _ = w.tx.send(Answer::Decided(rule.decision(now_ms())));
            }
        }
        ids
    }

    /// Hands a waiting run the decision someone else journaled for its
    /// request (`mend approvals decide` from a terminal).
    pub fn sync_waiters(&self) {
        let ids: Vec<String> = self.waiters.lock().map(|w| w.keys().cloned().collect()).unwrap_or_default();
        if ids.is_empty() {
            return;
        }
        let Ok(reader) = self.agent.reader() else { return };
        for id in ids {
            if let Ok(Some((_, Some(decision)))) = reader.approval(&id)
                && let Some(w) = self.waiters.lock().ok().and_then(|mut w| w.remove(&id))
            {
                let _ = w.tx.send(Answer::Recorded(decision));
                self.shell().emit("approvals-changed", json!({"decided": id}));
            }
        }
    }

    /// The jobs folder, re-read.
    pub fn jobs(&self) -> JobsView {
        let Ok(mut folder) = self.folder.lock() else {
            return JobsView {
                dir: self.jobs_dir.display().to_string(),
                jobs: Vec::new(),
                error: Some("the folder state is poisoned".into()),
            };
        };
        let error = folder.scan(&self.config, &self.env, now_ms()).err().map(|e| format!("{}: {e}", self.jobs_dir.display()));
        let running: Vec<PathBuf> = self.live.lock().map(|l| l.values().filter_map(|r| r.job_path.clone()).collect()).unwrap_or_default();
        let jobs = folder
            .entries()
            .map(|(path, e)| JobEntry {
                path: path.display().to_string(),
                name: e.job.as_ref().map(|j| j.name.clone()).unwrap_or_else(|_| file_stem(path)),
                description: e.job.as_ref().ok().map(|j| j.description.clone()).filter(|d| !d.is_empty()),
                steps: e.job.as_ref().map(|j| j.steps.len()).unwrap_or(0),
                schedule: e.job.as_ref().ok().and_then(|j| j.schedule.as_ref()).map(|s| s.to_string()),
                next_ms: e.next_ms,
                error: e.job.as_ref().err().cloned(),
                running: running.iter().any(|p| p == path),
            })
            .collect();
        JobsView { dir: self.jobs_dir.display().to_string(), jobs, error }
    }

    /// Runs the jobs folder's schedules until the app quits (one start per
    /// due tick, never two runs of one file at once), and once a second
    /// hands waiting runs the decisions made elsewhere.
    pub async fn schedule(self: Arc<Self>) {
        let mut tick: u32 = 0;
        loop {
            // Runs whose process died (an earlier session, a killed `mend
            // run`) are closed as interrupted: at start, then every 10 s.
            if tick.is_multiple_of(10)
                && let Ok(closed) = self.agent.sweep().await
                && !closed.is_empty()
            {
                self.shell().emit("runs-changed", json!({"interrupted": closed}));
            }
            tick = tick.wrapping_add(1);
            let due = {
                let Ok(mut folder) = self.folder.lock() else { return };
                let changed = folder.scan(&self.config, &self.env, now_ms()).map(|c| !c.is_empty()).unwrap_or(false);
                if changed {
                    self.shell().emit("jobs-changed", Value::Null);
                }
                let mut due = Vec::new();
                while let Some(d) = folder.take_due(now_ms()) {
                    due.push(d);
                }
                due
            };
            self.sync_waiters();
            self.raise_new();
            self.watch_journal();
            for (path, job) in due {
                let busy = self.live.lock().is_ok_and(|l| l.values().any(|r| r.job_path.as_deref() == Some(path.as_path())));
                if !busy {
                    self.start(job, Some(path), Vec::new(), None);
                }
            }
            let wait = self
                .folder
                .lock()
                .ok()
                .and_then(|f| f.next_due())
                .map(|n| Duration::from_millis((n - now_ms()).max(0) as u64))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
        }
    }

    /// Pops up the requests left pending by an earlier session.
    pub fn raise_pending(&self) {
        let pending = self.agent.reader().and_then(|r| r.pending_approvals().map_err(Into::into)).unwrap_or_default();
        if let Ok(mut seen) = self.raised.lock() {
            seen.extend(pending.iter().map(|r| r.id.clone()));
        }
        if let Some(first) = pending.first() {
            self.shell().approval_raised(first);
        }
    }

    /// Pops up the requests other processes raised since the last look (an
    /// agent's call held by `mend mcp serve` waits for a person within its
    /// caller's timeout: it must be seen at once; issue 17). Requests of
    /// this process's own runs are raised when they are made.
    pub fn raise_new(&self) {
        let Ok(reader) = self.agent.reader() else { return };
        let Ok(pending) = reader.pending_approvals() else { return };
        let ours: Vec<String> = self.waiters.lock().map(|w| w.keys().cloned().collect()).unwrap_or_default();
        let fresh: Vec<&ApprovalRequest> = {
            let Ok(mut seen) = self.raised.lock() else { return };
            pending.iter().filter(|r| !ours.contains(&r.id) && seen.insert(r.id.clone())).collect()
        };
        if let Some(first) = fresh.first() {
            self.shell().approval_raised(first);
            self.shell().emit("approvals-changed", json!({"raised": first.id}));
        }
    }

    /// Tells the screens that the journal changed since the last look
    /// (`runs-changed`), whoever wrote it: the runs of other processes — an
    /// agent's call through `mend mcp serve`, a `mend run` in a terminal —
    /// appear and end in the app within the schedule's tick (1 s) without a
    /// run of its own to announce them.
    pub fn watch_journal(&self) {
        use std::sync::atomic::Ordering;
        let Ok(last) = self.agent.reader().and_then(|r| r.last_event_id().map_err(Into::into)) else { return };
        let seen = self.journal_seen.swap(last, Ordering::Relaxed);
        if seen >= 0 && seen != last {
            self.shell().emit("runs-changed", json!({"last_event": last}));
        }
    }

    /// Stops cleanly: cancels live runs (a request a run waits on stays
    /// pending in the journal and pops up after the next start), waits a
    /// moment for them to journal it, and closes the journal.
    pub async fn shutdown(&self) {
        let senders: Vec<oneshot::Sender<String>> =
            self.live.lock().map(|mut l| l.values_mut().filter_map(|r| r.cancel.take()).collect()).unwrap_or_default();
        for tx in senders {
            let _ = tx.send("stopped when the desktop app quit".into());
        }
        for _ in 0..150 {
            if self.live.lock().map(|l| l.is_empty()).unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // No MCP server outlives the app.
        mend_tools::mcp::servers().shutdown().await;
        self.agent.close();
    }

    /// Puts the popup away: hidden while runs go on (ready for the next
    /// request), closed otherwise.
    pub fn defer(&self) {
        let idle = self.live.lock().map(|l| l.is_empty()).unwrap_or(true);
        self.shell().hide_popup(idle);
    }

    /// The jobs of the live runs, by run id.
    pub fn live_jobs(&self) -> Vec<(String, String)> {
        self.live.lock().map(|l| l.iter().map(|(id, r)| (id.clone(), r.job.clone())).collect()).unwrap_or_default()
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Asks through the approval popup: the request goes on a channel keyed by
/// its id (it is already in the journal), the popup opens, and the run
/// waits for [`Desk::decide`].
struct PopupApprover {
    desk: Arc<Desk>,
}

/// Removes a waiter when its run stops waiting (timeout, cancel, quit).
struct WaiterGuard<'a> {
    desk: &'a Desk,
    id: String,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        let gone = self.desk.waiters.lock().ok().and_then(|mut w| w.remove(&self.id)).is_some();
        if gone {
            self.desk.shell().emit("approvals-changed", json!({"stopped_waiting": self.id}));
        }
    }
}

#[async_trait]
impl Approver for PopupApprover {
    async fn decide(&self, request: &ApprovalRequest) -> Answer {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.desk.waiters.lock() {
            w.insert(request.id.clone(), Waiter { request: request.clone(), tx });
        }
        let _guard = WaiterGuard { desk: &self.desk, id: request.id.clone() };
        self.desk.timing.escalated(&request.id);
        self.desk.shell().approval_raised(request);
        rx.await.unwrap_or(Answer::Pending)
    }
}

/// Forwards every event to the windows (the runs view is live).
struct UiObserver {
    desk: Arc<Desk>,
}

impl Observer for UiObserver {
    fn on_event(&self, event: &Event) {
        if let Body::Decision(d) = &event.body {
            self.desk.timing.resumed(&d.request, event.ts_ms);
        }
        self.desk.shell().emit("run-event", serde_json::to_value(event).unwrap_or_default());
    }
}
