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

/// One row of the command classification table ([`COMMANDS`], issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRow {
    /// The program the row is about (`*`: any). It restricts the row only
    /// when the row has an exit code: exit codes mean something per program.
    pub program: &'static str,
    /// The exit code the row needs (`None`: any). For a named program it is
    /// the code the program run exited with, or the one the program's own
    /// report names in the output (curl's `curl: (N)`, rsync's `(code N)`).
    pub exit: Option<i32>,
    /// Lowercase text the output must contain (`""`: none needed); `#`
    /// stands for any digit.
    pub message: &'static str,
    /// What the row means (an errno name, the program's own words), for the doc.
    pub meaning: &'static str,
    /// The error code given (a known code, see `docs/error-codes.md`).
    pub code: &'static str,
}

const fn row(program: &'static str, exit: Option<i32>, message: &'static str, meaning: &'static str, code: &'static str) -> CommandRow {
    CommandRow { program, exit, message, meaning, code }
}

/// How a failed command is classified: the first row that matches wins
/// (so the most specific rows come first), else `NON_ZERO_EXIT`. Usage
/// errors first, then curl's own reports, then the messages of particular
/// programs, then errno and other common messages, then the exit codes of
/// programs whose output said nothing more. Rendered as the commands section
/// of `docs/error-codes.md` by [`commands_markdown`]; every row is tested in
/// `crates/mend-tools/tests/commands.rs` (issue 14).
pub static COMMANDS: &[CommandRow] = &[
    // Usage errors: the arguments are wrong; retrying cannot help.
    row("*", Some(2), "usage:", "usage error: the usage text", "INVALID_ARGS"),
    row("*", Some(2), "unrecognized option", "usage error", "INVALID_ARGS"),
    row("*", Some(2), "unrecognised option", "usage error", "INVALID_ARGS"),
    row("*", Some(2), "invalid option", "usage error", "INVALID_ARGS"),
    row("*", Some(2), "unknown option", "usage error", "INVALID_ARGS"),
    row("*", Some(2), "illegal option", "usage error", "INVALID_ARGS"),
    row("git", Some(129), "usage:", "usage error (git exits 129)", "INVALID_ARGS"),
    // A process inside the command was killed part-way, or ran out of
    // time: what it did is unknown (issue 14).
    row("*", Some(137), "", "a process was killed by SIGKILL (the OOM killer, `kill -9`, a container's OOM)", "KILLED_BY_SIGNAL"),
    row("*", Some(143), "", "a process was killed by SIGTERM", "KILLED_BY_SIGNAL"),
    row("*", Some(124), "", "`timeout(1)`: the command ran past its limit", "TIMEOUT"),
    // curl's report `curl: (N) …` (its exit code N), as the http tool
    // classifies the same failure.
    row("curl", Some(5), "", "could not resolve the proxy", "DNS_FAILURE"),
    row("curl", Some(6), "", "could not resolve the host", "DNS_FAILURE"),
    row("curl", Some(7), "", "failed to connect", "CONNECTION_REFUSED"),
    row("curl", Some(28), "", "operation timed out", "TIMEOUT"),
    row("curl", Some(35), "", "TLS handshake failed", "TLS_FAILURE"),
    row("curl", Some(51), "", "the peer's certificate did not match the host", "TLS_FAILURE"),
    row("curl", Some(58), "", "problem with the local client certificate", "TLS_FAILURE"),
    row("curl", Some(59), "", "could not use the cipher", "TLS_FAILURE"),
    row("curl", Some(60), "", "the peer's certificate could not be verified", "TLS_FAILURE"),
    row("curl", Some(77), "", "problem reading the CA certificates", "TLS_FAILURE"),
    row("curl", Some(83), "", "the issuer check failed", "TLS_FAILURE"),
    row("curl", Some(90), "", "the pinned public key did not match", "TLS_FAILURE"),
    row("curl", Some(91), "", "invalid certificate status", "TLS_FAILURE"),
    row("curl", Some(52), "", "empty reply from the server", "CONNECTION_RESET"),
    row("curl", Some(55), "", "failed sending data to the peer", "CONNECTION_RESET"),
    row("curl", Some(56), "", "failure receiving data (connection reset)", "CONNECTION_RESET"),
    row("curl", Some(18), "", "the transfer closed with data missing", "CONNECTION_RESET"),
    row("curl", Some(22), "returned error: 504", "`--fail`: HTTP 504, the gateway timed out", "TIMEOUT"),
    row("curl", Some(22), "returned error: 5##", "`--fail`: HTTP 5xx", "SERVER_ERROR"),
    row("curl", Some(22), "returned error: 429", "`--fail`: HTTP 429", "RATE_LIMITED"),
    row("curl", Some(22), "returned error: 401", "`--fail`: HTTP 401", "UNAUTHORIZED"),
    row("curl", Some(22), "returned error: 403", "`--fail`: HTTP 403", "PERMISSION_DENIED"),
    row("curl", Some(22), "returned error: 404", "`--fail`: HTTP 404", "NOT_FOUND"),
    row("curl", Some(22), "returned error: 410", "`--fail`: HTTP 410", "NOT_FOUND"),
    row("curl", Some(22), "returned error: 409", "`--fail`: HTTP 409", "CONFLICT"),
    // Particular programs' messages, before the common ones they contain.
    row("git", None, ".lock': file exists", "another git holds the lock (`index.lock`)", "BUSY"),
    row("git", None, "not a git repository", "not inside a repository", "NOT_FOUND"),
    row("git", None, "repository not found", "the remote has no such repository", "NOT_FOUND"),
    row("git", None, "could not read username", "credentials needed, no prompt allowed", "UNAUTHORIZED"),
    row("ssh", None, "permission denied (publickey", "the server refused the key", "UNAUTHORIZED"),
    row("ssh", None, "host key verification failed", "the server's identity could not be verified", "TLS_FAILURE"),
    row("ssh", None, "could not resolve hostname", "the host name did not resolve", "DNS_FAILURE"),
    row("psql", None, "password authentication failed", "wrong password", "UNAUTHORIZED"),
    row("psql", None, "the database system is starting up", "the server is not ready yet", "CONNECTION_REFUSED"),
    row("psql", None, "the database system is shutting down", "the server is going down", "CONNECTION_REFUSED"),
    row("psql", None, "too many connections", "over the connection limit", "RATE_LIMITED"),
    row("psql", None, "too many clients already", "over the connection limit", "RATE_LIMITED"),
    row("psql", None, "could not connect to server", "the server is down (libpq before 14)", "CONNECTION_REFUSED"),
    row("psql", None, "could not translate host name", "the host name did not resolve", "DNS_FAILURE"),
    row("psql", None, "timeout expired", "`connect_timeout` passed", "TIMEOUT"),
    row("wget", None, "error 5##:", "exit 8: HTTP 5xx", "SERVER_ERROR"),
    row("wget", None, "error 429:", "exit 8: HTTP 429", "RATE_LIMITED"),
    row("wget", None, "error 404:", "exit 8: HTTP 404", "NOT_FOUND"),
    row("wget", None, "error 403:", "exit 8: HTTP 403", "PERMISSION_DENIED"),
    row("wget", None, "unable to resolve host address", "exit 4: the host name did not resolve", "DNS_FAILURE"),
    row("wget", None, "unable to establish ssl connection", "exit 5: TLS handshake failed", "TLS_FAILURE"),
    row("apt", None, "could not get lock", "another apt or dpkg holds the lock", "BUSY"),
    row("apt", None, "temporary failure resolving", "the mirror's name did not resolve", "DNS_FAILURE"),
    row("apt", None, "unable to locate package", "no such package", "NOT_FOUND"),
    row("pip", None, "readtimeouterror", "the index did not answer in time", "TIMEOUT"),
    row("pip", None, "http error 5##", "the index failed (HTTP 5xx)", "SERVER_ERROR"),
    row("pip", None, "too many 5## error responses", "the index failed (HTTP 5xx), retries used up", "SERVER_ERROR"),
    row("pip", None, "could not find a version that satisfies", "no such package or version", "NOT_FOUND"),
    // errno messages (strerror) and common words.
    row("*", None, "resource temporarily unavailable", "EAGAIN / EWOULDBLOCK: busy, try again", "BUSY"),
    row("*", None, "device or resource busy", "EBUSY", "BUSY"),
    row("*", None, "text file busy", "ETXTBSY: the file is being run", "BUSY"),
    row("*", None, "command not found", "the shell found no such program", "COMMAND_NOT_FOUND"),
    row("*", None, "no such command", "no such subcommand", "COMMAND_NOT_FOUND"),
    row("*", None, "executable file not found", "no such program (Go's exec)", "COMMAND_NOT_FOUND"),
    row("*", None, "connection refused", "ECONNREFUSED", "CONNECTION_REFUSED"),
    row("*", None, "econnrefused", "ECONNREFUSED", "CONNECTION_REFUSED"),
    row("*", None, "failed to connect", "could not connect", "CONNECTION_REFUSED"),
    row("*", None, "network is unreachable", "ENETUNREACH", "CONNECTION_REFUSED"),
    row("*", None, "no route to host", "EHOSTUNREACH", "CONNECTION_REFUSED"),
    row("*", None, "could not resolve host", "the host name did not resolve", "DNS_FAILURE"),
    row("*", None, "name or service not known", "EAI_NONAME", "DNS_FAILURE"),
    row("*", None, "temporary failure in name resolution", "EAI_AGAIN", "DNS_FAILURE"),
    row("*", None, "no such host", "the host name did not resolve (Go)", "DNS_FAILURE"),
    row("*", None, "nodename nor servname", "EAI_NONAME (BSD, macOS)", "DNS_FAILURE"),
    row("*", None, "getaddrinfo", "the host name did not resolve", "DNS_FAILURE"),
    row("*", None, "certificate verify failed", "the certificate could not be verified", "TLS_FAILURE"),
    row("*", None, "ssl certificate problem", "the certificate could not be verified", "TLS_FAILURE"),
    row("*", None, "tls handshake", "TLS handshake failed", "TLS_FAILURE"),
    row("*", None, "x509:", "the certificate could not be verified (Go)", "TLS_FAILURE"),
    row("*", None, "connection reset", "ECONNRESET", "CONNECTION_RESET"),
    row("*", None, "econnreset", "ECONNRESET", "CONNECTION_RESET"),
    row("*", None, "broken pipe", "EPIPE", "CONNECTION_RESET"),
    row("*", None, "connection timed out", "ETIMEDOUT", "TIMEOUT"),
    row("*", None, "timed out", "a time limit passed", "TIMEOUT"),
    row("*", None, "deadline exceeded", "a time limit passed", "TIMEOUT"),
    row("*", None, "etimedout", "ETIMEDOUT", "TIMEOUT"),
    row("*", None, "too many requests", "HTTP 429", "RATE_LIMITED"),
    row("*", None, "rate limit", "a quota", "RATE_LIMITED"),
    row("*", None, "unauthorized", "HTTP 401", "UNAUTHORIZED"),
    row("*", None, "authentication failed", "wrong credentials", "UNAUTHORIZED"),
    row("*", None, "invalid credentials", "wrong credentials", "UNAUTHORIZED"),
    row("*", None, "permission denied", "EACCES", "PERMISSION_DENIED"),
    row("*", None, "operation not permitted", "EPERM", "PERMISSION_DENIED"),
    row("*", None, "read-only file system", "EROFS", "PERMISSION_DENIED"),
    row("*", None, "access denied", "refused", "PERMISSION_DENIED"),
    row("*", None, "eacces", "EACCES", "PERMISSION_DENIED"),
    row("*", None, "eperm", "EPERM", "PERMISSION_DENIED"),
    row("*", None, "no space left on device", "ENOSPC", "NO_SPACE"),
    row("*", None, "disk quota exceeded", "EDQUOT", "NO_SPACE"),
    row("*", None, "already exists", "the target exists", "ALREADY_EXISTS"),
    row("*", None, "file exists", "EEXIST", "ALREADY_EXISTS"),
    row("*", None, "eexist", "EEXIST", "ALREADY_EXISTS"),
    row("*", None, "no such file", "ENOENT (`sh` drops \"or directory\")", "NOT_FOUND"),
    row("*", None, "not found", "not there", "NOT_FOUND"),
    row("*", None, "does not exist", "not there", "NOT_FOUND"),
    row("*", None, "enoent", "ENOENT", "NOT_FOUND"),
    row("*", None, "internal server error", "HTTP 500", "SERVER_ERROR"),
    row("*", None, "503 service unavailable", "HTTP 503", "SERVER_ERROR"),
    row("*", None, "502 bad gateway", "HTTP 502", "SERVER_ERROR"),
    // Exit codes of programs whose output said nothing more.
    row("wget", Some(4), "", "network failure", "CONNECTION_RESET"),
    row("wget", Some(5), "", "TLS verification failed", "TLS_FAILURE"),
    row("wget", Some(6), "", "authentication failed", "UNAUTHORIZED"),
    row("wget", Some(8), "", "the server answered with another error", "HTTP_ERROR"),
    row("rsync", Some(10), "", "error in socket I/O", "CONNECTION_RESET"),
    row("rsync", Some(12), "", "error in the protocol data stream", "CONNECTION_RESET"),
    row("rsync", Some(23), "", "partial transfer due to an error", "IO_ERROR"),
    row("rsync", Some(30), "", "timeout in data send/receive", "TIMEOUT"),
    row("rsync", Some(35), "", "timeout waiting for the daemon", "TIMEOUT"),
];

