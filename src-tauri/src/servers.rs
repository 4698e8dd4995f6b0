//! The Servers screen (issue 16): each MCP server the config and the jobs
//! folder declare, with its state in this process, its tools, its calls and
//! failures over the dashboard's range (from the journal), its last stderr
//! lines, and a person's hand on it: disable, enable, restart.
//!
//! Supervision is per process (`mend_tools::mcp::servers()`): what this
//! screen shows and changes is the app's own connections. A server
//! disabled with `mend mcp disable` shows as disabled here too (the shared
//! file in the data directory, read at every state).

use std::sync::Arc;
use std::time::Duration;

use mend_core::event::{Event, EventKind};
use mend_core::mcp::{McpServer, McpTransport};
use mend_core::outcome::Outcome;
use mend_core::payload::Body;
use mend_core::redact::Redactor;
use mend_core::tool::CallContext;
use mend_journal::{LogFilter, Reader};
use mend_tools::mcp::{ServerState, servers};
use serde::Serialize;
use serde_json::Value;
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;

/// The stderr lines shown per server, at most (the newest).
pub const STDERR_SHOWN: usize = 20;

/// Time for `tools/list` once a server is up, ms (as `mend_tools::mcp` lists).
const LIST_MS: u64 = 5_000;

/// What a server is doing in this app (`mend_tools::mcp::ServerState`, for the UI).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerStatus {
    /// Not started by the app yet.
    NeverStarted,
    /// Connected.
    Running {
        /// Its process.
        pid: Option<u32>,
    },
    /// Its last start or connection failed; the next call starts it again.
    Down {
        /// Why (redacted).
        reason: String,
    },
    /// Set aside by the circuit breaker until a time, or by a person.
    Disabled {
        /// Until when (ms since epoch); `null`: until a person enables it.
        #[cfg_attr(test, ts(type = "number | null"))]
        until_ms: Option<i64>,
        /// Why (redacted).
        reason: String,
    },
}

impl ServerStatus {
    fn from_state(s: ServerState, r: &Redactor) -> Self {
        match s {
            ServerState::NeverStarted => ServerStatus::NeverStarted,
            ServerState::Running { pid } => ServerStatus::Running { pid },
            ServerState::Down { reason } => ServerStatus::Down { reason: r.text(&reason) },
            ServerState::Disabled { until_ms, reason } => ServerStatus::Disabled { until_ms, reason: r.text(&reason) },
        }
    }
}

/// One tool of a server, with what its annotations say (MCP spec
/// `ToolAnnotations`; `null`: the server does not say).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServerTool {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// `readOnlyHint`: it changes nothing (safe to repeat).
    pub read_only: Option<bool>,
    /// `destructiveHint`: it may destroy (the gate asks first).
    pub destructive: Option<bool>,
    /// `idempotentHint`: calling it again does nothing more.
    pub idempotent: Option<bool>,
}

/// One MCP server as the Servers screen shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServerView {
    /// Its name.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// Its command line or URL (redacted).
    pub target: String,
    /// The server its calls fall over to.
    pub backup: Option<String>,
    /// The job file that declared it; `null`: the config.
    pub declared_in: Option<String>,
    /// Its state after the view tried to list its tools.
    pub status: ServerStatus,
    /// Its tools, when they could be listed.
    pub tools: Vec<ServerTool>,
    /// Why its tools could not be listed.
    pub tools_error: Option<String>,
    /// Its last stderr lines, oldest first (redacted).
    pub stderr: Vec<String>,
    /// Calls addressed to it or served by it in the range (the journal).
    #[cfg_attr(test, ts(type = "number"))]
    pub calls: u64,
    /// Of those, the ones it failed: the call failed, or its backup had to answer.
    #[cfg_attr(test, ts(type = "number"))]
    pub failures: u64,
}

fn redactor(desk: &Desk) -> Redactor {
    Redactor::from_env(desk.config().secrets.iter().map(String::as_str), desk.env())
}

fn target(server: &McpServer) -> (&'static str, String) {
    match &server.transport {
        McpTransport::Stdio { command, args, .. } => ("stdio", std::iter::once(command).chain(args).cloned().collect::<Vec<_>>().join(" ")),
        McpTransport::Http { url, .. } => ("http", url.clone()),
    }
}

/// The server of that name, with the context to start it in.
fn declared(desk: &Desk, name: &str) -> Result<(McpServer, CallContext, Option<String>), IpcError> {
    let all = desk.mcp_servers();
    let list: Vec<McpServer> = all.iter().map(|(s, _, _)| s.clone()).collect();
    let Some((server, base_dir, job)) = all.into_iter().find(|(s, _, _)| s.name == name) else {
        let names = list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        return Err(IpcError::not_found(format!(
            "no MCP server is named `{name}` (declared: {})",
            if names.is_empty() { "none" } else { &names }
        )));
    };
    let cx = CallContext { base_dir, mcp_servers: Arc::new(list), env: Arc::new(desk.env().to_vec()), ..CallContext::default() };
    Ok((server, cx, job.map(|p| p.display().to_string())))
}

