//! The only place that speaks rmcp (issue 16: its API churn stays here).
//! A connection to one MCP server over stdio: the child in its own process
//! group, its stderr read into a bounded ring, `initialize`, `tools/list`
//! and `tools/call` with their results as JSON (the MCP spec's shapes).

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mend_core::mcp::{McpServer, McpTransport};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{Map, Value};
use tokio::io::AsyncBufReadExt;

/// Lines of a server's stderr kept, at most.
pub const STDERR_LINES: usize = 200;

/// The last lines a server wrote to stderr (bounded; redacted when read).
#[derive(Debug, Clone, Default)]
pub struct Ring(Arc<Mutex<VecDeque<String>>>);

impl Ring {
    fn push(&self, line: String) {
        if let Ok(mut q) = self.0.lock() {
            if q.len() == STDERR_LINES {
                q.pop_front();
            }
            q.push_back(line);
        }
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|q| q.iter().cloned().collect()).unwrap_or_default()
    }
}

/// Why a request failed, as far as its fate is concerned.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The request never left: the connection was already gone.
    NotSent(String),
    /// The connection closed after the request was sent: its fate is unknown.
    Closed(String),
    /// No answer within the time limit.
    Timeout(u64),
    /// The server answered with a JSON-RPC error.
    Rpc {
        /// The JSON-RPC error code (-32602: invalid params, -32601: unknown method).
        code: i32,
        /// Its message.
        message: String,
    },
}

/// A live connection.
pub struct Conn {
    service: RunningService<RoleClient, ()>,
    /// The server's process (the leader of its process group).
    pub pid: Option<u32>,
}

impl Conn {
    /// Starts the server and runs `initialize` within `startup_timeout_ms`.
    /// `env` fills `${env:NAME}` in the server's `env`; `base_dir`
    /// resolves a relative `cwd`. Errors say why, in words.
    pub async fn start(server: &McpServer, env: &[(String, String)], base_dir: &Path, stderr: Ring) -> Result<Conn, String> {
        let McpTransport::Stdio { command, args, env: extra, cwd } = &server.transport else {
            return Err("streamable HTTP servers are not supported by this build yet".into());
        };
        let mut cmd = tokio::process::Command::new(command);
        cmd.args(args).process_group(0).kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, mend_core::job::expand(&Value::String(v.clone()), env, base_dir).as_str().unwrap_or(v));
        }
        cmd.current_dir(match cwd {
            Some(d) => base_dir.join(d),
            None => base_dir.to_path_buf(),
        });
        let (proc, err) =
            TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn().map_err(|e| format!("could not start `{command}`: {e}"))?;
        let pid = proc.id();
        if let Some(err) = err {
            let ring = stderr.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    ring.push(l);
                }
            });
        }
        let started = tokio::time::timeout(Duration::from_millis(server.startup_timeout_ms), ().serve(proc)).await;
        match started {
            Ok(Ok(service)) => Ok(Conn { service, pid }),
            Ok(Err(e)) => {
                // Give its stderr a moment to say why it died.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let last = stderr.lines().last().cloned().map(|l| format!(" ({l})")).unwrap_or_default();
                Err(format!("`{}` did not initialize: {e}{last}", server.name))
            }
            Err(_) => Err(format!("`{}` did not initialize within {} ms", server.name, server.startup_timeout_ms)),
        }
    }

    /// Whether the connection can still carry a request: its process lives
    /// (a zombie does not) and the service has not stopped.
    pub fn alive(&self) -> bool {
        if self.service.is_closed() || self.service.peer().is_transport_closed() {
            return false;
        }
        match self.pid {
            Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')))
                .unwrap_or(false),
            None => true,
        }
    }

    /// Every tool the server offers (`tools/list`, all pages), as JSON.
    pub async fn tools(&self, timeout_ms: u64) -> Result<Vec<Value>, Failure> {
        let r = tokio::time::timeout(Duration::from_millis(timeout_ms), self.service.list_all_tools()).await;
        match r {
            Ok(Ok(tools)) => Ok(tools.iter().filter_map(|t| serde_json::to_value(t).ok()).collect()),
            Ok(Err(e)) => Err(failure(e, false)),
            Err(_) => Err(Failure::Timeout(timeout_ms)),
        }
    }

    /// `tools/call`; the result as the spec's JSON (`content`,
    /// `structuredContent`, `isError`).
    pub async fn call(&self, tool: &str, arguments: Map<String, Value>, timeout_ms: u64) -> Result<Value, Failure> {
        if !self.alive() {
            return Err(Failure::NotSent("the server's connection was already closed".into()));
        }
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let r = tokio::time::timeout(Duration::from_millis(timeout_ms), self.service.call_tool(params)).await;
        match r {
            Ok(Ok(result)) => Ok(serde_json::to_value(&result).unwrap_or(Value::Null)),
            Ok(Err(e)) => Err(failure(e, true)),
            Err(_) => Err(Failure::Timeout(timeout_ms)),
        }
    }

    /// Closes the connection and ends the server's process group.
    pub async fn stop(self) {
        let pid = self.pid;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.service.cancel()).await;
        kill_group(pid);
    }
}

/// Ends a server's process group (a server never outlives Mend).
pub fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

fn failure(e: ServiceError, sent: bool) -> Failure {
    match e {
        ServiceError::McpError(d) => Failure::Rpc { code: d.code.0, message: d.message.to_string() },
        ServiceError::TransportSend(e) => Failure::NotSent(e.to_string()),
        ServiceError::TransportClosed if sent => Failure::Closed("the server's connection closed before it answered".into()),
        ServiceError::TransportClosed => Failure::NotSent("the server's connection is closed".into()),
        ServiceError::Timeout { timeout } => Failure::Timeout(timeout.as_millis() as u64),
        other if sent => Failure::Closed(other.to_string()),
        other => Failure::NotSent(other.to_string()),
    }
}