/// The first and the last `n` characters of a text (all of it when it
/// is not longer than `2 n`), with a line `…` between them.
fn ends(s: &str, n: usize) -> String {
    if s.chars().count() <= 2 * n { s.to_owned() } else { format!("{}\n…\n{}", s.chars().take(n).collect::<String>(), tail(s, n)) }
}

/// Whether `text` (lowercase) contains `pattern`, where `#` is any digit.
fn contains_pattern(text: &str, pattern: &str) -> bool {
    if !pattern.contains('#') {
        return text.contains(pattern);
    }
    let (t, p) = (text.as_bytes(), pattern.as_bytes());
    t.len() >= p.len() && t.windows(p.len()).any(|w| w.iter().zip(p).all(|(&c, &q)| if q == b'#' { c.is_ascii_digit() } else { c == q }))
}

/// The exit code a program's own report in its output names: curl's
/// `curl: (N) …` and rsync's `rsync error: … (code N)`.
fn reports(lower: &str) -> Vec<(&'static str, i32)> {
    let mut out = vec![];
    if let Some(at) = lower.find("curl: (")
        && let Some(n) = lower[at + "curl: (".len()..].split(')').next().and_then(|n| n.trim().parse().ok())
    {
        out.push(("curl", n));
    }
    if let Some(at) = lower.find("rsync error: ")
        && let Some(at) = lower[at..].find("(code ").map(|i| at + i + "(code ".len())
        && let Some(n) = lower[at..].split(')').next().and_then(|n| n.trim().parse().ok())
    {
        out.push(("rsync", n));
    }
    out
}