/// Whose call an `mcp` call event is: the server it asked for, and the
/// server that answered when a backup did (the `served_by` the tool adds).
fn addressed(e: &Event) -> Option<(&str, Option<&str>, &Outcome)> {
    let Body::Call(c) = &e.body else { return None };
    let asked = c.args.get("server").and_then(Value::as_str)?;
    let o = &c.outcome;
    let served = o.error.as_ref().and_then(|x| x.hints.get("served_by")).or_else(|| o.output.get("served_by")).and_then(Value::as_str);
    Some((asked, served, o))
}

/// Calls to `name` and its failures among these `mcp` call events: a call
/// asked of it fails when it failed or its backup answered; a call its
/// backup role served counts for it too.
fn tally(events: &[Event], name: &str) -> (u64, u64) {
    let (mut calls, mut failures) = (0, 0);
    for (asked, served, outcome) in events.iter().filter_map(addressed) {
        if asked == name {
            calls += 1;
            failures += u64::from(!outcome.is_ok() || served.is_some_and(|s| s != name));
        } else if served == Some(name) {
            calls += 1;
            failures += u64::from(!outcome.is_ok());
        }
    }
    (calls, failures)
}

/// Every `mcp` call in the journal since `since_ms` that names `name`.
fn calls_of(reader: &Reader, name: &str, since_ms: i64) -> Result<(u64, u64), IpcError> {
    let filter = LogFilter {
        tool: Some("mcp".into()),
        kind: Some(EventKind::Call),
        since_ms: Some(since_ms),
        text: Some(name.to_owned()),
        limit: 0,
        ..LogFilter::default()
    };
    Ok(tally(&reader.logs(&filter)?, name))
}

/// What the server says now, listing its tools when `start` or when it is
/// running or was never started (listing starts it, within its startup
/// timeout); a server down or disabled is left alone unless `start`.
async fn probe(server: McpServer, cx: CallContext, start: bool) -> (ServerState, Result<Vec<Value>, String>, Vec<String>) {
    let sv = servers();
    let before = sv.state(&server.name).await;
    let tools = match &before {
        ServerState::Disabled { reason, .. } => Err(format!("disabled: {reason}")),
        ServerState::Down { reason } if !start => Err(format!("down: {reason} (it starts again at its next call, or Restart)")),
        _ => {
            let bound = server.startup_timeout_ms + server.startup_timeout_ms.max(LIST_MS);
            match tokio::time::timeout(Duration::from_millis(bound), sv.list(&server, &cx)).await {
                Ok(r) => r,
                Err(_) => Err(format!("`{}` did not start and list its tools within {bound} ms", server.name)),
            }
        }
    };
    let stderr = sv.stderr(&server.name).await;
    let stderr = stderr[stderr.len().saturating_sub(STDERR_SHOWN)..].to_vec();
    (sv.state(&server.name).await, tools, stderr)
}

fn flag(tool: &Value, key: &str) -> Option<bool> {
    tool.get("annotations").and_then(|a| a.get(key)).and_then(Value::as_bool)
}

fn tool_view(t: &Value) -> ServerTool {
    ServerTool {
        name: t.get("name").and_then(Value::as_str).unwrap_or("?").to_owned(),
        description: t.get("description").and_then(Value::as_str).map(str::to_owned),
        read_only: flag(t, "readOnlyHint"),
        destructive: flag(t, "destructiveHint"),
        idempotent: flag(t, "idempotentHint"),
    }
}

fn view(
    server: &McpServer,
    declared_in: Option<String>,
    (state, tools, stderr): (ServerState, Result<Vec<Value>, String>, Vec<String>),
    (calls, failures): (u64, u64),
    r: &Redactor,
) -> ServerView {
    let (transport, target) = target(server);
    let (tools, tools_error) = match tools {
        Ok(t) => (t.iter().map(tool_view).collect(), None),
        Err(e) => (Vec::new(), Some(r.text(&e))),
    };
    ServerView {
        name: server.name.clone(),
        transport: transport.into(),
        target: r.text(&target),
        backup: server.backup.clone(),
        declared_in,
        status: ServerStatus::from_state(state, r),
        tools,
        tools_error,
        stderr: stderr.iter().map(|l| r.text(l)).collect(),
        calls,
        failures,
    }
}

