//! `mend run` and `mend check`: load a job file, run it with healing, report.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use mend_agent::lease::{Lease, Taken};
use mend_agent::{Agent, AgentError, Continuation, Decided, Ended, OwnerWait, Remember, RunSpec, Takeover};
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, Decision, StandingApprover};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::{EngineError, Observer};
use mend_core::job::Job;
use mend_core::report::RunReport;

use crate::print::{Progress, errln, errw};
use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_WAITING};

/// Where this process keeps its state: the data directory (journal, run
/// leases, the memory's index) and the memory file the runs read lessons
/// from and learn into.
#[derive(Debug, Clone)]
pub struct Home {
    /// `--data-dir`, `MEND_DATA_DIR`, or the OS default.
    pub data_dir: PathBuf,
    /// `--memory`, `MEND_MEMORY`, or `MEMORY.md` in the data directory.
    pub memory: PathBuf,
}

impl Home {
    /// The journal and the memory file, opened for this process.
    pub(crate) fn agent(&self) -> Result<Agent, AgentError> {
        Agent::open_with(&self.data_dir, Some(&self.memory))
    }
}

/// Reads the config file (see [`mend_agent::load::config`]).
pub fn config(path: Option<&Path>) -> Result<Config, String> {
    mend_agent::load::config(path)
}

/// Reads and checks a job file. Errors name the file, line and field.
pub fn load(path: &Path, config: &Config, env: &[(String, String)]) -> Result<Job, String> {
    mend_agent::load::job(path, config, env).map_err(|e| e.message)
}