/// The row of [`COMMANDS`] that classifies a failed command: `program` is
/// the program run (a path or a name; `None` for a `shell` script), `exit`
/// its exit code, `output` what it printed (stderr, then stdout). `None`
/// when no row matches (`NON_ZERO_EXIT`).
pub fn command_row(program: Option<&str>, exit: Option<i32>, output: &str) -> Option<&'static CommandRow> {
    let lower = output.to_lowercase();
    let mut ids = reports(&lower);
    if let (Some(p), Some(e)) = (program, exit) {
        ids.push((p.rsplit('/').next().unwrap_or(p), e));
    }
    COMMANDS.iter().find(|r| {
        let exit_ok = match r.exit {
            None => true,
            Some(e) if r.program == "*" => exit == Some(e),
            Some(e) => ids.iter().any(|&(p, n)| n == e && p == r.program),
        };
        exit_ok && (r.message.is_empty() || contains_pattern(&lower, r.message))
    })
}

/// The code for curl's own error report (`curl: (N) …`, its exit code N;
/// for 22, `--fail`, the HTTP status it names), as the HTTP tool would
/// classify the same failure: the curl rows of [`COMMANDS`] (issue 14).
pub fn classify_curl(text: &str) -> Option<ErrorCode> {
    let lower = text.to_lowercase();
    let n = reports(&lower).into_iter().find(|(p, _)| *p == "curl")?.1;
    COMMANDS
        .iter()
        .find(|r| r.program == "curl" && r.exit == Some(n) && (r.message.is_empty() || contains_pattern(&lower, r.message)))
        .and_then(|r| ErrorCode::parse(r.code).ok())
}