/// Every declared server, its tools listed (starting one never started),
/// its calls and failures since `since_ms`.
#[tauri::command]
pub async fn servers_view(desk: State<'_, Arc<Desk>>, since_ms: i64) -> Result<Vec<ServerView>, IpcError> {
    let all = desk.mcp_servers();
    let counts = {
        let reader = desk.agent().reader()?;
        all.iter().map(|(s, _, _)| calls_of(&reader, &s.name, since_ms)).collect::<Result<Vec<_>, _>>()?
    };
    let list = Arc::new(all.iter().map(|(s, _, _)| s.clone()).collect::<Vec<_>>());
    let env = Arc::new(desk.env().to_vec());
    // All at once: a server slow to start does not hold up the others.
    let probes: Vec<_> = all
        .iter()
        .map(|(s, base_dir, _)| {
            let cx = CallContext { base_dir: base_dir.clone(), mcp_servers: list.clone(), env: env.clone(), ..CallContext::default() };
            tokio::spawn(probe(s.clone(), cx, false))
        })
        .collect();
    let r = redactor(&desk);
    let mut out = Vec::with_capacity(all.len());
    for ((probe, (server, _, job)), counts) in probes.into_iter().zip(all).zip(counts) {
        let seen = probe.await.map_err(|e| IpcError::internal(format!("listing `{}`: {e}", server.name)))?;
        out.push(view(&server, job.map(|p| p.display().to_string()), seen, counts, &r));
    }
    Ok(out)
}

/// Disables a server by hand for every Mend process (its calls go to its
/// backup, or fail as unreachable) until it is enabled — here or with
/// `mend mcp enable`; its state after.
#[tauri::command]
pub async fn server_disable(desk: State<'_, Arc<Desk>>, name: String, reason: Option<String>) -> Result<ServerStatus, IpcError> {
    declared(&desk, &name)?;
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).unwrap_or_else(|| "disabled in the app".into());
    servers().set_disabled_everywhere(&name, Some(reason), "the app").await.map_err(IpcError::internal)?;
    Ok(ServerStatus::from_state(servers().state(&name).await, &redactor(&desk)))
}

/// Enables a server again for every Mend process (and closes this
/// process's circuit); its state after.
#[tauri::command]
pub async fn server_enable(desk: State<'_, Arc<Desk>>, name: String) -> Result<ServerStatus, IpcError> {
    declared(&desk, &name)?;
    servers().set_disabled_everywhere(&name, None, "the app").await.map_err(IpcError::internal)?;
    Ok(ServerStatus::from_state(servers().state(&name).await, &redactor(&desk)))
}

/// Restarts a server: ends its connection and process group (a call in
/// flight on it ends as unreachable, in doubt) and starts it again within
/// its startup timeout; one down or never started is started. Its view
/// after, without counts.
#[tauri::command]
pub async fn server_restart(desk: State<'_, Arc<Desk>>, name: String) -> Result<ServerView, IpcError> {
    let (server, cx, job) = declared(&desk, &name)?;
    if let ServerState::Disabled { .. } = servers().state(&name).await {
        return Err(IpcError::conflict(format!("`{name}` is disabled: enable it first")));
    }
    servers().restart(&name).await;
    let seen = probe(server.clone(), cx, true).await;
    Ok(view(&server, job, seen, (0, 0), &redactor(&desk)))
}

#[cfg(test)]
mod tests {
    use mend_core::event::Level;
    use mend_core::payload::{CallMade, CallPurpose};
    use mend_core::{ErrorCode, ToolError};
    use serde_json::json;

    use super::*;

    fn call(server: &str, outcome: Outcome) -> Event {
        Event {
            ts_ms: 0,
            run_id: "r".into(),
            job: "j".into(),
            step: None,
            body: Body::Call(CallMade {
                purpose: CallPurpose::Call,
                args: json!({"server": server, "tool": "read_text_file"}),
                outcome,
                call: None,
                idempotency_key: None,
            }),
            level: Level::Info,
            tool: Some("mcp".into()),
            code: None,
            action: None,
            ok: None,
            duration_ms: None,
            tokens: None,
            agent: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_call_counts_for_the_server_asked_and_the_backup_that_answered() {
        let unreachable = || Outcome::failure(ToolError::new(ErrorCode::MCP_SERVER_UNREACHABLE, "gone"));
        let events = [
            call("files", Outcome::success(json!({"server": "files"}))),
            call("files", unreachable()),
            // The primary could not start; its backup answered.
            call("files", Outcome::success(json!({"served_by": "mirror"}))),
            // Both failed.
            call("files", Outcome::failure(ToolError::new(ErrorCode::MCP_SERVER_UNREACHABLE, "x").hint("served_by", "mirror"))),
            // A server whose name contains the other's.
            call("files-old", unreachable()),
        ];
        assert_eq!(tally(&events, "files"), (4, 3));
        assert_eq!(tally(&events, "mirror"), (2, 1));
        assert_eq!(tally(&events, "files-old"), (1, 1));
        assert_eq!(tally(&events, "other"), (0, 0));
    }
}
