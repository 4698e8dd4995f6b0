//! `read_logs`: the audit trail as a tool (issue 16) — the journal's events
//! by time, level, tool, MCP server, code and text, and an MCP server's last
//! stderr lines, for a job step and for the diagnosis (a model can see that
//! a server failed 12 times in the last 30 minutes before it proposes a
//! fix). Everything in the journal is redacted when it is written; a
//! server's stderr is redacted here with the run's secrets.

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use mend_core::event::Level;
use mend_core::job::parse_duration_ms;
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