/// The code for a failed command's output, if a known message is in it:
/// the rows of [`COMMANDS`] that need no exit code.
pub fn classify_output(text: &str) -> Option<ErrorCode> {
    let lower = text.to_lowercase();
    COMMANDS.iter().find(|r| r.exit.is_none() && contains_pattern(&lower, r.message)).and_then(|r| ErrorCode::parse(r.code).ok())
}

/// Whether one line of output says what went wrong: a known message or a
/// program's own report.
fn telling(line: &str) -> bool {
    let lower = line.to_lowercase();
    !reports(&lower).is_empty() || COMMANDS.iter().any(|r| !r.message.is_empty() && contains_pattern(&lower, r.message))
}

/// Lines of stderr kept in a failure's message, at most.
pub const MESSAGE_LINES: usize = 3;
/// Characters of stderr kept in a failure's message, at most.
pub const MESSAGE_CHARS: usize = 400;

/// The stderr lines that say what went wrong, for a failure's message
/// (issue 14): those with a known message or a program's report, in order,
/// at most [`MESSAGE_LINES`] and [`MESSAGE_CHARS`] (joined with ` | `);
/// the last non-empty line when none is known.
pub fn telling_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut kept: Vec<&str> = vec![];
    for l in lines.iter().copied().filter(|l| telling(l)) {
        if kept.len() < MESSAGE_LINES && !kept.contains(&l) {
            kept.push(l);
        }
    }
    if kept.is_empty() {
        kept.extend(lines.last());
    }
    let joined = kept.join(" | ");
    if joined.chars().count() <= MESSAGE_CHARS {
        joined
    } else {
        let mut s: String = joined.chars().take(MESSAGE_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// The commands section of `docs/error-codes.md`, between
/// [`DOC_BEGIN`] and [`DOC_END`]: [`COMMANDS`] as a markdown table, with
/// each code's default retry (issue 14).
pub fn commands_markdown() -> String {
    let mut out = String::from(
        "## Commands (`exec`)\n\n\
         Generated from `COMMANDS` in `crates/mend-tools/src/exec.rs`; a test fails when this section \
         and the table differ (regenerate with `MEND_BLESS=1 cargo test -p mend-tools --test commands`). \
         Each row is tested in `crates/mend-tools/tests/commands.rs` against the real program where it \
         is installed, else against output recorded from it.\n\n\
         A command that exits with a code its step lists in `ok_exit` (default `[0]`) succeeded. \
         Otherwise: a signal is `KILLED_BY_SIGNAL`; a `shell` script's exit 127 is `COMMAND_NOT_FOUND` \
         and 126 `PERMISSION_DENIED`; else the first row below that matches gives the code, and \
         `NON_ZERO_EXIT` when none does. A message is looked for, in any case, in the first and last 500 \
         characters of stderr and the last 500 of stdout; `#` stands for any digit. A row with an exit code applies \
         to that program: the one run, or the one whose own report the output holds (curl's \
         `curl: (N)`, rsync's `(code N)`); `*` is any program. A row without an exit code applies to \
         any command's output (the program named is where the message comes from). \"retried\" is the \
         code's default (a step opts in to others with `retry.on`). A `NOT_FOUND` whose stderr names an \
         argument (or a word of the `shell` script) as missing (\"No such file or directory\") is \
         repaired like the `fs` tool's: the call again with the nearest existing path.\n\n\
         | program | exit code | message | meaning | code | retried |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in COMMANDS {
        let retried = ErrorCode::parse(r.code).map(|c| c.info().retryable).unwrap_or(false);
        out.push_str(&format!(
            "| {} | {} | {} | {} | `{}` | {} |\n",
            if r.program == "*" { "any" } else { r.program },
            r.exit.map(|e| e.to_string()).unwrap_or_else(|| "any".into()),
            if r.message.is_empty() { "—".to_owned() } else { format!("`{}`", r.message) },
            r.meaning,
            r.code,
            if retried { "yes" } else { "no" },
        ));
    }
    out
}

/// Where the commands section of `docs/error-codes.md` begins.
pub const DOC_BEGIN: &str = "<!-- commands:begin -->";
/// Where it ends.
pub const DOC_END: &str = "<!-- commands:end -->";

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
                "cwd": {"type": "string", "description": "working directory (default: the job file's folder); a relative path resolves against that folder"},
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

    /// Not by default (issue 14): Mend cannot know what a command does, and
    /// one killed part-way may have done some of it. A step that is safe to
    /// run twice says `idempotent = true`.
    fn idempotent(&self, _args: &Value) -> bool {
        false
    }

    /// The step's key reaches the command as `MEND_IDEMPOTENCY_KEY` (issue 14).
    fn takes_idempotency_key(&self) -> bool {
        true
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
                        .hint("sent", false)
                        .hint("path", cwd.display().to_string()),
                );
            }
            cmd.current_dir(&cwd);
        }
        if args.get("clear_env").and_then(Value::as_bool).unwrap_or(false) {
            cmd.env_clear();
        }
        if let Some(k) = &ctx.idempotency_key {
            cmd.env("MEND_IDEMPOTENCY_KEY", &k.value);
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
        if let Some(p) = &ctx.processes {
            p.0.starting(&marker);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let code = match e.kind() {
                    std::io::ErrorKind::NotFound => ErrorCode::COMMAND_NOT_FOUND,
                    std::io::ErrorKind::PermissionDenied => ErrorCode::PERMISSION_DENIED,
                    _ => ErrorCode::SPAWN_FAILED,
                };
                // Nothing started (issue 14: its fate is known).
                if let Some(p) = &ctx.processes {
                    p.0.ended(0);
                }
                return Outcome::failure(ToolError::new(code, format!("could not start `{what}`: {e}")).hint("sent", false))
                    .timed(ms_since(t0));
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
        // Both ends of stderr: a usage text starts with what went wrong.
        let err_ends = ends(&stderr, 500);
        let code = if let Some(sig) = signal {
            let e = ToolError::new(ErrorCode::KILLED_BY_SIGNAL, format!("`{what}` was killed by signal {sig}")).hint("signal", sig);
            return Outcome::failure_with(with_facts(e), output).timed(elapsed);
        } else if exit_code == Some(127) && str_arg(args, "shell").is_some() {
            ErrorCode::COMMAND_NOT_FOUND
        } else if exit_code == Some(126) && str_arg(args, "shell").is_some() {
            ErrorCode::PERMISSION_DENIED
        } else {
            let out = format!("{}\n{}", err_ends, tail(&stdout, 500));
            command_row(str_arg(args, "program"), exit_code, &out)
                .and_then(|r| ErrorCode::parse(r.code).ok())
                .unwrap_or(ErrorCode::NON_ZERO_EXIT)
        };
        // The lines that say what went wrong, not only the last one (a
        // usage text ends with its least useful line).
        let told = telling_lines(&err_ends);
        let msg = if told.is_empty() {
            format!("`{what}` exited with {}", exit_code.unwrap_or(-1))
        } else {
            format!("`{what}` exited with {}: {told}", exit_code.unwrap_or(-1))
        };
        let mut e = ToolError::new(code.clone(), msg).hint("exit_code", exit_code.unwrap_or(-1));
        if code == ErrorCode::NOT_FOUND
            && let Some(raw) = missing_argument(args, &cwd, &err_ends)
        {
            // As the fs tool says it, so the same repair applies.
            e = e.hint("missing", "path").hint("path", raw);
        }
        if !err_tail.is_empty() {
            e = e.hint("stderr_tail", err_tail);
        }
        Outcome::failure_with(with_facts(e), output).timed(elapsed)
    }

    /// A longer timeout for a `TIMEOUT`; for a `NOT_FOUND` whose stderr
    /// named an argument as missing (hints `missing = "path"`, `path`), the
    /// call with that argument (or that word of the script) replaced by each
    /// path the fs tool's search finds near it (issue 14).
    async fn repairs(&self, args: &Value, error: &ToolError, ctx: &CallContext) -> Vec<Repair> {
        let mut out = crate::longer_timeout(args, error, DEFAULT_TIMEOUT_MS, MAX_REPAIR_TIMEOUT_MS);
        if error.code != ErrorCode::NOT_FOUND || error.hints.get("missing").and_then(Value::as_str) != Some("path") {
            return out;
        }
        let Some(raw) = error.hints.get("path").and_then(Value::as_str) else { return out };
        let cwd = match str_arg(args, "cwd") {
            Some(d) => ctx.base_dir.join(d),
            None => ctx.base_dir.clone(),
        };
        let mut near = crate::fs::near_paths(raw, &cwd, raw.ends_with('/'), 3).await;
        if near.is_empty() && !raw.ends_with('/') {
            near = crate::fs::near_paths(raw, &cwd, true, 3).await;
        }
        for (shown, reason) in near {
            if let Some(a) = with_argument_replaced(args, raw, &shown) {
                out.push(Repair { args: a, reason });
            }
        }
        out
    }
}

