//! `exec`: run a program (or a `/bin/sh -c` script) with arguments, working
//! directory, environment, standard input, a timeout and an output cap.
//!
//! The child runs in its own process group; on timeout the whole group is
//! killed, so nothing it started is left behind. Spawn failures, exit codes,
//! signals and well-known stderr messages become error codes.
//!
//! A call never outlasts its timeout by much more than [`DRAIN`]: once the group
//! is gone (it exited, or was killed at the deadline), the pipes are read for
//! at most that long. A process that left the group (`setsid`, a daemon) and
//! still holds one of the pipes is not waited on and not killed: it is named
//! under `escaped` (`[{"pid", "command"}]`) — in `output` always, and in the
//! error's hints when the call failed — for a person to look at. Standard
//! input the command did not read is no error: `stdin_written` and
//! `stdin_bytes` say how much of it went in (likewise in `output`, and in
//! the hints of a failure).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mend_core::safety::Intent;
use mend_core::tool::{CallContext, Effect, Repair, Tool};
use mend_core::{ErrorCode, Outcome, ToolError};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::{mpsc, watch};

use crate::{ms_since, tail};

/// Default timeout of a call.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Default cap on each of stdout and stderr.
pub const DEFAULT_MAX_OUTPUT: u64 = 1 << 20;
/// The longest timeout a repair proposes.
const MAX_REPAIR_TIMEOUT_MS: u64 = 10 * 60_000;
/// How long the pipes are still read once the command's process group is
/// gone, or after its leader exited. What a dead writer left in a pipe is
/// read in microseconds; a pipe still open after this long is held by a live
/// process: a leftover in the group (then ended, and drained once more) or
/// one that escaped it (then named in the outcome, and no longer waited on).
pub const DRAIN: Duration = Duration::from_millis(200);
/// The longest `command` named for an escaped process.
const MAX_COMMAND_CHARS: usize = 200;

/// The `exec` tool.
#[derive(Debug, Default, Clone)]
pub struct ExecTool;

/// Well-known messages in a failed command's output, most specific first.
const PATTERNS: &[(&str, &[&str])] = &[
    ("COMMAND_NOT_FOUND", &["command not found", "no such command", "executable file not found"]),
    ("CONNECTION_REFUSED", &["connection refused", "econnrefused", "could not connect to server", "failed to connect"]),
    (
        "DNS_FAILURE",
        &[
            "could not resolve host",
            "name or service not known",
            "no such host",
            "temporary failure in name resolution",
            "nodename nor servname",
            "getaddrinfo",
        ],
    ),
    ("TLS_FAILURE", &["certificate verify failed", "ssl certificate problem", "tls handshake", "x509:"]),
    ("CONNECTION_RESET", &["connection reset", "broken pipe", "econnreset"]),
    ("TIMEOUT", &["timed out", "timeout expired", "deadline exceeded", "etimedout"]),
    ("RATE_LIMITED", &["too many requests", "rate limit", "429"]),
    ("UNAUTHORIZED", &["unauthorized", "authentication failed", "invalid credentials", "401"]),
    ("PERMISSION_DENIED", &["permission denied", "operation not permitted", "access denied", "eacces", "eperm"]),
    ("NO_SPACE", &["no space left on device", "disk quota exceeded"]),
    ("ALREADY_EXISTS", &["already exists", "file exists", "eexist"]),
    ("NOT_FOUND", &["no such file or directory", "not found", "does not exist", "enoent"]),
    ("SERVER_ERROR", &["internal server error", "503 service unavailable", "502 bad gateway"]),
];

