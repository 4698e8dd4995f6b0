//! `mend run` and `mend check`: load a job file, run it with healing, report.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use mend_core::approval::{Answer, ApprovalRequest, Approver, Choice, DecidedBy, Decision, DecisionRule, RuleScope, StandingApprover};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::{Engine, Resume, RunOptions};
use mend_core::event::{Event, EventKind, Journal, Level};
use mend_core::job::Job;
use mend_core::report::RunReport;
use mend_journal::{Reader, SqliteJournal};

use crate::print::Progress;
use crate::query::RememberScope;
use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK};

/// Job files larger than this are refused (a job is a few kilobytes).
const MAX_JOB_BYTES: u64 = 4 << 20;

/// Reads the config file: `path` if given (it must exist), else the OS
/// config directory's `mend/config.toml` if present, else the defaults.
pub fn config(path: Option<&Path>) -> Result<Config, String> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match directories::ProjectDirs::from("", "", "mend") {
            Some(d) => (d.config_dir().join("config.toml"), false),
            None => return Ok(Config::default()),
        },
    };
    if !required && !path.exists() {
        return Ok(Config::default());
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    Config::parse(&text, &shown).map_err(|e| e.to_string())
}

/// Reads and checks a job file. Errors name the file, line and field.
pub fn load(path: &Path, config: &Config, env: &[(String, String)]) -> Result<Job, String> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_JOB_BYTES {
        return Err(format!("{shown}: {} bytes is too large for a job file (limit {MAX_JOB_BYTES})", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = mend_core::job::line_col(&String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]), usize::MAX);
        format!("{shown}:{line}:{col}: the file is not UTF-8 text")
    })?;
    let base = path.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    let job = Job::parse_with(&text, &shown, &base, config).map_err(|e| e.to_string())?;
    job.check(&shown, &mend_tools::default_registry(), env).map_err(|e| e.to_string())?;
    Ok(job)
}

/// `mend check`.
pub fn check(config: &Config, paths: &[PathBuf]) -> u8 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut bad = false;
    for p in paths {
        match load(p, config, &env) {
            Ok(job) => println!("{}: ok ({} steps)", p.display(), job.steps.len()),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    if bad { EXIT_BAD_INPUT } else { EXIT_OK }
}

/// Asks on the terminal: the recommended option first, Enter takes it.
pub struct TerminalApprover;

#[async_trait]
impl Approver for TerminalApprover {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        let req = req.clone();
        tokio::task::spawn_blocking(move || ask_blocking(&req)).await.unwrap_or(Answer::Pending)
    }
}

fn ask_blocking(req: &ApprovalRequest) -> Answer {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n┌─ APPROVAL NEEDED ─ {}", req.title);
    let _ = writeln!(err, "│ What happened: {}", req.what_happened.replace('\n', "\n│   "));
    let _ = writeln!(err, "│ Diagnosis:     {}", req.diagnosis.replace('\n', "\n│   "));
    let _ = writeln!(err, "│ Recommended:   {}", req.recommendation);
    if !req.attempts.is_empty() {
        let _ = writeln!(err, "│ Attempts so far: {}", req.attempts.len());
        for a in &req.attempts {
            let _ = writeln!(
                err,
                "│   #{} {} [{}] → {} {}",
                a["n"],
                a["action"].as_str().unwrap_or(""),
                a["layer"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or(""),
                a["code"].as_str().unwrap_or("")
            );
        }
    }
    for (i, o) in req.options.iter().enumerate() {
        let mark = if o.id == req.recommended { "  ← recommended" } else { "" };
        let _ = writeln!(err, "│  {}) {}{mark}\n│     {}", i + 1, o.label, o.detail);
    }
    let stdin = std::io::stdin();
    loop {
        let _ = write!(err, "└─ Enter = 1, a number to choose (text after it is kept as instructions), w = leave waiting: ");
        let _ = err.flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return Answer::Pending,
            Ok(_) => {}
        }
        let line = line.trim();
        if line.eq_ignore_ascii_case("w") {
            return Answer::Pending;
        }
        let (num, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let idx = if num.is_empty() { Some(0) } else { num.parse::<usize>().ok().and_then(|n| n.checked_sub(1)) };
        match idx.and_then(|i| req.options.get(i)) {
            Some(o) => {
                return Answer::Decided(Decision {
                    option: o.id.clone(),
                    instructions: (!rest.trim().is_empty()).then(|| rest.trim().to_owned()),
                    decided_by: DecidedBy::Person { who: std::env::var("USER").unwrap_or_default() },
                    decided_ms: now_ms(),
                });
            }
            None => {
                let _ = writeln!(err, "   `{line}` is not an option (1-{}).", req.options.len());
            }
        }
    }
}

/// The approver for a mode: ask on a terminal; otherwise wait (nothing is
/// approved silently).
pub fn approver(mode: Option<ApproveMode>) -> Arc<dyn Approver> {
    let mode = mode.unwrap_or(if std::io::stdin().is_terminal() { ApproveMode::Ask } else { ApproveMode::Wait });
    match mode {
        ApproveMode::Ask => Arc::new(TerminalApprover),
        ApproveMode::Recommended => Arc::new(StandingApprover::Recommended),
        ApproveMode::Abort => Arc::new(StandingApprover::Abort),
        ApproveMode::Wait => Arc::new(StandingApprover::Wait),
    }
}

/// How a run reports and answers approvals.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print the JSON report on stdout.
    pub json: bool,
    /// How approvals are answered.
    pub approve: Option<ApproveMode>,
    /// No progress lines.
    pub quiet: bool,
}