/// The call's arguments with every one equal to `raw` replaced by `new`:
/// an element of `args` (or `program`), or a shell word of `shell` whose
/// value is exactly `raw` (written again quoted as needed). `None` when no
/// argument is `raw`.
pub fn with_argument_replaced(args: &Value, raw: &str, new: &str) -> Option<Value> {
    let mut a = args.clone();
    if let Some(script) = str_arg(args, "shell") {
        let mut text = script.to_owned();
        let spans: Vec<_> = shell_words(script).into_iter().filter(|(_, v)| v.as_deref() == Some(raw)).map(|(r, _)| r).collect();
        if spans.is_empty() {
            return None;
        }
        for r in spans.into_iter().rev() {
            text.replace_range(r, &quote(new));
        }
        a["shell"] = json!(text);
        return Some(a);
    }
    let mut changed = false;
    if let Some(list) = a.get_mut("args").and_then(Value::as_array_mut) {
        for x in list.iter_mut().filter(|x| x.as_str() == Some(raw)) {
            *x = json!(new);
            changed = true;
        }
    }
    changed.then_some(a)
}

/// The words of a shell script with their byte ranges and, for a word
/// that is a plain literal, its value after quote removal (`None` when it
/// holds an expansion, a glob or a brace). Careful word matching, not a
/// parser: a script with a here-document gives no words at all (its body
/// is data, not words).
pub fn shell_words(script: &str) -> Vec<(std::ops::Range<usize>, Option<String>)> {
    if script.contains("<<") {
        return vec![];
    }
    let meta = |c: char| c.is_whitespace() || ";|&<>()".contains(c);
    let chars: Vec<(usize, char)> = script.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(script.len(), |&(b, _)| b);
    let mut words = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if meta(c) {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i].1 != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let mut value = String::new();
        let mut literal = c != '~';
        while i < chars.len() && !meta(chars[i].1) {
            match chars[i].1 {
                '\'' => {
                    i += 1;
                    while i < chars.len() && chars[i].1 != '\'' {
                        value.push(chars[i].1);
                        i += 1;
                    }
                    literal &= i < chars.len();
                }
                '"' => {
                    i += 1;
                    while i < chars.len() && chars[i].1 != '"' {
                        match chars[i].1 {
                            '\\' if chars.get(i + 1).is_some_and(|&(_, n)| "$`\"\\\n".contains(n)) => {
                                i += 1;
                                value.push(chars[i].1);
                            }
                            '$' | '`' => literal = false,
                            ch => value.push(ch),
                        }
                        i += 1;
                    }
                    literal &= i < chars.len();
                }
                '\\' => {
                    i += 1;
                    match chars.get(i) {
                        Some(&(_, '\n')) => {}
                        Some(&(_, ch)) => value.push(ch),
                        None => literal = false,
                    }
                }
                '$' | '`' | '*' | '?' | '[' | '{' | '}' => literal = false,
                ch => value.push(ch),
            }
            i += 1;
        }
        let range = end_of(start)..end_of(i.min(chars.len()));
        words.push((range, literal.then_some(value)));
    }
    words
}