/// The code for curl's own error report (`curl: (N) …`, its exit code N;
/// for 22, `--fail`, the HTTP status it names), as the HTTP tool would
/// classify the same failure (issue 14).
pub fn classify_curl(text: &str) -> Option<ErrorCode> {
    let at = text.find("curl: (")? + "curl: (".len();
    let n: u32 = text[at..].split(')').next()?.trim().parse().ok()?;
    Some(match n {
        6 | 5 => ErrorCode::DNS_FAILURE,
        7 => ErrorCode::CONNECTION_REFUSED,
        28 => ErrorCode::TIMEOUT,
        35 | 51 | 58 | 59 | 60 | 77 | 83 | 90 | 91 => ErrorCode::TLS_FAILURE,
        52 | 55 | 56 => ErrorCode::CONNECTION_RESET,
        22 => {
            let s = text.find("returned error: ").map(|i| &text[i + "returned error: ".len()..])?;
            let status: u16 = s.get(..3)?.parse().ok()?;
            match status {
                429 => ErrorCode::RATE_LIMITED,
                401 => ErrorCode::UNAUTHORIZED,
                403 => ErrorCode::PERMISSION_DENIED,
                404 | 410 => ErrorCode::NOT_FOUND,
                409 => ErrorCode::CONFLICT,
                500..=599 => ErrorCode::SERVER_ERROR,
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Whether a command's error output is a usage error (`usage:`, an
/// unknown or invalid option).
fn usage_error(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["usage:", "unrecognized option", "unrecognised option", "invalid option", "unknown option", "illegal option"]
        .iter()
        .any(|n| lower.contains(n))
}

/// The code for a failed command's output, if a known message is in it.
pub fn classify_output(text: &str) -> Option<ErrorCode> {
    let lower = text.to_lowercase();
    PATTERNS.iter().find(|(_, needles)| needles.iter().any(|n| lower.contains(n))).and_then(|(code, _)| ErrorCode::parse(code).ok())
}

fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// What was read from one of the command's output pipes.
#[derive(Debug, Default)]
struct Captured {
    /// The first `cap` bytes.
    kept: Vec<u8>,
    /// Every byte read, kept or not.
    total: u64,
}

/// Reads a pipe to its end, or until `stop`, keeping at most `cap` bytes:
/// memory stays bounded whatever the command prints. `_done` is dropped on
/// return (see [`drained`]).
async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: u64, mut stop: watch::Receiver<bool>, _done: mpsc::Sender<()>) -> Captured {
    let mut c = Captured::default();
    let mut buf = [0u8; 8192];
    loop {
        tokio::select! {
            // `stop` first: a command that never stops printing must not hide it.
            biased;
            _ = stop.wait_for(|s| *s) => break,
            n = r.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    c.total += n as u64;
                    let room = cap.saturating_sub(c.kept.len() as u64) as usize;
                    c.kept.extend_from_slice(&buf[..n.min(room)]);
                }
            },
        }
    }
    c
}

/// Writes `text` to the command's standard input, then closes it; stops at
/// a broken pipe (the command exited without reading it all) or at `stop`.
/// Returns the bytes written. `_done` is dropped on return.
async fn write_stdin(mut w: ChildStdin, text: String, mut stop: watch::Receiver<bool>, _done: mpsc::Sender<()>) -> u64 {
    let bytes = text.as_bytes();
    let mut written = 0;
    while written < bytes.len() {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            r = w.write(&bytes[written..]) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n,
            },
        }
    }
    written as u64
}

/// The inode of a pipe end (both ends share it; `/proc/PID/fd` shows it as
/// `pipe:[INODE]`).
fn pipe_inode(end: &impl AsFd) -> Option<u64> {
    let fd = end.as_fd().try_clone_to_owned().ok()?;
    std::fs::File::from(fd).metadata().ok().map(|m| m.ino())
}

/// The processes other than this one holding any of these pipes, from
/// `/proc/*/fd` (Linux; elsewhere none are found), as `{"pid", "command"}`.
fn pipe_holders(inodes: &[u64]) -> Vec<Value> {
    let links: Vec<String> = inodes.iter().map(|i| format!("pipe:[{i}]")).collect();
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else { return vec![] };
    let mut found = vec![];
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()).filter(|&pid| pid != me) else { continue };
        // Another user's process is unreadable: skipped.
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| links.iter().any(|l| t.as_os_str() == l.as_str())));
        if holds {
            found.push(json!({"pid": pid, "command": command_of(pid)}));
        }
    }
    found
}

