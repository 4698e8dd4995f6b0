//! `mcp`: a tool of an MCP server, called through Mend (issue 16), and the
//! servers kept alive behind it.
//!
//! A step is `tool = "mcp"`, `args = { server = "…", tool = "…", arguments
//! = {…} }`; the servers are the job's `[[mcp.servers]]` (with the user
//! config's). [`Servers`] holds one connection per server per process,
//! started on first need, restarted when its process died (the next call
//! starts it again; the engine's backoff spaces the attempts), and a
//! circuit breaker per server: [`TRIP_FAILURES`] failures within
//! [`TRIP_WINDOW_MS`] disable it for a while (30 s, doubling up to 10 min),
//! after which one call is let through (half-open): it closes the circuit
//! or opens it again. A server disabled, or that cannot be reached, passes
//! the call to its declared `backup` — unless the call may already have
//! happened and is not safe to repeat. A person can disable and enable a
//! server by hand ([`Servers::set_disabled`]). Every server runs in its own
//! process group, ended when its connection is dropped or Mend exits.
//!
//! Failures map to codes (`docs/error-codes.md`): a server that cannot
//! start or was gone before the request left → `MCP_SERVER_UNREACHABLE`
//! (known not sent); closed after the request was sent → the same code,
//! marked `in_doubt` (unknown fate); JSON-RPC -32602 → `INVALID_ARGS`; an
//! unknown tool → `MCP_TOOL_NOT_FOUND` (the tool list is read again once);
//! `isError: true` → the message classifiers `exec` uses (rate limit,
//! permission, not found…), else `MCP_TOOL_ERROR`; no answer in time →
//! `TIMEOUT`. Tool annotations (MCP spec 2025-06-18, `ToolAnnotations`) say
//! what a call does: `readOnlyHint` → read-only and safe to repeat,
//! `idempotentHint` → safe to repeat, `destructiveHint: true` → the safety
//! gate asks before it runs.

pub mod client;
pub mod guard;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use mend_core::mcp::McpServer;
use mend_core::payload::{Guardrail, ServerChange};
use mend_core::tool::{CallContext, Effect, Notes, Repair, Tool};
use mend_core::{ErrorCode, Outcome, ToolError};
use serde_json::{Map, Value, json};

use client::{Conn, Failure, Ring};

/// Failures within [`TRIP_WINDOW_MS`] that disable a server.
pub const TRIP_FAILURES: usize = 3;
/// The window the circuit breaker counts failures in, ms.
pub const TRIP_WINDOW_MS: i64 = 60_000;
/// How long a tripped server is first disabled, ms (doubles each time it trips again, up to [`MAX_COOL_MS`]).
pub const FIRST_COOL_MS: i64 = 30_000;
/// The longest a tripped server stays disabled, ms.
pub const MAX_COOL_MS: i64 = 600_000;

/// The file in the data directory that keeps the servers a person disabled
/// by hand, for every Mend process (the CLI, a daemon, the app): a JSON
/// object, name → `{"reason", "by", "since_ms"}`. Whoever disables or
/// enables writes it atomically under an exclusive lock on
/// `.mcp-disabled.json.lock` beside it (`mend mcp disable|enable`); each
/// process reads it at every connection ([`Servers::load_disabled`]).
pub const DISABLED_FILE: &str = "mcp-disabled.json";

/// What a server is doing, as `mend mcp` and the app show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerState {
    /// Not started in this process.
    NeverStarted,
    /// Connected.
    Running {
        /// Its process.
        pid: Option<u32>,
    },
    /// Its last start or connection failed; the next call starts it again.
    Down {
        /// Why.
        reason: String,
    },
    /// Set aside until a time (the circuit breaker), or by a person.
    Disabled {
        /// Until when (ms since epoch); `None`: until a person enables it.
        until_ms: Option<i64>,
        /// Why.
        reason: String,
    },
}

#[derive(Default)]
struct Slot {
    config: Option<McpServer>,
    conn: Option<Arc<Conn>>,
    down: Option<String>,
    failures: Vec<i64>,
    // Every failure within the window, for the history (never cleared by a trip or a success).
    recent: Vec<i64>,
    cool_ms: i64,
    open_until: Option<i64>,
    open_reason: String,
    by_hand: Option<String>,
    tools: Option<Vec<Value>>,
    stderr: Ring,
    starts: u32,
}

/// The MCP servers of this process: one connection each (issue 16).
#[derive(Default)]
pub struct Servers {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    // Annotations by (server, tool), readable without awaiting (the gate).
    annotations: Mutex<HashMap<(String, String), Value>>,
    // The shared file of servers disabled by hand; a std mutex: set once, read without awaiting.
    disabled_file: Mutex<Option<PathBuf>>,
}

fn now_ms() -> i64 {
    mend_core::clock::now_ms()
}

/// The names of servers whose tools changed, as they change (a server's
/// `notifications/tools/list_changed`): subscribe to hear them.
pub fn tools_changed() -> tokio::sync::broadcast::Receiver<String> {
    changes().subscribe()
}

fn changes() -> &'static tokio::sync::broadcast::Sender<String> {
    static TX: OnceLock<tokio::sync::broadcast::Sender<String>> = OnceLock::new();
    TX.get_or_init(|| tokio::sync::broadcast::channel(64).0)
}

/// The servers of this process.
pub fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(Servers::default)
}

/// Why a call could not be made on a server, before anything was sent.
enum Unavailable {
    Disabled(String),
    Down(String),
}