/// The argument of a call that a "No such file or directory" line of its
/// stderr names and that does not exist relative to `cwd`: an element of
/// `args`, or a literal word of `shell`. Options, URLs and paths that exist
/// are never it.
fn missing_argument(args: &Value, cwd: &std::path::Path, stderr: &str) -> Option<String> {
    let candidates: Vec<String> = match str_arg(args, "shell") {
        Some(script) => shell_words(script).into_iter().filter_map(|(_, v)| v).collect(),
        None => args.get("args").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())?,
    };
    let lines: Vec<&str> = stderr.lines().filter(|l| l.to_lowercase().contains("no such file")).collect();
    candidates.into_iter().find(|raw| {
        if raw.is_empty() || raw.starts_with('-') || raw.contains("://") {
            return false;
        }
        let full = cwd.join(raw);
        let gone = matches!(std::fs::symlink_metadata(&full), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        let full = full.display().to_string();
        gone && lines.iter().any(|l| mentions(l, raw) || mentions(l, &full))
    })
}

/// Whether `line` names `path` as a whole: not as part of a longer name,
/// and not as the program's own name that starts the line (`cat: …`).
fn mentions(line: &str, path: &str) -> bool {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "._-/~+".contains(c));
    line.match_indices(path).any(|(at, _)| {
        let after = line[at + path.len()..].chars().next();
        let program_name = at == 0 && after == Some(':');
        !part(line[..at].chars().next_back()) && !part(after) && !program_name
    })
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
