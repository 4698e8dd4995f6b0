//! `read_logs`: the audit trail as a tool (issue 16) — the journal's events
//! by time, level, tool, MCP server, code and text, and an MCP server's last
//! stderr lines, for a job step and for the diagnosis (a model can see that
//! a server failed 12 times in the last 30 minutes before it proposes a
//! fix). Everything in the journal is redacted when it is written; a
//! server's stderr is redacted here with the run's secrets.

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use mend_core::event::{EventKind, Level};
use mend_core::job::parse_duration_ms;
use mend_core::payload::Body;
use mend_core::redact::Redactor;
use mend_core::tool::{CallContext, Effect, Tool};
use mend_core::{ErrorCode, Outcome, ToolError};
use mend_journal::{LogFilter, Reader};
use serde_json::{Value, json};

/// Events returned at most (the newest).
pub const MAX_EVENTS: usize = 500;

/// The `read_logs` tool over one journal file.
#[derive(Debug, Clone)]
pub struct ReadLogs {
    journal: PathBuf,
}

impl ReadLogs {
    /// The tool over the journal at `journal`.
    pub fn new(journal: PathBuf) -> Self {
        ReadLogs { journal }
    }
}

fn s<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str).filter(|v| !v.is_empty())
}

#[async_trait]
impl Tool for ReadLogs {
    fn name(&self) -> &str {
        "read_logs"
    }

    fn description(&self) -> &str {
        "Read the journal (events by time, level, tool, MCP server, code, text) and an MCP server's last stderr lines"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "since": {"type": "string", "description": "how far back: \"30m\", \"2h\", \"1d\" (default 1h)"},
                "level": {"enum": ["debug", "info", "warn", "error"], "description": "at least this level"},
                "tool": {"type": "string"},
                "server": {"type": "string", "description": "an MCP server: its calls' events, and its stderr lines"},
                "code": {"type": "string", "description": "an error code (e.g. MCP_SERVER_UNREACHABLE)"},
                "text": {"type": "string", "description": "the message or data contains this"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS, "description": "the newest this many (default 100)"}
            },
            "additionalProperties": false
        })
    }

    fn render(&self, args: &Value) -> String {
        format!("read_logs {args}")
    }

    fn effect(&self, _args: &Value) -> Effect {
        Effect::ReadOnly
    }

    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome {
        let t0 = Instant::now();
        let since_ms = match parse_duration_ms(s(args, "since").unwrap_or("1h")) {
            Ok(ms) => ms as i64,
            Err(e) => return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, format!("since: {e}"))),
        };
        let filter = LogFilter {
            min_level: s(args, "level").and_then(Level::parse),
            since_ms: Some(mend_core::clock::now_ms() - since_ms),
            tool: s(args, "tool").map(str::to_owned),
            code: s(args, "code").map(str::to_owned),
            // A server's calls say its name in their arguments and hints.
            text: s(args, "text").or(s(args, "server")).map(str::to_owned),
            limit: args.get("limit").and_then(Value::as_u64).map_or(100, |l| l.min(MAX_EVENTS as u64) as usize),
            ..Default::default()
        };
        let path = self.journal.clone();
        let read = tokio::task::spawn_blocking(move || Reader::open(&path).and_then(|r| r.logs(&filter))).await;
        let events = match read {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => return Outcome::failure(ToolError::new(ErrorCode::IO_ERROR, format!("the journal: {e}"))),
            Err(e) => return Outcome::failure(ToolError::new(ErrorCode::INTERNAL, e.to_string())),
        };
        let failures = events.iter().filter(|e| e.ok == Some(false)).count();
        let mut out = json!({
            "events": events,
            "count": events.len(),
            "failures": failures,
            "since_ms": since_ms,
        });
        if let Some(server) = s(args, "server") {
            let redactor = Redactor::from_env(std::iter::empty::<&str>(), &ctx.env);
            let lines: Vec<String> = mend_tools::mcp::servers().stderr(server).await.iter().map(|l| redactor.text(l)).collect();
            out["server"] = json!({
                "name": server,
                "state": mend_tools::mcp::servers().state(server).await,
                "stderr": lines,
            });
        }
        Outcome::success(out).timed(t0.elapsed().as_millis() as u64)
    }
}

/// How far back the diagnosis's account of a subject looks, ms (30 minutes).
pub const HISTORY_WINDOW_MS: i64 = 30 * 60_000;

/// The stderr lines of an MCP server given to the diagnosis, at most.
pub const HISTORY_STDERR_LINES: usize = 5;

/// `read_logs` for the diagnosis (issue 16): the journal's calls of the
/// failing call's subject in the last [`HISTORY_WINDOW_MS`] — for an MCP
/// call, its server's calls, with the server's state, starts and last
/// stderr lines (redacted by the prompt) — counted by code.
#[async_trait]
impl mend_core::diagnose::History for ReadLogs {
    async fn recent(&self, tool: &str, args: &Value, _error: &ToolError) -> Option<String> {
        let server = if tool == "mcp" { s(args, "server").map(str::to_owned) } else { None };
        let subject = mend_core::lesson::subject_of(tool, args);
        let filter = LogFilter {
            since_ms: Some(mend_core::clock::now_ms() - HISTORY_WINDOW_MS),
            tool: Some(tool.to_owned()),
            kind: Some(EventKind::Call),
            text: subject.clone(),
            limit: MAX_EVENTS,
            ..Default::default()
        };
        let path = self.journal.clone();
        let events = tokio::task::spawn_blocking(move || Reader::open(&path).and_then(|r| r.logs(&filter))).await.ok()?.ok()?;
        // An MCP server's own calls (its name in another server's would match the text too).
        let calls: Vec<_> = events
            .iter()
            .filter(|e| match (&server, &e.body) {
                (Some(name), Body::Call(c)) => c.args.get("server").and_then(Value::as_str) == Some(name.as_str()),
                _ => true,
            })
            .collect();
        let mut by_code: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in calls.iter().filter(|e| e.ok == Some(false)) {
            *by_code.entry(e.code.as_deref().unwrap_or("?")).or_default() += 1;
        }
        let failed: usize = by_code.values().sum();
        let who = match (&server, &subject) {
            (Some(name), _) => format!("MCP server `{name}`"),
            (None, Some(sub)) => format!("`{tool}` calls about `{sub}`"),
            (None, None) => format!("`{tool}` calls"),
        };
        let codes = by_code.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", ");
        let mut out = format!(
            "{who}: {failed} of {} calls failed in the last {} minutes{}",
            calls.len(),
            HISTORY_WINDOW_MS / 60_000,
            if codes.is_empty() { String::new() } else { format!(" ({codes})") }
        );
        if let Some(name) = &server {
            let sv = mend_tools::mcp::servers();
            let state = serde_json::to_string(&sv.state(name).await).unwrap_or_default();
            let (recent, starts) = sv.history(name).await;
            out.push_str(&format!(
                "\nIn this process: state {state}; started {starts} time(s); {recent} failure(s) within the circuit breaker's {} s window",
                mend_tools::mcp::TRIP_WINDOW_MS / 1000
            ));
            let lines = sv.stderr(name).await;
            let last = &lines[lines.len().saturating_sub(HISTORY_STDERR_LINES)..];
            if !last.is_empty() {
                out.push_str(&format!("\nIts last stderr lines:\n  {}", last.join("\n  ")));
            }
        }
        Some(out)
    }
}