impl Servers {
    fn slot(&self, name: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut m = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(name.to_owned()).or_default().clone()
    }

    /// Reads the servers disabled by hand from [`DISABLED_FILE`] in
    /// `data_dir` too (at every connection and state), so a server disabled
    /// from another Mend process is disabled in this one.
    pub fn load_disabled(&self, data_dir: &Path) {
        if let Ok(mut f) = self.disabled_file.lock() {
            *f = Some(data_dir.join(DISABLED_FILE));
        }
    }

    /// Why the shared file says `name` is disabled by hand, if it does. A
    /// file that exists but cannot be read as Mend writes it disables every
    /// server, saying why (it fails closed: a person's "disable" is never
    /// lost to a damaged file; red team).
    fn disabled_in_file(&self, name: &str) -> Option<String> {
        let path = self.disabled_file.lock().ok()?.clone()?;
        let damaged = |why: String| {
            Some(format!(
                "{} cannot be read ({why}), so every server is treated as disabled by hand until it is fixed or removed",
                path.display()
            ))
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return damaged(e.to_string()),
        };
        if text.trim().is_empty() {
            return None;
        }
        let all: Value = match serde_json::from_str(&text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return damaged("not a JSON object".into()),
            Err(e) => return damaged(e.to_string()),
        };
        let e = all.get(name)?;
        let reason = e.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()).unwrap_or("no reason given");
        Some(match e.get("by").and_then(Value::as_str).filter(|b| !b.is_empty()) {
            Some(by) => format!("{reason} (by {by})"),
            None => reason.to_owned(),
        })
    }

    /// A server's state now.
    pub async fn state(&self, name: &str) -> ServerState {
        let slot = self.slot(name);
        let s = slot.lock().await;
        if let Some(reason) = s.by_hand.clone().or_else(|| self.disabled_in_file(name)) {
            return ServerState::Disabled { until_ms: None, reason };
        }
        if let Some(until) = s.open_until.filter(|&u| u > now_ms()) {
            return ServerState::Disabled { until_ms: Some(until), reason: s.open_reason.clone() };
        }
        match (&s.conn, &s.down) {
            (Some(c), _) if c.alive() => ServerState::Running { pid: c.pid },
            (_, Some(r)) => ServerState::Down { reason: r.clone() },
            (Some(_), None) => ServerState::Down { reason: "its process ended".into() },
            (None, None) => ServerState::NeverStarted,
        }
    }

    /// A server's last stderr lines (at most [`client::STDERR_LINES`]).
    pub async fn stderr(&self, name: &str) -> Vec<String> {
        self.slot(name).lock().await.stderr.lines()
    }

    /// Disables a server by hand (`Some(reason)`) or enables it again
    /// (`None`, which also closes its circuit).
    pub async fn set_disabled(&self, name: &str, reason: Option<String>) {
        let slot = self.slot(name);
        let mut s = slot.lock().await;
        if reason.is_none() {
            s.open_until = None;
            s.failures.clear();
            s.cool_ms = 0;
        }
        s.by_hand = reason;
    }

    /// Disables a server by hand (`Some(reason)`) or enables it (`None`) for
    /// every Mend process: in [`DISABLED_FILE`] of the data directory given to
    /// [`Servers::load_disabled`] (`by` says who), and in this one. Enabling
    /// also closes this process's circuit. Errors name the file.
    pub async fn set_disabled_everywhere(&self, name: &str, reason: Option<String>, by: &str) -> Result<(), String> {
        let file = self.disabled_file.lock().ok().and_then(|f| f.clone());
        if let Some(dir) = file.as_deref().and_then(Path::parent) {
            edit_disabled(dir, |all| match &reason {
                Some(r) => {
                    all.insert(name.to_owned(), json!({"reason": r, "by": by, "since_ms": now_ms()}));
                    true
                }
                None => all.remove(name).is_some(),
            })?;
        }
        self.set_disabled(name, reason).await;
        Ok(())
    }

    /// Ends a server's connection and process group; its next call starts
    /// it again (the app's Restart).
    pub async fn restart(&self, name: &str) {
        let slot = self.slot(name);
        let mut s = slot.lock().await;
        if let Some(c) = s.conn.take() {
            client::kill_group(c.pgid);
        }
        s.tools = None;
        s.down = None;
    }

    /// How many times a server failed within the circuit breaker's window
    /// (whether or not its circuit tripped or a call answered since), and
    /// how many times it was started in this process: the history the
    /// diagnosis reads (issue 16).
    pub async fn history(&self, name: &str) -> (usize, u32) {
        let slot = self.slot(name);
        let s = slot.lock().await;
        let now = now_ms();
        (s.recent.iter().filter(|&&t| now - t < TRIP_WINDOW_MS).count(), s.starts)
    }

    /// Ends every server's connection and process group.
    pub async fn shutdown(&self) {
        let slots: Vec<_> = self.slots.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        for slot in slots {
            let mut s = slot.lock().await;
            if let Some(c) = s.conn.take() {
                client::kill_group(c.pgid);
            }
        }
    }

    /// The annotations of a server's tool, when its tools were listed in
    /// this process (`null` otherwise).
    pub fn annotations(&self, server: &str, tool: &str) -> Value {
        self.listed(server, tool).unwrap_or(Value::Null)
    }

    /// The annotations of a server's tool as last listed in this process
    /// (`null`: listed without any), or `None` when its tools were not
    /// listed or it has no such tool.
    pub fn listed(&self, server: &str, tool: &str) -> Option<Value> {
        self.annotations.lock().ok()?.get(&(server.to_owned(), tool.to_owned())).cloned()
    }

    /// What a call of `tool` on `server` does, by the annotations listed
    /// ([`effect_of`]); `None` before they are.
    pub fn effect(&self, server: &str, tool: &str) -> Option<Effect> {
        self.listed(server, tool).map(|a| effect_of(&a))
    }

    /// A live connection to `server`, started if needed.
    async fn connect(&self, server: &McpServer, cx: &CallContext) -> Result<Arc<Conn>, Unavailable> {
        let slot = self.slot(&server.name);
        let mut s = slot.lock().await;
        if let Some(reason) = s.by_hand.clone().or_else(|| self.disabled_in_file(&server.name)) {
            return Err(Unavailable::Disabled(format!("`{}` was disabled by hand: {reason}", server.name)));
        }
        if let Some(until) = s.open_until.filter(|&u| u > now_ms()) {
            return Err(Unavailable::Disabled(format!(
                "`{}` is disabled until {} ms from now: {}",
                server.name,
                until - now_ms(),
                s.open_reason
            )));
        }
        // A changed declaration starts a new connection.
        if s.config.as_ref() != Some(server)
            && let Some(old) = s.conn.take()
        {
            client::kill_group(old.pgid);
            s.tools = None;
        }
        s.config = Some(server.clone());
        if let Some(c) = s.conn.as_ref().filter(|c| c.alive()) {
            return Ok(c.clone());
        }
        if let Some(old) = s.conn.take() {
            client::kill_group(old.pgid);
            s.tools = None;
        }
        s.starts += 1;
        let ring = s.stderr.clone();
        match Conn::start(server, &cx.env, &cx.base_dir, ring).await {
            Ok(c) => {
                let c = Arc::new(c);
                s.conn = Some(c.clone());
                s.down = None;
                Ok(c)
            }
            Err(why) => {
                s.down = Some(why.clone());
                Self::failed(&mut s, &server.name, &why, &cx.notes);
                Err(Unavailable::Down(why))
            }
        }
    }

    /// Counts a failure; trips the circuit when there are too many (or
    /// when the call let through half-open failed), and notes that for the
    /// run's journal.
    fn failed(s: &mut Slot, name: &str, why: &str, notes: &Notes) {
        let now = now_ms();
        s.failures.retain(|&t| now - t < TRIP_WINDOW_MS);
        s.failures.push(now);
        s.recent.retain(|&t| now - t < TRIP_WINDOW_MS);
        s.recent.push(now);
        let half_open = s.open_until.is_some_and(|u| u <= now);
        if s.failures.len() >= TRIP_FAILURES || half_open {
            s.cool_ms = if s.cool_ms == 0 { FIRST_COOL_MS } else { (s.cool_ms * 2).min(MAX_COOL_MS) };
            let until = now + s.cool_ms;
            s.open_until = Some(until);
            s.open_reason = if half_open {
                format!("the call let through after the cool-down failed too: {why}")
            } else {
                format!("{} failures within {} s; the last: {why}", s.failures.len(), TRIP_WINDOW_MS / 1000)
            };
            s.failures.clear();
            notes.push(
                Guardrail::Server {
                    server: name.to_owned(),
                    change: ServerChange::CircuitOpened,
                    until_ms: Some(until),
                    reason: s.open_reason.clone(),
                    backup: None,
                },
                format!("MCP server `{name}` disabled for {} s (circuit open): {}", s.cool_ms / 1000, s.open_reason),
            );
        }
    }

    /// A call answered: the failures are forgotten, and a circuit that was
    /// half-open closes (noted for the journal).
    async fn succeeded(&self, name: &str, notes: &Notes) {
        let slot = self.slot(name);
        let mut s = slot.lock().await;
        s.failures.clear();
        if s.open_until.take().is_some() {
            notes.push(
                Guardrail::Server {
                    server: name.to_owned(),
                    change: ServerChange::CircuitClosed,
                    until_ms: None,
                    reason: "the call let through after the cool-down answered".into(),
                    backup: None,
                },
                format!("MCP server `{name}` answered again after its cool-down: enabled (circuit closed)"),
            );
        }
        s.cool_ms = 0;
    }

    async fn note_failure(&self, name: &str, why: &str, notes: &Notes) {
        let slot = self.slot(name);
        let mut s = slot.lock().await;
        Self::failed(&mut s, name, why, notes);
    }

    /// The server's tools (listed once per connection, again when asked to `refresh`).
    async fn tools(&self, server: &McpServer, conn: &Conn, refresh: bool) -> Result<Vec<Value>, Failure> {
        let slot = self.slot(&server.name);
        let mut s = slot.lock().await;
        if let (Some(t), false) = (&s.tools, refresh) {
            return Ok(t.clone());
        }
        let tools = conn.tools(server.startup_timeout_ms.max(5_000)).await?;
        if let Ok(mut a) = self.annotations.lock() {
            for t in &tools {
                if let Some(n) = t.get("name").and_then(Value::as_str) {
                    a.insert((server.name.clone(), n.to_owned()), t.get("annotations").cloned().unwrap_or(Value::Null));
                }
            }
        }
        s.tools = Some(tools.clone());
        Ok(tools)
    }

    /// A tool's `inputSchema` as its server last listed it in this process.
    pub async fn input_schema(&self, server: &str, tool: &str) -> Option<Value> {
        let slot = self.slot(server);
        let s = slot.lock().await;
        s.tools.as_ref()?.iter().find(|t| t.get("name").and_then(Value::as_str) == Some(tool))?.get("inputSchema").cloned()
    }

    /// A server said its tools changed (`notifications/tools/list_changed`):
    /// its list and annotations are read again at the next call or gate
    /// check, and whoever listens ([`tools_changed`]) hears its name.
    pub async fn tools_changed(&self, name: &str) {
        {
            let slot = self.slot(name);
            slot.lock().await.tools = None;
        }
        if let Ok(mut a) = self.annotations.lock() {
            a.retain(|(server, _), _| server != name);
        }
        let _ = changes().send(name.to_owned());
    }

    /// Pings a server (starting it if needed): how long it took to answer,
    /// ms (`mend mcp doctor`). Errors say why, in words.
    pub async fn ping(&self, server: &McpServer, cx: &CallContext) -> Result<u64, String> {
        let conn = self.connect(server, cx).await.map_err(|u| match u {
            Unavailable::Disabled(m) | Unavailable::Down(m) => m,
        })?;
        conn.ping(server.startup_timeout_ms.max(5_000)).await.map_err(|f| match f {
            Failure::NotSent(m) | Failure::Closed(m) => m,
            Failure::Timeout(ms) => format!("no answer within {ms} ms"),
            Failure::Rpc { code, message } => format!("JSON-RPC {code}: {message}"),
        })
    }

    /// Lists a server's tools (starting it if needed): `mend mcp tools`,
    /// `mend check`, and the gate's annotations before a run.
    pub async fn list(&self, server: &McpServer, cx: &CallContext) -> Result<Vec<Value>, String> {
        let conn = self.connect(server, cx).await.map_err(|u| match u {
            Unavailable::Disabled(m) | Unavailable::Down(m) => m,
        })?;
        self.tools(server, &conn, false).await.map_err(|f| format!("{f:?}"))
    }
}