/// A process's command line (or its name), at most 200 characters; empty
/// when it is gone or not ours to read. Linux (`/proc`).
pub fn command_of(pid: u32) -> String {
    let line = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| b.split(|&c| c == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let line =
        if line.is_empty() { std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned() } else { line };
    line.chars().take(MAX_COMMAND_CHARS).collect()
}

/// Waits up to [`DRAIN`] for every pipe task to end (each holds a sender).
async fn drained(done: &mut mpsc::Receiver<()>) -> bool {
    tokio::time::timeout(DRAIN, done.recv()).await.is_ok()
}

fn text_of(bytes: &[u8]) -> (String, bool) {
    let binary = bytes.contains(&0) || std::str::from_utf8(bytes).is_err();
    (String::from_utf8_lossy(bytes).into_owned(), binary)
}

/// Kills a process group; whether anyone was in it.
fn kill_group(pgid: Option<u32>) -> bool {
    match pgid.and_then(|p| i32::try_from(p).ok()) {
        // The group may be gone already; that is fine.
        Some(pid) => nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).is_ok(),
        None => false,
    }
}

/// Kills a process group when dropped, unless disarmed.
/// A process group noted as started for as long as the call lasts.
struct Noted(mend_core::tool::Processes, u32);

impl Noted {
    fn new(p: mend_core::tool::Processes, pgid: u32, marker: &str) -> Noted {
        p.0.started(pgid, marker);
        Noted(p, pgid)
    }
}

/// The environment variable that marks a call's processes (`MEND_CALL`):
/// set only when the run keeps track of its processes (a lease).
pub const MARK_VAR: &str = "MEND_CALL";

/// A mark no other call has: the run, this process, a counter, the time.
fn call_marker(run_id: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{run_id}-{}-{n}-{t:x}", std::process::id())
}

impl Drop for Noted {
    fn drop(&mut self) {
        self.0.0.ended(self.1);
    }
}

struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = kill_group(self.0);
    }
}

#[async_trait]
impl Tool for ExecTool {
    fn name(&self) -> &str {
        "exec"
    }