/// Runs a checked job with the journal in `data_dir`; prints progress and
/// the report. `job_path` is journaled so a waiting run can be resumed;
/// `resume` goes on with one. Returns the exit code.
pub async fn execute(
    data_dir: &Path,
    job: &Job,
    env: Vec<(String, String)>,
    job_path: Option<&Path>,
    resume: Option<Resume>,
    out: Output,
) -> u8 {
    let Output { json, approve, quiet } = out;
    let path = data_dir.join(mend_journal::FILE_NAME);
    let journal = match SqliteJournal::open(&path) {
        Ok(j) => Arc::new(j),
        Err(e) => {
            eprintln!("mend: cannot open the journal: {e}");
            return EXIT_INTERNAL;
        }
    };
    let (stats, rules) = match Reader::open(&path) {
        Ok(r) => (r.stats().unwrap_or_default(), r.rules().unwrap_or_default()),
        Err(_) => Default::default(),
    };
    let mut engine =
        Engine::new(Arc::new(mend_tools::default_registry()), journal.clone(), approver(approve)).with_stats(stats).with_rules(rules);
    if !quiet {
        engine = engine.with_observer(Arc::new(Progress::new()));
    }
    // A resumed run keeps its id.
    let run_id = resume.as_ref().map(|r| r.request.run_id.clone()).unwrap_or_else(mend_core::engine::new_id);
    let job_path = job_path.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string());
    let run = engine.run(job, RunOptions { env, run_id: Some(run_id.clone()), job_path, resume });
    let report = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            // The run is dropped (a running command's process group is
            // killed with it); everything journaled so far is kept, and the
            // run is closed as interrupted. Pending approvals stay pending.
            let ev = Event {
                ok: Some(false),
                data: serde_json::json!({"status": "interrupted"}),
                ..Event::new(now_ms(), &run_id, &job.name, EventKind::RunFinished, Level::Error, format!("run of `{}` interrupted", job.name))
            };
            journal.record(ev);
            journal.close();
            eprintln!("\nmend: interrupted; the journal has every event of run {run_id} up to now");
            return EXIT_INTERRUPTED;
        }
    };
    journal.close();
    match report {
        Ok(r) => {
            print_report(&r, json, quiet);
            r.exit_code as u8
        }
        Err(e) => {
            eprintln!("mend: {e}");
            EXIT_INTERNAL
        }
    }
}

fn print_report(r: &RunReport, json: bool, quiet: bool) {
    if json {
        match serde_json::to_string_pretty(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("mend: cannot print the report: {e}"),
        }
    }
    if !quiet {
        crate::print::summary(r);
    }
}

/// `mend run`.
pub async fn run_file(data_dir: &Path, config: &Config, path: &Path, out: Output) -> u8 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let job = match load(path, config, &env) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    execute(data_dir, &job, env, Some(path), None, out).await
}

/// What `mend approvals decide` was asked.
pub struct DecideArgs<'a> {
    /// The request.
    pub id: &'a str,
    /// The chosen option.
    pub option: &'a str,
    /// Instructions.
    pub note: Option<String>,
    /// Resume the run afterwards.
    pub resume: bool,
    /// Remember the decision for later requests.
    pub remember: Option<RememberScope>,
}