/// Lists the tools of every MCP server a job's steps call (their own
/// calls, alternatives and verify calls), so that their annotations are
/// known before the safety gate reads them (issue 16). A server that cannot
/// be reached now is left to the call, which reports it.
pub async fn prepare(job: &mend_core::job::Job, env: &[(String, String)]) {
    let mut names: Vec<&str> = Vec::new();
    for step in &job.steps {
        for call in std::iter::once(&step.call).chain(&step.alternatives).chain(&step.verify) {
            if call.tool == "mcp"
                && let Some(n) = call.args.get("server").and_then(Value::as_str)
                && !names.contains(&n)
            {
                names.push(n);
            }
        }
    }
    // Their backups too: a call may go there (issue 16, red team).
    let mut i = 0;
    while i < names.len() {
        if let Some(b) = find(&job.mcp_servers, names[i]).and_then(|s| s.backup.as_deref())
            && !names.contains(&b)
        {
            names.push(b);
        }
        i += 1;
    }
    if names.is_empty() {
        return;
    }
    let cx = CallContext {
        base_dir: job.base_dir.clone(),
        mcp_servers: Arc::new(job.mcp_servers.clone()),
        env: Arc::new(env.to_vec()),
        ..CallContext::default()
    };
    for n in names {
        if let Some(server) = find(&job.mcp_servers, n) {
            let _ = servers().list(server, &cx).await;
        }
    }
}