    fn description(&self) -> &str {
        "Run a program with arguments (or a /bin/sh script) with a timeout that kills its whole process group"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "program": {"type": "string", "minLength": 1, "description": "program name (PATH lookup) or path"},
                "args": {"type": "array", "items": {"type": "string"}},
                "shell": {"type": "string", "minLength": 1, "description": "a script for /bin/sh -c (instead of program)"},
                "cwd": {"type": "string", "description": "working directory; relative to the job file"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "clear_env": {"type": "boolean", "description": "start from an empty environment"},
                "stdin": {"type": "string"},
                "timeout_ms": {"type": "integer", "minimum": 1},
                "max_output_bytes": {"type": "integer", "minimum": 1},
                "ok_exit": {
                    "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}, "minItems": 1,
                    "description": "exit codes that mean success (default [0]); e.g. [0, 1] for `grep -c`"
                }
            },
            "additionalProperties": false,
            "oneOf": [{"required": ["program"]}, {"required": ["shell"]}]
        })
    }

    fn render(&self, args: &Value) -> String {
        if let Some(script) = str_arg(args, "shell") {
            return script.to_owned();
        }
        let mut parts = vec![quote(str_arg(args, "program").unwrap_or("?"))];
        if let Some(a) = args.get("args").and_then(Value::as_array) {
            parts.extend(a.iter().map(|x| quote(x.as_str().unwrap_or(""))));
        }
        parts.join(" ")
    }

    fn effect(&self, _args: &Value) -> Effect {
        Effect::Mutating
    }

    fn intent(&self, args: &Value, base_dir: &std::path::Path) -> Intent {
        let argv = str_arg(args, "program").map(|p| {
            let mut v = vec![p.to_owned()];
            if let Some(a) = args.get("args").and_then(Value::as_array) {
                v.extend(a.iter().map(|x| x.as_str().unwrap_or("").to_owned()));
            }
            v
        });
        let env = args
            .get("env")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        Intent::Exec {
            script: str_arg(args, "shell").map(str::to_owned),
            argv: if str_arg(args, "shell").is_some() { None } else { argv },
            stdin: str_arg(args, "stdin").map(str::to_owned),
            cwd: Some(match str_arg(args, "cwd") {
                Some(d) => base_dir.join(d),
                None => base_dir.to_path_buf(),
            }),
            env,
            clear_env: args.get("clear_env").and_then(Value::as_bool).unwrap_or(false),
        }
    }

    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome {
        let t0 = Instant::now();
        let timeout_ms = args.get("timeout_ms").and_then(Value::as_u64).unwrap_or(DEFAULT_TIMEOUT_MS);
        let cap = args.get("max_output_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_OUTPUT);

        let mut cmd = match (str_arg(args, "shell"), str_arg(args, "program")) {
            (Some(script), _) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(script);
                c
            }
            (None, Some(p)) => {
                let mut c = Command::new(p);
                if let Some(a) = args.get("args").and_then(Value::as_array) {
                    c.args(a.iter().filter_map(Value::as_str));
                }
                c
            }
            (None, None) => return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, "give `program` or `shell`")),
        };
        let cwd = match str_arg(args, "cwd") {
            Some(d) => ctx.base_dir.join(d),
            None => ctx.base_dir.clone(),
        };
        if !cwd.as_os_str().is_empty() {
            if !cwd.is_dir() {
                return Outcome::failure(
                    ToolError::new(ErrorCode::NOT_FOUND, format!("working directory {} does not exist", cwd.display()))
                        .hint("missing", "cwd")
                        .hint("path", cwd.display().to_string()),
                );
            }
            cmd.current_dir(&cwd);
        }
        if args.get("clear_env").and_then(Value::as_bool).unwrap_or(false) {
            cmd.env_clear();
        }
        if let Some(env) = args.get("env").and_then(Value::as_object) {
            for (k, v) in env {
                cmd.env(k, v.as_str().unwrap_or(""));
            }
        }
        // Every process of the call inherits this mark, so whoever takes the
        // run over after this process died finds exactly the call's
        // processes (those that escaped its group too) and nothing else —
        // a reused group id is not enough (issue 12).
        let marker = call_marker(&ctx.run_id);
        if ctx.processes.is_some() {
            // Inside another Mend's call (a `mend run` in a step), that
            // call's mark is kept before ours: its takeover finds ours too.
            let mark = match std::env::var(MARK_VAR) {
                Ok(outer) if !outer.is_empty() => format!("{outer} {marker}"),
                _ => marker.clone(),
            };
            cmd.env(MARK_VAR, mark);
        }
        let stdin_text = str_arg(args, "stdin").map(str::to_owned);
        cmd.stdin(if stdin_text.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);

        let what = self.render(args);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let code = match e.kind() {
                    std::io::ErrorKind::NotFound => ErrorCode::COMMAND_NOT_FOUND,
                    std::io::ErrorKind::PermissionDenied => ErrorCode::PERMISSION_DENIED,
                    _ => ErrorCode::SPAWN_FAILED,
                };
                return Outcome::failure(ToolError::new(code, format!("could not start `{what}`: {e}"))).timed(ms_since(t0));
            }
        };
        let pgid = child.id();
        // Noted where the run keeps track, so that whoever takes the run
        // over after this process died can stop the group (issue 12).
        let _noted = pgid.and_then(|g| ctx.processes.clone().map(|p| Noted::new(p, g, &marker)));
        // If this call is abandoned mid-way (the run is interrupted), the
        // whole group goes with it, not only the direct child.
        let mut guard = GroupGuard(pgid);
        // `stop` ends the pipe tasks (also when this call is dropped);
        // `done` closes when all of them have ended.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut inodes = vec![];
        let stdin_task = match (stdin_text, child.stdin.take()) {
            (Some(text), Some(w)) => {
                inodes.extend(pipe_inode(&w));
                let total = text.len() as u64;
                Some((total, tokio::spawn(write_stdin(w, text, stop_rx.clone(), done_tx.clone()))))
            }
            _ => None,
        };
        let out_task = child.stdout.take().map(|r| {
            inodes.extend(pipe_inode(&r));
            tokio::spawn(read_capped(r, cap, stop_rx.clone(), done_tx.clone()))
        });
        let err_task = child.stderr.take().map(|r| {
            inodes.extend(pipe_inode(&r));
            tokio::spawn(read_capped(r, cap, stop_rx, done_tx.clone()))
        });
        drop(done_tx);

        let status = tokio::select! {
            s = child.wait() => Some(s),
            _ = tokio::time::sleep(Duration::from_millis(timeout_ms)) => None,
        };
        let timed_out = status.is_none();
        let status = match status {
            Some(s) => s,
            None => {
                let _ = kill_group(pgid);
                let _ = child.start_kill();
                child.wait().await
            }
        };
        // Whatever the command left running in its group still holds the
        // pipes: give it a moment, then end it, so no orphan outlives the
        // step. What left the group is named and no longer waited on.
        let mut orphans_killed = false;
        let mut finished = drained(&mut done_rx).await;
        if !finished && !timed_out && kill_group(pgid) {
            orphans_killed = true;
            finished = drained(&mut done_rx).await;
        }
        let escaped = if finished { vec![] } else { tokio::task::spawn_blocking(move || pipe_holders(&inodes)).await.unwrap_or_default() };
        let _ = stop_tx.send(true);
        let Captured { kept: out, total: out_total } = match out_task {
            Some(t) => t.await.unwrap_or_default(),
            None => Captured::default(),
        };
        let Captured { kept: err, total: err_total } = match err_task {
            Some(t) => t.await.unwrap_or_default(),
            None => Captured::default(),
        };
        let stdin_short = match stdin_task {
            Some((total, t)) => Some((t.await.unwrap_or(0), total)).filter(|(written, total)| written < total),
            None => None,
        };
        guard.disarm();
        let (stdout, out_bin) = text_of(&out);
        let (stderr, err_bin) = text_of(&err);
        let exit_code = status.as_ref().ok().and_then(|s| s.code());
        let signal = status.as_ref().ok().and_then(|s| s.signal());
        let mut output = json!({
            "exit_code": exit_code,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_bytes": out_total,
            "stderr_bytes": err_total,
        });
        if out_total > cap || err_total > cap {
            output["truncated"] = json!(true);
        }
        if out_bin || err_bin {
            output["binary"] = json!(true);
        }
        if orphans_killed {
            output["orphans_killed"] = json!(true);
        }
        // Facts for a person whatever the outcome: in `output`, and in the
        // hints of a failure (`with_facts`).
        let mut facts = vec![];
        if !escaped.is_empty() {
            facts.push(("escaped", Value::Array(escaped)));
        }
        if let Some((written, total)) = stdin_short {
            facts.push(("stdin_written", json!(written)));
            facts.push(("stdin_bytes", json!(total)));
        }
        for (k, v) in &facts {
            output[*k] = v.clone();
        }
        let with_facts = |e: ToolError| facts.iter().fold(e, |e, (k, v)| e.hint(k, v.clone()));
        let elapsed = ms_since(t0);

        if timed_out {
            let mut msg = format!("`{what}` did not finish in {timeout_ms} ms; its process group was killed");
            if let Some((_, Value::Array(procs))) = facts.iter().find(|(k, _)| *k == "escaped") {
                let named: Vec<String> = procs.iter().map(|p| format!("{} ({})", p["pid"], p["command"].as_str().unwrap_or(""))).collect();
                msg.push_str(&format!("; left running outside it, holding its output: {}", named.join(", ")));
            }
            let e = ToolError::new(ErrorCode::TIMEOUT, msg).hint("timeout_ms", timeout_ms);
            return Outcome::failure_with(with_facts(e), output).timed(elapsed);
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                let e = ToolError::new(ErrorCode::IO_ERROR, format!("waiting for `{what}`: {e}"));
                return Outcome::failure_with(with_facts(e), output).timed(elapsed);
            }
        };
        // The step says which exit codes mean success (issue 14: `grep`
        // exits 1 when nothing matched, by design).
        let ok_exit: Vec<i64> =
            args.get("ok_exit").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
        let ok = if ok_exit.is_empty() {
            status.success()
        } else {
            signal.is_none() && exit_code.is_some_and(|c| ok_exit.contains(&i64::from(c)))
        };
        if ok {
            return Outcome { output, ..Outcome::success(Value::Null) }.timed(elapsed);
        }
        let err_tail = tail(&stderr, 500);
        let code = if let Some(sig) = signal {
            let e = ToolError::new(ErrorCode::KILLED_BY_SIGNAL, format!("`{what}` was killed by signal {sig}")).hint("signal", sig);
            return Outcome::failure_with(with_facts(e), output).timed(elapsed);
        } else if exit_code == Some(127) && str_arg(args, "shell").is_some() {
            ErrorCode::COMMAND_NOT_FOUND
        } else if exit_code == Some(126) && str_arg(args, "shell").is_some() {
            ErrorCode::PERMISSION_DENIED
        } else if exit_code == Some(2) && usage_error(&err_tail) {
            // The conventional usage error (exit 2 with "usage:" or an
            // unknown option): the arguments are wrong; retrying cannot help.
            ErrorCode::INVALID_ARGS
        } else {
            let out = format!("{}\n{}", err_tail, tail(&stdout, 500));
            classify_curl(&out).or_else(|| classify_output(&out)).unwrap_or(ErrorCode::NON_ZERO_EXIT)
        };
        // The line that says what went wrong: the one a known message is
        // in, else the last one (a usage text ends with its least useful line).
        let lines: Vec<&str> = err_tail.lines().filter(|l| !l.trim().is_empty()).collect();
        let telling = lines.iter().find(|l| classify_curl(l).is_some() || classify_output(l).is_some() || usage_error(l)).or(lines.last());
        let first_line = telling.map(|l| l.trim().to_owned()).unwrap_or_default();
        let msg = if first_line.is_empty() {
            format!("`{what}` exited with {}", exit_code.unwrap_or(-1))
        } else {
            format!("`{what}` exited with {}: {first_line}", exit_code.unwrap_or(-1))
        };
        let mut e = ToolError::new(code, msg).hint("exit_code", exit_code.unwrap_or(-1));
        if !err_tail.is_empty() {
            e = e.hint("stderr_tail", err_tail);
        }
        Outcome::failure_with(with_facts(e), output).timed(elapsed)
    }

    async fn repairs(&self, args: &Value, error: &ToolError, _ctx: &CallContext) -> Vec<Repair> {
        crate::longer_timeout(args, error, DEFAULT_TIMEOUT_MS, MAX_REPAIR_TIMEOUT_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_patterns_map_to_codes() {
        let cases = [
            ("curl: (7) Failed to connect to localhost port 1: Connection refused", "CONNECTION_REFUSED"),
            ("ssh: Could not resolve hostname db: Name or service not known", "DNS_FAILURE"),
            ("mkdir: cannot create directory 'x': File exists", "ALREADY_EXISTS"),
            ("cat: /nope: No such file or directory", "NOT_FOUND"),
            ("touch: cannot touch '/root/x': Permission denied", "PERMISSION_DENIED"),
            ("sh: 1: frobnicate: command not found", "COMMAND_NOT_FOUND"),
            ("write error: No space left on device", "NO_SPACE"),
        ];
        for (text, code) in cases {
            assert_eq!(classify_output(text).map(|c| c.to_string()).as_deref(), Some(code), "{text}");
        }
        assert_eq!(classify_output("something odd happened"), None);
    }

    #[test]
    fn render_quotes_arguments() {
        let t = ExecTool;
        assert_eq!(t.render(&json!({"program": "rm", "args": ["-rf", "/tmp/a b"]})), "rm -rf '/tmp/a b'");
        assert_eq!(t.render(&json!({"shell": "echo hi | wc -c"})), "echo hi | wc -c");
    }
}