/// `mend approvals forget`.
pub async fn forget(data_dir: &Path, id: &str) -> u8 {
    let journal = match SqliteJournal::open(&data_dir.join(mend_journal::FILE_NAME)) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("mend: {e}");
            return EXIT_INTERNAL;
        }
    };
    let r = journal.delete_rule(id).await;
    journal.close();
    match r {
        Ok(()) => {
            eprintln!("Forgot {id}.");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("mend: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// `mend approvals decide`: records a person's decision on a waiting
/// request, remembers it if asked, and, unless told not to, resumes its run
/// from that step.
pub async fn decide(data_dir: &Path, config: &Config, args: DecideArgs<'_>, out: Output) -> u8 {
    let DecideArgs { id, option, note, resume, remember } = args;
    let path = data_dir.join(mend_journal::FILE_NAME);
    let fail = |code: u8, msg: String| {
        eprintln!("mend: {msg}");
        code
    };
    let reader = match Reader::open(&path) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INTERNAL, e.to_string()),
    };
    let (request, earlier) = match reader.approval(id) {
        Ok(Some(x)) => x,
        Ok(None) => return fail(EXIT_BAD_INPUT, format!("no approval request `{id}` (see `mend approvals list`)")),
        Err(e) => return fail(EXIT_INTERNAL, e.to_string()),
    };
    if let Some(d) = earlier {
        return fail(EXIT_BAD_INPUT, format!("request {id} was already decided: `{}` at {}", d.option, d.decided_ms));
    }
    let Some(chosen) = request.option(option) else {
        let ids: Vec<&str> = request.options.iter().map(|o| o.id.as_str()).collect();
        return fail(EXIT_BAD_INPUT, format!("`{option}` is not an option of request {id}; choose one of: {}", ids.join(", ")));
    };
    let rule = match remember {
        None => None,
        Some(scope) => {
            let scope = match scope {
                RememberScope::Job => RuleScope::Job { job: request.job.clone(), step: None },
                RememberScope::Step => RuleScope::Job { job: request.job.clone(), step: Some(request.step.clone()) },
                RememberScope::Always => RuleScope::Always,
                RememberScope::Failure => match (&request.tool, &request.code) {
                    (Some(tool), Some(code)) => RuleScope::Failure { tool: tool.clone(), code: code.clone() },
                    _ => return fail(EXIT_BAD_INPUT, format!("request {id} is not about a failure: remember it for the job or the step")),
                },
            };
            Some(DecisionRule {
                id: format!("rule-{}", mend_core::engine::new_id()),
                scope,
                kind: request.kind,
                option: chosen.id.clone(),
                created_ms: now_ms(),
                note: note.clone(),
            })
        }
    };
    let decision = Decision {
        option: chosen.id.clone(),
        instructions: note,
        decided_by: DecidedBy::Person { who: std::env::var("USER").unwrap_or_default() },
        decided_ms: now_ms(),
    };
    {
        let journal = match SqliteJournal::open(&path) {
            Ok(j) => j,
            Err(e) => return fail(EXIT_INTERNAL, e.to_string()),
        };
        if let Err(e) = journal.resolve_approval(id, &decision).await {
            return fail(EXIT_INTERNAL, e.to_string());
        }
        if let Some(rule) = &rule {
            if let Err(e) = journal.save_rule(rule).await {
                return fail(EXIT_INTERNAL, e.to_string());
            }
            eprintln!("Remembered as {}: {}.", rule.id, rule.describe());
        }
        let ev = Event {
            action: Some(decision.option.clone()),
            ok: Some(chosen.choice != Choice::Abort),
            duration_ms: Some((decision.decided_ms - request.created_ms).max(0) as u64),
            ..Event::new(
                decision.decided_ms,
                &request.run_id,
                &request.job,
                EventKind::Decision,
                Level::Info,
                format!("a person chose `{}` ({}) from the command line", chosen.id, chosen.label),
            )
        };
        let ev = Event {
            step: Some(request.step.clone()),
            data: serde_json::json!({"request": id, "decision": decision, "recommended": request.recommended, "kind": request.kind}),
            ..ev
        };
        journal.record(ev);
        if let Err(e) = journal.flush().await {
            return fail(EXIT_INTERNAL, e.to_string());
        }
        journal.close();
    }
    eprintln!("Decided: `{}` on {} ({}).", chosen.id, id, request.title);
    if !resume {
        return EXIT_OK;
    }
    let job_path = match reader.run_job_path(&request.run_id) {
        Ok(Some(p)) => PathBuf::from(p),
        Ok(None) => {
            eprintln!("The run's job file is not in the journal: run the job again with `mend run`.");
            return EXIT_OK;
        }
        Err(e) => return fail(EXIT_INTERNAL, e.to_string()),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let job = match load(&job_path, config, &env) {
        Ok(j) => j,
        Err(e) => return fail(EXIT_BAD_INPUT, format!("cannot resume run {}: {e}", request.run_id)),
    };
    eprintln!("Resuming run {} of `{}` at step `{}`.\n", request.run_id, job.name, request.step);
    execute(data_dir, &job, env, Some(&job_path), Some(Resume { request, decision }), out).await
}