/// Edits [`DISABLED_FILE`] in `data_dir` under its lock (a `flock` on
/// `.mcp-disabled.json.lock`): read, change, atomic write — only when
/// `change` says it changed something. A file that is not the JSON object
/// Mend writes is an error naming it, never overwritten.
pub fn edit_disabled(data_dir: &Path, change: impl FnOnce(&mut Map<String, Value>) -> bool) -> Result<(), String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(data_dir).map_err(|e| io(data_dir, e))?;
    let path = data_dir.join(DISABLED_FILE);
    let lock_path = data_dir.join(format!(".{DISABLED_FILE}.lock"));
    // Every writer takes it around read → change → write; dropped (unlocked) on return.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| io(&lock_path, e))?;
    lock.lock().map_err(|e| io(&lock_path, e))?;
    let mut all: Map<String, Value> = match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().is_empty() => Map::new(),
        Ok(t) => {
            serde_json::from_str(&t).map_err(|e| format!("{}: not the JSON object Mend writes ({e}); fix or remove it", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(io(&path, e)),
    };
    if change(&mut all) {
        let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())? + "\n";
        crate::fs::write_atomic(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// The `mcp` tool.
#[derive(Debug, Default, Clone, Copy)]
pub struct McpTool;

/// One call as it goes to a server.
#[derive(Clone, Copy)]
struct Req<'a> {
    tool: &'a str,
    arguments: &'a Map<String, Value>,
    timeout_ms: Option<u64>,
    judged: Judged,
}

/// What the safety gate saw of a call before it was made: its effect and
/// whether it was safe to repeat, by the annotations known then.
#[derive(Debug, Clone, Copy)]
struct Judged {
    effect: Effect,
    repeatable: bool,
}

/// What a tool does by its annotations (MCP spec 2025-06-18,
/// `ToolAnnotations`, whose defaults are `readOnlyHint: false` and
/// `destructiveHint: true`): read-only only when the server says so;
/// otherwise destructive unless it says `destructiveHint: false`. A tool
/// listed without annotations is therefore destructive: the gate asks.
pub fn effect_of(annotations: &Value) -> Effect {
    match (hint(annotations, "readOnlyHint"), hint(annotations, "destructiveHint")) {
        (Some(true), _) => Effect::ReadOnly,
        (_, Some(false)) => Effect::Mutating,
        _ => Effect::Destructive,
    }
}

/// Arguments fitted to a tool's input schema (JSON Schema, the MCP tool's
/// `inputSchema`), and what was changed, when anything could be without
/// guessing: a key that names a property but for case, `-` or `_`
/// (`filePath` → `file_path`); a value of the wrong type that converts
/// exactly (`"42"` → 42, 42 → `"42"`, `"true"` → true, a single value for
/// an array); a missing required property with a `default`; a key the
/// schema does not allow (`additionalProperties: false`) and that names
/// nothing, dropped. `None` when nothing changed.
pub fn fit_to_schema(schema: &Value, given: &Map<String, Value>) -> Option<(Map<String, Value>, Vec<String>)> {
    let props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let norm = |k: &str| k.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect::<String>();
    let mut out = Map::new();
    let mut what = Vec::new();
    for (k, v) in given {
        if props.contains_key(k) {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let near: Vec<&String> = props.keys().filter(|p| norm(p) == norm(k) && !given.contains_key(*p)).collect();
        match near.as_slice() {
            [p] => {
                what.push(format!("`{k}` → `{p}`"));
                out.insert((*p).clone(), v.clone());
            }
            _ if closed => what.push(format!("`{k}` dropped (the tool takes no such argument)")),
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, p) in &props {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        match out.get(k).cloned() {
            Some(v) => {
                let fitted = match (ty, &v) {
                    ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
                    ("number", Value::String(s)) => {
                        s.trim().parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                    }
                    ("string", Value::Number(n)) => Some(Value::String(n.to_string())),
                    ("string", Value::Bool(b)) => Some(Value::String(b.to_string())),
                    ("boolean", Value::String(s)) if s == "true" || s == "false" => Some(Value::Bool(s == "true")),
                    ("array", v) if !v.is_array() && !v.is_null() => Some(Value::Array(vec![v.clone()])),
                    _ => None,
                };
                if let Some(f) = fitted {
                    what.push(format!("`{k}` {v} → {f}"));
                    out.insert(k.clone(), f);
                }
            }
            None => {
                let required = schema.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|x| x == k));
                if let (true, Some(d)) = (required, p.get("default")) {
                    what.push(format!("`{k}` set to its default {d}"));
                    out.insert(k.clone(), d.clone());
                }
            }
        }
    }
    (!what.is_empty()).then_some((out, what))
}

/// How far a call may reach, to compare two views of one tool.
fn reach(e: Effect) -> u8 {
    match e {
        Effect::ReadOnly => 0,
        Effect::Mutating => 1,
        Effect::Destructive => 2,
    }
}

/// Whether a call of a tool with these annotations is safe to send again
/// (`readOnlyHint` or `idempotentHint`; issue 14).
fn repeatable(annotations: &Value) -> bool {
    hint(annotations, "readOnlyHint") == Some(true) || hint(annotations, "idempotentHint") == Some(true)
}

/// The wait a rate-limit text asks for, ms: "retry after 30 seconds",
/// "try again in 2s", "retry-after: 5", "wait 500 ms". `None` if it names none.
fn retry_after_in(lower: &str) -> Option<u64> {
    for key in ["retry after", "retry-after", "try again in", "try again after", "wait"] {
        let Some(i) = lower.find(key) else { continue };
        let rest = lower[i + key.len()..].trim_start_matches([' ', ':', '=']);
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let Ok(n) = digits.parse::<f64>() else { continue };
        let unit = rest[digits.len()..].trim_start();
        let ms = if unit.starts_with("ms") || unit.starts_with("milli") {
            n
        } else if unit.starts_with('m') && !unit.starts_with("ms") {
            n * 60_000.0
        } else {
            n * 1_000.0
        };
        return Some(ms.round() as u64);
    }
    None
}

fn hint(annotations: &Value, key: &str) -> Option<bool> {
    annotations.get(key).and_then(Value::as_bool)
}

fn text_of(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(|x| x.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// Which server a call goes to, with the one it falls over to.
fn find<'a>(servers: &'a [McpServer], name: &str) -> Option<&'a McpServer> {
    servers.iter().find(|s| s.name == name)
}

impl McpTool {
    /// Calls `tool` on `server`, passing over to its backup (and the
    /// backup's) when the server is set aside: disabled by hand or by its
    /// circuit breaker — nothing was sent. A server that fails now returns
    /// its failure, with its backup as a [repair](Tool::repairs) for the
    /// engine to try and learn.
    async fn call_on(
        &self,
        name: &str,
        tool: &str,
        arguments: &Map<String, Value>,
        timeout_ms: Option<u64>,
        judged: Judged,
        cx: &CallContext,
    ) -> Outcome {
        let sv = servers();
        let mut tried: Vec<String> = Vec::new();
        let mut at = name.to_owned();
        let mut last: Option<ToolError> = None;
        loop {
            let Some(server) = find(&cx.mcp_servers, &at).cloned() else {
                return Outcome::failure(
                    ToolError::new(ErrorCode::INVALID_ARGS, format!("no MCP server is named `{at}`")).hint("server", at),
                );
            };
            tried.push(at.clone());
            let outcome = self.call_once(sv, &server, Req { tool, arguments, timeout_ms, judged }, cx).await;
            let fell_back = |o: Outcome| if tried.len() > 1 { o.with_hint("served_by", json!(at)) } else { o };
            let Some(e) = outcome.error.clone().filter(|_| !outcome.is_ok()) else { return fell_back(outcome) };
            // A server set aside (disabled by hand or by its circuit) is
            // passed over at once; one that merely failed now is left to the
            // engine, whose repair (the backup) is learned (issue 16, item 6).
            let set_aside = e.code == ErrorCode::MCP_SERVER_UNREACHABLE && e.hints.get("disabled").and_then(Value::as_bool) == Some(true);
            // Only to a backup whose tool does no more than the gate judged
            // (listed now if it was not), and is safe to repeat if the
            // primary's was: otherwise the engine's repair takes the backup,
            // through the gate and the rules for calls of unknown fate.
            let backup = match server.backup.clone().filter(|b| !tried.contains(b)) {
                Some(b) if set_aside => {
                    if sv.listed(&b, tool).is_none()
                        && let Some(bs) = find(&cx.mcp_servers, &b)
                    {
                        let _ = sv.list(bs, cx).await;
                    }
                    let fits = sv
                        .listed(&b, tool)
                        .is_some_and(|a| reach(effect_of(&a)) <= reach(judged.effect) && (repeatable(&a) || !judged.repeatable));
                    fits.then_some(b)
                }
                _ => None,
            };
            match backup {
                Some(b) => {
                    cx.notes.push(
                        Guardrail::Server {
                            server: at.clone(),
                            change: ServerChange::FellOver,
                            until_ms: None,
                            reason: e.message.clone(),
                            backup: Some(b.clone()),
                        },
                        format!("MCP server `{at}` is set aside ({}); the call goes to its backup `{b}`", e.message),
                    );
                    last = Some(e);
                    at = b;
                }
                _ => {
                    let o = fell_back(outcome);
                    return match last {
                        Some(first) if tried.len() > 1 => o.with_hint("primary_error", json!(first.message)),
                        _ => o,
                    };
                }
            }
        }
    }

    async fn call_once(&self, sv: &Servers, server: &McpServer, req: Req<'_>, cx: &CallContext) -> Outcome {
        let outcome = self.call_inner(sv, server, req, cx).await;
        // What the diagnosis reads about this server: its recent failures and starts.
        if outcome.is_ok() {
            return outcome;
        }
        let (failures, starts) = sv.history(&server.name).await;
        let mut outcome = outcome.with_hint("server_failures_recent", json!(failures)).with_hint("server_starts", json!(starts));
        // The history chooses between a restart and the backup (issue 16):
        // a server that failed twice within the breaker's window is not
        // started again first when it has a backup — the backup goes first
        // (a third failure sets it aside altogether).
        if let Some(e) = outcome.error.as_mut()
            && e.code == ErrorCode::MCP_SERVER_UNREACHABLE
            && server.backup.is_some()
            && failures >= 2
            && e.retryable
        {
            e.retryable = false;
            e.hints.insert("prefer_backup".into(), json!(format!("{failures} failures within {} s", TRIP_WINDOW_MS / 1000)));
        }
        outcome
    }

    async fn call_inner(&self, sv: &Servers, server: &McpServer, req: Req<'_>, cx: &CallContext) -> Outcome {
        let Req { tool, arguments, timeout_ms, judged } = req;
        let name = server.name.as_str();
        let unreachable =
            |m: String| Outcome::failure(ToolError::new(ErrorCode::MCP_SERVER_UNREACHABLE, m).hint("server", name).hint("sent", false));
        let conn = match sv.connect(server, cx).await {
            Ok(c) => c,
            Err(Unavailable::Disabled(m)) => {
                // Set aside (by hand, or by its circuit): retrying it now cannot help.
                let mut o = unreachable(m).with_hint("disabled", json!(true));
                if let Some(e) = o.error.as_mut() {
                    e.retryable = false;
                }
                return o;
            }
            Err(Unavailable::Down(m)) => {
                // It could not be started just now: with a backup declared,
                // the backup goes first (a repair) rather than starting it
                // again at once; the circuit lets it be tried later.
                let mut o = unreachable(m).with_hint("phase", json!("start"));
                if let (Some(e), Some(_)) = (o.error.as_mut(), &server.backup) {
                    e.retryable = false;
                }
                return o;
            }
        };
        // An unknown tool: read the list again once before saying so.
        let mut known = sv.tools(server, &conn, false).await.ok();
        let has = |t: &Option<Vec<Value>>| t.as_ref().is_none_or(|t| t.iter().any(|x| x.get("name").and_then(Value::as_str) == Some(tool)));
        if !has(&known) {
            known = sv.tools(server, &conn, true).await.ok();
            if !has(&known) {
                return Outcome::failure(
                    ToolError::new(ErrorCode::MCP_TOOL_NOT_FOUND, format!("`{name}` has no tool `{tool}`"))
                        .hint("server", name)
                        .hint("sent", false),
                );
            }
        }
        // The tool as listed now may do more than the gate judged (its list
        // changed, or was first read by this call): not sent, for a person.
        if let Some(now) = sv.effect(name, tool)
            && reach(now) > reach(judged.effect)
        {
            let said = match now {
                Effect::Destructive => "destructive",
                Effect::Mutating => "changing something",
                Effect::ReadOnly => "read-only",
            };
            return Outcome::failure(
                ToolError::new(
                    ErrorCode::BLOCKED,
                    format!(
                        "`{name}`.`{tool}` was not sent: its server's tools/list, read for this call, marks it {said}, more than the safety gate \
                         judged before the call; a person decides whether it runs"
                    ),
                )
                .hint("server", name)
                .hint("sent", false),
            );
        }
        let timeout = timeout_ms.unwrap_or(server.call_timeout_ms);
        match conn.call(tool, arguments.clone(), timeout).await {
            Ok(result) => {
                sv.succeeded(name, &cx.notes).await;
                let text = text_of(&result);
                let output = json!({"server": name, "text": text, "result": result});
                if result.get("isError").and_then(Value::as_bool) == Some(true) {
                    // The TypeScript SDK's servers answer a schema error or an
                    // unknown tool as a result: "MCP error -32602: …".
                    let lower = text.to_lowercase();
                    let code = if lower.contains("mcp error -32602") && lower.contains("not found") {
                        ErrorCode::MCP_TOOL_NOT_FOUND
                    } else if lower.contains("mcp error -32602") || lower.contains("input validation error") {
                        ErrorCode::INVALID_ARGS
                    } else {
                        crate::exec::classify_output(&text).unwrap_or(ErrorCode::MCP_TOOL_ERROR)
                    };
                    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect::<String>();
                    let mut e = ToolError::new(code.clone(), format!("`{name}`.`{tool}` reported an error: {first}")).hint("server", name);
                    // "retry after 30 seconds": the wait the server asked for is a floor.
                    if code == ErrorCode::RATE_LIMITED
                        && let Some(ms) = retry_after_in(&lower)
                    {
                        e = e.hint("retry_after_ms", ms);
                    }
                    return Outcome::failure_with(e, output);
                }
                Outcome::success(output)
            }
            Err(Failure::NotSent(m)) => {
                sv.note_failure(name, &m, &cx.notes).await;
                unreachable(format!("`{name}`: {m}"))
            }
            Err(Failure::Closed(m)) => {
                sv.note_failure(name, &m, &cx.notes).await;
                Outcome::failure(
                    ToolError::new(ErrorCode::MCP_SERVER_UNREACHABLE, format!("`{name}`: {m}; the call may have run"))
                        .hint("server", name)
                        .hint("in_doubt", true),
                )
            }
            Err(Failure::Timeout(ms)) => {
                sv.note_failure(name, "a call timed out", &cx.notes).await;
                Outcome::failure(
                    ToolError::new(ErrorCode::TIMEOUT, format!("`{name}`.`{tool}` did not answer within {ms} ms"))
                        .hint("server", name)
                        .hint("timeout_ms", ms),
                )
            }
            Err(Failure::Rpc { code, message }) => {
                let c = match code {
                    -32602 => ErrorCode::INVALID_ARGS,
                    -32601 => ErrorCode::MCP_TOOL_NOT_FOUND,
                    _ if message.to_lowercase().contains("unknown tool") || message.to_lowercase().contains("tool not found") => {
                        ErrorCode::MCP_TOOL_NOT_FOUND
                    }
                    _ => ErrorCode::MCP_TOOL_ERROR,
                };
                Outcome::failure(
                    ToolError::new(c, format!("`{name}`.`{tool}`: JSON-RPC {code}: {message}")).hint("server", name).hint("rpc_code", code),
                )
            }
        }
    }
}

trait WithHint {
    fn with_hint(self, key: &str, v: Value) -> Self;
}

impl WithHint for Outcome {
    fn with_hint(mut self, key: &str, v: Value) -> Self {
        match &mut self.error {
            Some(e) => {
                e.hints.insert(key.to_owned(), v);
            }
            None => {
                if let Some(o) = self.output.as_object_mut() {
                    o.insert(key.to_owned(), v);
                }
            }
        }
        self
    }
}

fn arg<'a>(args: &'a Value, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or("")
}

#[async_trait]
impl Tool for McpTool {
    fn name(&self) -> &str {
        "mcp"
    }

    fn description(&self) -> &str {
        "Call a tool of an MCP server the job or config declares ([[mcp.servers]]), kept alive and healed by Mend"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "server": {"type": "string", "minLength": 1, "description": "the server's name ([[mcp.servers]])"},
                "tool": {"type": "string", "minLength": 1, "description": "the tool's name (tools/list)"},
                "arguments": {"type": "object", "description": "the tool's arguments (its input schema)"},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "time for the call, ms (default: the server's call_timeout)"}
            },
            "required": ["server", "tool"],
            "additionalProperties": false
        })
    }

    fn render(&self, args: &Value) -> String {
        let a = args.get("arguments").map(|a| format!(" {a}")).unwrap_or_default();
        format!("mcp {}.{}{a}", arg(args, "server"), arg(args, "tool"))
    }

    /// From the tool's annotations as listed ([`effect_of`]: a tool listed
    /// without annotations is destructive, per the spec's defaults). Before
    /// they are listed (the server could not be reached when the gate
    /// looked): it changes the world — and the call itself lists them
    /// before it sends anything, and refuses if they say more than that
    /// ([`McpTool::call`]).
    fn effect(&self, args: &Value) -> Effect {
        servers().effect(arg(args, "server"), arg(args, "tool")).unwrap_or(Effect::Mutating)
    }

    fn knows_effect(&self, args: &Value) -> bool {
        servers().listed(arg(args, "server"), arg(args, "tool")).is_some()
    }

    /// Lists the server's tools (starting it) when this tool's annotations
    /// are not known yet, so the gate reads them (issue 16, red team).
    async fn prepare(&self, args: &Value, ctx: &CallContext) {
        let (name, tool) = (arg(args, "server"), arg(args, "tool"));
        if servers().listed(name, tool).is_none()
            && let Some(server) = find(&ctx.mcp_servers, name)
        {
            let _ = servers().list(server, ctx).await;
        }
    }

    /// `readOnlyHint` or `idempotentHint` (issue 14: a call of unknown fate
    /// is sent again only then).
    fn idempotent(&self, args: &Value) -> bool {
        repeatable(&servers().annotations(arg(args, "server"), arg(args, "tool")))
    }

    /// The server's declared `backup` for a server that could not be
    /// reached (`MCP_SERVER_UNREACHABLE`): the same call on the backup. The
    /// engine's rules for a call of unknown fate still hold (a call that
    /// may have run is not sent to the backup unless it is safe to repeat).
    async fn repairs(&self, args: &Value, error: &ToolError, ctx: &CallContext) -> Vec<Repair> {
        // Arguments the tool's input schema rejects: the same call with
        // them fitted to the schema, when that is unambiguous.
        if error.code == ErrorCode::INVALID_ARGS {
            let (server, tool) = (arg(args, "server"), arg(args, "tool"));
            let Some(schema) = servers().input_schema(server, tool).await else { return Vec::new() };
            let given = args.get("arguments").and_then(Value::as_object).cloned().unwrap_or_default();
            return match fit_to_schema(&schema, &given) {
                Some((fitted, what)) => {
                    let mut to = args.clone();
                    to["arguments"] = Value::Object(fitted);
                    vec![Repair { args: to, reason: format!("the arguments fitted to `{tool}`'s input schema: {}", what.join("; ")) }]
                }
                None => Vec::new(),
            };
        }
        if error.code != ErrorCode::MCP_SERVER_UNREACHABLE {
            return Vec::new();
        }
        let name = arg(args, "server");
        let Some(backup) = find(&ctx.mcp_servers, name).and_then(|s| s.backup.clone()).filter(|b| b != name) else {
            return Vec::new();
        };
        let mut to = args.clone();
        if let Some(o) = to.as_object_mut() {
            o.insert("server".into(), json!(backup));
        }
        vec![Repair { args: to, reason: format!("`{backup}` is `{name}`'s declared backup") }]
    }

    /// Calls the tool. What the gate judged (the annotations known when it
    /// looked) bounds what is sent: a server whose `tools/list`, read at
    /// the call, says more (destructive where the gate saw less) is not
    /// sent the call (`BLOCKED`, for a person), and a call goes to a
    /// backup without a failure only when the backup's tool is no more
    /// dangerous and, if the primary's was safe to repeat, is too.
    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome {
        let t0 = Instant::now();
        let arguments = args.get("arguments").and_then(Value::as_object).cloned().unwrap_or_default();
        let timeout = args.get("timeout_ms").and_then(Value::as_u64);
        let (server, tool) = (arg(args, "server"), arg(args, "tool"));
        let judged = Judged {
            effect: servers().effect(server, tool).unwrap_or(Effect::Mutating),
            repeatable: servers().listed(server, tool).is_some_and(|a| repeatable(&a)),
        };
        self.call_on(server, tool, &arguments, timeout, judged, ctx).await.timed(crate::ms_since(t0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_text_says_how_long_to_wait() {
        assert_eq!(retry_after_in("rate limit exceeded: retry after 1 second"), Some(1_000));
        assert_eq!(retry_after_in("429 too many requests, retry-after: 5"), Some(5_000));
        assert_eq!(retry_after_in("slow down; try again in 250ms"), Some(250));
        assert_eq!(retry_after_in("quota exhausted, try again in 2 minutes"), Some(120_000));
        assert_eq!(retry_after_in("rate limited"), None);
    }

    #[test]
    fn arguments_are_fitted_to_the_schema_only_when_that_is_unambiguous() {
        let schema = json!({
            "type": "object",
            "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}, "tags": {"type": "array"}, "dry": {"type": "boolean", "default": false}},
            "required": ["file_path", "dry"],
            "additionalProperties": false
        });
        let given = json!({"filePath": "/x", "limit": "10", "tags": "a", "colour": "red"});
        let (fitted, what) = fit_to_schema(&schema, given.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(fitted), json!({"file_path": "/x", "limit": 10, "tags": ["a"], "dry": false}));
        assert_eq!(what.len(), 5, "{what:?}");
        // Already right: nothing to do. Two properties a key could mean: left alone.
        assert!(fit_to_schema(&schema, json!({"file_path": "/x", "dry": true}).as_object().unwrap()).is_none());
        let two = json!({"properties": {"a_b": {"type": "string"}, "ab": {"type": "string"}}});
        assert!(fit_to_schema(&two, json!({"A-B": "x"}).as_object().unwrap()).is_none());
        // "ten" is not a number: not converted.
        assert!(fit_to_schema(&schema, json!({"file_path": "/x", "dry": true, "limit": "ten"}).as_object().unwrap()).is_none());
    }

    #[test]
    fn a_tool_is_read_only_only_when_its_server_says_so() {
        assert_eq!(effect_of(&json!({"readOnlyHint": true})), Effect::ReadOnly);
        assert_eq!(effect_of(&json!({"destructiveHint": false})), Effect::Mutating);
        assert_eq!(effect_of(&json!({"destructiveHint": true})), Effect::Destructive);
        // The spec's defaults: not read-only, destructive.
        assert_eq!(effect_of(&Value::Null), Effect::Destructive);
        assert_eq!(effect_of(&json!({"idempotentHint": true})), Effect::Destructive);
        assert!(repeatable(&json!({"readOnlyHint": true})) && repeatable(&json!({"idempotentHint": true})));
        assert!(!repeatable(&Value::Null));
    }
}