/// `mend check`: each file loads, and each `mcp` call names a declared
/// server and, when the server can be reached, one of its tools with
/// arguments that fit its input schema (a server that cannot be reached is
/// a warning: its calls are not checked).
pub async fn check(config: &Config, paths: &[PathBuf]) -> u8 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut bad = false;
    for p in paths {
        match load(p, config, &env) {
            Ok(job) => {
                let found = crate::mcp::check_job(&job, &p.display().to_string(), config, &env).await;
                for w in &found.warnings {
                    errln!("{w}");
                }
                if found.errors.is_empty() {
                    println!("{}: ok ({} steps)", p.display(), job.steps.len());
                } else {
                    errln!("{}", mend_core::job::JobErrors(found.errors));
                    bad = true;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    if bad { EXIT_BAD_INPUT } else { EXIT_OK }
}

/// The call with the part the safety gate named marked: bold red on a
/// terminal, `»…«` elsewhere (a log file).
pub fn highlight(call: &str, span: Option<(usize, usize)>, color: bool) -> String {
    let Some((a, b)) = span.filter(|(a, b)| a < b && call.get(*a..*b).is_some()) else { return call.to_owned() };
    let (open, close) = if color { ("\x1b[1;31m", "\x1b[0m") } else { ("»", "«") };
    format!("{}{open}{}{close}{}", &call[..a], &call[a..b], &call[b..])
}

/// Asks on the terminal: the recommended option first, Enter takes it.
///
/// Lines come from one stdin reader thread for the whole process, over a
/// channel: a prompt that is answered elsewhere (`mend approvals decide`
/// from another terminal, the desktop app) stops waiting without a reader
/// left blocked on stdin to swallow the next prompt's answer (issue 12).
pub struct TerminalApprover;

/// Lines typed on stdin; `None` once stdin is closed.
fn stdin_lines() -> &'static tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Option<String>>> {
    static LINES: std::sync::OnceLock<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Option<String>>>> =
        std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new().name("mend-stdin".into()).spawn(move || {
            let stdin = std::io::stdin();
            loop {
                let mut line = String::new();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        if spawned.is_err() {
            // No reader: every prompt reads end-of-input and leaves its request waiting.
            let (tx, rx2) = tokio::sync::mpsc::unbounded_channel();
            let _ = tx.send(None);
            return tokio::sync::Mutex::new(rx2);
        }
        tokio::sync::Mutex::new(rx)
    })
}

#[async_trait]
impl Approver for TerminalApprover {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        show(req);
        // Lines typed ahead (a script piping its answers) answer in order.
        let mut lines = stdin_lines().lock().await;
        loop {
            errw!("└─ Enter = 1, a number to choose (text after it is kept as instructions), w = leave waiting: ");
            // Cancelled here (answered elsewhere, or timed out), nothing is consumed.
            let Some(Some(line)) = lines.recv().await else { return Answer::Pending };
            match parse_choice(req, line.trim()) {
                Ok(answer) => return answer,
                Err(msg) => errln!("   {msg}"),
            }
        }
    }
}

/// Prints a request: what happened, the call with the gate's part marked,
/// the diagnosis, the options with the recommended one first.
fn show(req: &ApprovalRequest) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n┌─ APPROVAL NEEDED ─ {}  (request {})", req.title, req.id);
    let _ = writeln!(err, "│ What happened: {}", req.what_happened.replace('\n', "\n│   "));
    if let Some(d) = &req.danger {
        let call = req.call.as_deref().unwrap_or("");
        let _ = writeln!(err, "│ The call:      {}", highlight(call, d.span, std::io::stderr().is_terminal()).replace('\n', "\n│   "));
        let _ = writeln!(err, "│ Gate:          {} — rule `{}` ({}) on `{}`", d.why, d.rule, d.category, d.command);
    }
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
    let _ = err.flush();
}

/// One typed line as an answer: empty = the first (recommended) option, a
/// number picks one (text after it is kept as instructions), `w` leaves
/// the request waiting.
fn parse_choice(req: &ApprovalRequest, line: &str) -> Result<Answer, String> {
    if line.eq_ignore_ascii_case("w") {
        return Ok(Answer::Pending);
    }
    let (num, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let idx = if num.is_empty() { Some(0) } else { num.parse::<usize>().ok().and_then(|n| n.checked_sub(1)) };
    match idx.and_then(|i| req.options.get(i)) {
        Some(o) => Ok(Answer::Decided(Decision {
            option: o.id.clone(),
            instructions: (!rest.trim().is_empty()).then(|| rest.trim().to_owned()),
            decided_by: DecidedBy::Person { who: std::env::var("USER").unwrap_or_default() },
            decided_ms: now_ms(),
        })),
        None => Err(format!("`{line}` is not an option (1-{}).", req.options.len())),
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

/// Runs a checked job with the journal and memory of `home`; prints progress and
/// the report. The spec's `job_path` is journaled so a waiting run can be
/// resumed; its `resume` goes on with one. SIGINT, SIGTERM or SIGHUP
/// interrupts ([`crate::signal`]). Returns the exit code.
pub async fn execute(home: &Home, config: &Config, spec: RunSpec<'_>, out: Output) -> u8 {
    let agent = match home.agent().and_then(|a| a.with_llm(&config.llm)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mend: {e}");
            return agent_fail(e);
        }
    };
    // Runs whose process died are closed as interrupted first (issue 12).
    let _ = agent.sweep().await;
    let code = execute_with(&agent, spec, out).await;
    agent.close();
    code
}

/// [`execute`] with an open agent.
pub async fn execute_with(agent: &Agent, spec: RunSpec<'_>, out: Output) -> u8 {
    let Output { json, approve, quiet } = out;
    let observer: Option<Arc<dyn Observer>> = if quiet { None } else { Some(Arc::new(Progress::new())) };
    let stop = crate::signal::stop_requested();
    let cancel = async { format!("interrupted by {}", stop.await.name()) };
    match agent.execute(spec, approver(approve), observer, cancel).await {
        Ok(Ended::Finished(r)) => {
            print_report(&r, json, quiet);
            r.exit_code as u8
        }
        Ok(Ended::Interrupted { run_id }) => {
            let by = crate::signal::caught().unwrap_or(crate::signal::Stop::Interrupt);
            errln!(
                "\nmend: interrupted by {}; the journal has every event of run {run_id} up to now; \
                 `mend runs resume {run_id}` goes on with it (waiting requests stay waiting: `mend approvals list`)",
                by.name()
            );
            by.exit_code()
        }
        // A run that cannot go on as asked, or is owned elsewhere, is bad input, not a failure of Mend.
        Err(e @ (EngineError::Resume(_) | EngineError::Ownership(_))) => {
            errln!("mend: {e}");
            EXIT_BAD_INPUT
        }
        Err(e) => {
            errln!("mend: {e}");
            EXIT_INTERNAL
        }
    }
}

fn print_report(r: &RunReport, json: bool, quiet: bool) {
    if json {
        match serde_json::to_string_pretty(r) {
            Ok(s) => {
                let _ = writeln!(std::io::stdout(), "{s}");
            }
            Err(e) => errln!("mend: cannot print the report: {e}"),
        }
    }
    if !quiet {
        crate::print::summary(r);
    }
}

/// `mend run`.
pub async fn run_file(home: &Home, config: &Config, path: &Path, out: Output) -> u8 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let job = match load(path, config, &env) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    execute(home, config, RunSpec { job_path: Some(path), ..RunSpec::new(&job, env) }, out).await
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
    pub remember: Option<Remember>,
}

fn agent_fail(e: AgentError) -> u8 {
    eprintln!("mend: {e}");
    match e {
        AgentError::BadInput { .. } | AgentError::NotFound(_) | AgentError::Conflict(_) => EXIT_BAD_INPUT,
        AgentError::Internal(_) => EXIT_INTERNAL,
    }
}

/// `mend approvals forget`.
pub async fn forget(home: &Home, id: &str) -> u8 {
    let agent = match home.agent() {
        Ok(a) => a,
        Err(e) => return agent_fail(e),
    };
    let r = agent.forget(id).await;
    agent.close();
    match r {
        Ok(()) => {
            eprintln!("Forgot {id}.");
            EXIT_OK
        }
        Err(e) => agent_fail(e),
    }
}

/// `mend approvals decide`: records a person's decision on a waiting
/// request, remembers it if asked, and, unless told not to, resumes its run
/// from that step.
pub async fn decide(home: &Home, config: &Config, args: DecideArgs<'_>, out: Output) -> u8 {
    let agent = match home.agent().and_then(|a| a.with_llm(&config.llm)) {
        Ok(a) => a,
        Err(e) => return agent_fail(e),
    };
    let _ = agent.sweep().await;
    let code = decide_with(&agent, config, args, out).await;
    agent.close();
    code
}

async fn decide_with(agent: &Agent, config: &Config, args: DecideArgs<'_>, out: Output) -> u8 {
    let DecideArgs { id, option, note, resume, remember } = args;
    let who = std::env::var("USER").unwrap_or_default();
    // The run first (issue 12): whoever holds its lease goes on with it.
    let (request, _) = match agent.request(id) {
        Ok(r) => r,
        Err(e) => return agent_fail(e),
    };
    let run_id = request.run_id.clone();
    // An agent's call (through `mend mcp serve` or a hook) is not resumed
    // here: the agent's next identical call is answered by this decision
    // (issue 17).
    let for_agent = request.agent.clone();
    let resume = resume && for_agent.is_none();
    // The number shown at the prompt picks that option too.
    let option = match option.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| request.options.get(i)) {
        Some(o) => o.id.as_str(),
        None => option,
    };
    let claim = match agent.claim(&run_id).await {
        Ok(c) => c,
        Err(e) => return agent_fail(e),
    };
    // A decision nothing could go on with is not recorded: a job file that
    // lost the request's step is said before anything is stored.
    if resume
        && let Taken::Ours(_) = &claim
        && let Err(e) = agent.resume_target(&request, config, &std::env::vars().collect::<Vec<_>>()).and_then(|(job, path)| {
            if job.steps.iter().any(|s| s.name == request.step) {
                Ok(())
            } else {
                Err(AgentError::bad_input_at(
                    path.display().to_string(),
                    format!(
                        "run {run_id} cannot go on: its job file {} has no step `{}` any more (renamed or removed): \
                         restore it, or end the run with `mend runs close {run_id}`; nothing was decided",
                        path.display(),
                        request.step
                    ),
                ))
            }
        })
    {
        return agent_fail(e);
    }
    let args = mend_agent::DecideArgs { id: id.to_owned(), option: option.to_owned(), note, remember, who, via: "from the command line" };
    let Decided { request, decision, rule, earlier } = match agent.decide(args).await {
        Ok(d) => d,
        Err(e) => return agent_fail(e),
    };
    if let Some(rule) = &rule {
        errln!("Remembered as {}: {}.", rule.id, rule.describe());
    }
    if earlier {
        errln!("Request {id} was already decided `{}` ({}).", decision.option, request.title);
    } else {
        errln!("Decided: `{}` on {} ({}).", decision.option, id, request.title);
    }
    if let Some(a) = &for_agent {
        errln!("{a} gets this decision when it makes the same call again (nothing runs until then).");
    }
    if !resume {
        return EXIT_OK;
    }
    if earlier
        && let Taken::Ours(_) = &claim
        && let Some(status) = agent.reader().ok().and_then(|r| r.run_state(&run_id).ok().flatten()).and_then(|s| s.status)
        && matches!(status.as_str(), "succeeded" | "failed" | "aborted")
    {
        errln!("mend: request {id} was already decided and its run {run_id} has ended ({status}): nothing to do.");
        return EXIT_BAD_INPUT;
    }
    let lease = match claim {
        Taken::Ours(lease) => lease,
        // A live process owns the run (a terminal prompt, the desktop app):
        // it reads the decision from the journal and goes on with it.
        Taken::Held(holder) => match agent.await_owner(id, &run_id, std::time::Duration::from_secs(10)).await {
            Ok(OwnerWait::Applied) => {
                errln!("Run {run_id} goes on with it in {}.", holder_text(holder.as_ref()));
                return EXIT_OK;
            }
            Ok(OwnerWait::Ours(lease)) => lease,
            Ok(OwnerWait::StillHeld(h)) => {
                errln!(
                    "Run {run_id} is owned by {}, which goes on with this decision when it next reads the journal.",
                    holder_text(h.as_ref().or(holder.as_ref()))
                );
                return EXIT_OK;
            }
            Err(e) => return agent_fail(e),
        },
    };
    go_on(agent, config, lease, None, out).await
}

fn holder_text(h: Option<&mend_agent::lease::Holder>) -> String {
    h.map(|h| format!("live {h}")).unwrap_or_else(|| "a live process".into())
}

/// Goes on with a run whose lease is ours, as its journal tells: applies a
/// decision made outside it, goes on from the step that was going on (a
/// call that may have run asks first), or says what it waits on. `ask`
/// answers a pending request (`mend runs resume` at a terminal).
async fn go_on(agent: &Agent, config: &Config, lease: Lease, ask: Option<Arc<dyn Approver>>, out: Output) -> u8 {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let run_id = lease.run_id().to_owned();
    let mut take = match agent.continuation(lease, config, &env) {
        Ok(t) => t,
        Err(e) => return agent_fail(e),
    };
    if let (Continuation::Waiting(req), Some(approver)) = (&take.next, &ask) {
        let answer = approver.decide(req).await;
        let (Answer::Decided(d) | Answer::Recorded(d)) = answer else {
            errln!("Run {run_id} still waits on request {}: `mend approvals decide {} OPTION`.", req.id, req.id);
            return EXIT_WAITING;
        };
        let who = match &d.decided_by {
            DecidedBy::Person { who } => who.clone(),
            _ => String::new(),
        };
        let via =
            if matches!(d.decided_by, DecidedBy::Person { .. }) { "at the terminal (mend runs resume)" } else { "(mend runs resume)" };
        let args = mend_agent::DecideArgs { id: req.id.clone(), option: d.option, note: d.instructions, remember: None, who, via };
        // A standing --approve answer is journaled as that policy's, not a person's.
        if let Err(e) = agent.decide_as(args, d.decided_by).await {
            return agent_fail(e);
        }
        take = match agent.continuation(take.lease, config, &env) {
            Ok(t) => t,
            Err(e) => return agent_fail(e),
        };
    }
    let Takeover { lease, job, job_path, next } = take;
    let spec = RunSpec { job_path: Some(&job_path), run_id: Some(run_id.clone()), lease: Some(lease), ..RunSpec::new(&job, env) };
    match next {
        Continuation::Ended(status) => {
            errln!("mend: run {run_id} has already ended ({status}): nothing to go on with.");
            EXIT_BAD_INPUT
        }
        Continuation::Waiting(req) => {
            errln!("Run {run_id} waits on request {}: `mend approvals decide {} OPTION` (options: {}).", req.id, req.id, option_ids(&req));
            EXIT_WAITING
        }
        Continuation::Resume(r) => {
            errln!("Resuming run {run_id} of `{}` at step `{}` with `{}`.\n", job.name, r.request.step, r.decision.option);
            execute_with(agent, RunSpec { resume: Some(*r), ..spec }, out).await
        }
        Continuation::Restart(r) => {
            match (&r.step, &r.in_doubt) {
                (Some(s), Some(d)) => errln!("Going on with run {run_id} at step `{s}`: `{}` may have run, so it asks first.\n", d.call),
                (Some(s), None) => errln!("Going on with run {run_id} of `{}` at step `{s}`.\n", job.name),
                (None, _) => errln!("Run {run_id} had finished its steps; closing it.\n"),
            }
            execute_with(agent, RunSpec { restart: Some(*r), ..spec }, out).await
        }
    }
}

fn option_ids(req: &ApprovalRequest) -> String {
    req.options.iter().map(|o| o.id.as_str()).collect::<Vec<_>>().join(", ")
}

/// `mend runs close RUN`: ends a run whose process is gone (exit 2 when a
/// live process owns it or it already ended).
pub async fn close_run(home: &Home, run_id: &str, note: Option<&str>) -> u8 {
    let agent = match home.agent() {
        Ok(a) => a,
        Err(e) => return agent_fail(e),
    };
    let who = std::env::var("USER").unwrap_or_default();
    let code = match agent.claim(run_id).await {
        Ok(Taken::Ours(lease)) => match agent.close_run(&lease, &who, note).await {
            Ok(0) => {
                errln!("Closed run {run_id}: journaled as aborted.");
                EXIT_OK
            }
            Ok(n) => {
                errln!("Closed run {run_id}: journaled as aborted; its {n} waiting request(s) were decided `abort`.");
                EXIT_OK
            }
            Err(e) => agent_fail(e),
        },
        Ok(Taken::Held(h)) => {
            errln!("mend: run {run_id} is owned by {}: stop it there (Ctrl-C, or Cancel in the desktop app).", holder_text(h.as_ref()));
            EXIT_BAD_INPUT
        }
        Err(e) => agent_fail(e),
    };
    agent.close();
    code
}

/// `mend runs resume RUN`: goes on with a run whose process ended (killed,
/// crashed, stopped) — applying a decision made meanwhile, asking its
/// pending request at the terminal (or as `--approve` says), or going on
/// from the step that was going on; a call that may have run asks first.
/// A run a live process owns is left to it (exit 2, naming the process).
pub async fn resume_run(home: &Home, config: &Config, run_id: &str, out: Output) -> u8 {
    let agent = match home.agent().and_then(|a| a.with_llm(&config.llm)) {
        Ok(a) => a,
        Err(e) => return agent_fail(e),
    };
    let _ = agent.sweep().await;
    let code = match agent.claim(run_id).await {
        Ok(Taken::Ours(lease)) => go_on(&agent, config, lease, Some(approver(out.approve)), out).await,
        Ok(Taken::Held(h)) => {
            errln!("mend: run {run_id} is owned by {}: it is not interrupted.", holder_text(h.as_ref()));
            EXIT_BAD_INPUT
        }
        Err(e) => agent_fail(e),
    };
    agent.close();
    code
}

#[cfg(test)]
mod tests {
    use super::highlight;

    #[test]
    fn the_named_part_of_a_call_is_marked() {
        assert_eq!(highlight("echo ok && rm -rf x", Some((11, 19)), false), "echo ok && »rm -rf x«");
        assert_eq!(highlight("rm -rf x", Some((0, 8)), true), "\x1b[1;31mrm -rf x\x1b[0m");
        // A span that is out of range or not on a char boundary marks nothing.
        assert_eq!(highlight("é rm", Some((1, 4)), false), "é rm");
        assert_eq!(highlight("rm", Some((0, 9)), false), "rm");
        assert_eq!(highlight("rm", None, false), "rm");
    }
}
