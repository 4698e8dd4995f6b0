//! `mend mcp`: the MCP servers the config (and a job) declare — their
//! tools, their states, and a person's hand on them (issue 16); and what
//! `mend tools --json` and `mend check` learn from them.
//!
//! Supervision is per process, so `disable` and `enable` do not speak to
//! this process's [`Servers`](mend_tools::mcp::Servers): they edit
//! [`mend_tools::mcp::DISABLED_FILE`] in the data directory, which every Mend process reads
//! at each connection (`Servers::load_disabled`, set in `main`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use clap::Subcommand;
use mend_core::config::Config;
use mend_core::job::{Job, JobError};
use mend_core::mcp::{McpServer, McpTransport};
use mend_core::redact::Redactor;
use mend_core::tool::{CallContext, Effect, Tool, ToolRegistry};
use mend_core::{Outcome, clock::now_ms};
use mend_tools::mcp::{ServerState, servers};
use serde_json::{Map, Value, json};

use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK};

/// Lines of a server's stderr shown when it cannot be reached.
const STDERR_SHOWN: usize = 5;

/// `mend mcp` subcommands.
#[derive(Subcommand)]
pub enum McpCmd {
    /// Each server's tools (starting it): name, read-only/destructive/idempotent, description; a server that cannot be reached says
    /// why, with its last stderr lines. Exit 1 only when every server asked about failed.
    Tools {
        /// Only this server.
        server: Option<String>,
        /// Also the servers this job file declares (over the config's, by name).
        #[arg(long, value_name = "FILE")]
        job: Option<PathBuf>,
        /// JSON: each server with its state and its tools as the server lists them (description, annotations, inputSchema).
        #[arg(long)]
        json: bool,
    },
    /// Each server's state: running (pid), down (why), disabled (until when, or by hand), never started. Each server not disabled
    /// is started to see (this process's view: supervision is per process).
    Status {
        /// Also the servers this job file declares.
        #[arg(long, value_name = "FILE")]
        job: Option<PathBuf>,
        /// Start nothing: only what is known without starting (disabled by hand, or never started).
        #[arg(long)]
        no_start: bool,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a server aside by hand, for every Mend process (runs, a daemon, the app), until `mend mcp enable`: a call to it goes to
    /// its backup, or fails with MCP_SERVER_UNREACHABLE.
    Disable {
        /// The server's name.
        name: String,
        /// Why, shown with every call it refuses.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Undo `mend mcp disable`.
    Enable {
        /// The server's name.
        name: String,
    },
    /// Mend as an MCP server (issue 17): the configured servers' tools, namespaced SERVER__TOOL, and Mend's own tools when
    /// `[gateway] own_tools` turns them on; every call healed, gated, journaled with the caller's name and learned. Speaks
    /// MCP on stdin/stdout (nothing else is printed there); with --http, streamable HTTP on `[gateway] http` (loopback).
    Serve {
        /// Streamable HTTP on `[gateway] http` (default 127.0.0.1:8765) instead of stdio.
        #[arg(long)]
        http: bool,
    },
    /// Checks each configured server: it starts, lists its tools and answers a ping; what is wrong, in words. Exit 1 when any
    /// server is not well.
    Doctor {
        /// Also the servers this job file declares.
        #[arg(long, value_name = "FILE")]
        job: Option<PathBuf>,
        /// JSON: each server with `ok`, `start_ms`, `tools`, `ping_ms` and `problems`.
        #[arg(long)]
        json: bool,
    },
}

/// `mend mcp`.
pub async fn mcp(home: &crate::run::Home, config: &Config, cmd: McpCmd) -> u8 {
    let data_dir = home.data_dir.as_path();
    match cmd {
        McpCmd::Serve { http } => serve(home, config, http).await,
        McpCmd::Doctor { job, json } => doctor(config, job.as_deref(), json).await,
        McpCmd::Tools { server, job, json } => tools(config, server.as_deref(), job.as_deref(), json).await,
        McpCmd::Status { job, no_start, json } => status(config, job.as_deref(), no_start, json).await,
        McpCmd::Disable { name, reason } => set_by_hand(data_dir, config, &name, Some(reason.unwrap_or_default())),
        McpCmd::Enable { name } => set_by_hand(data_dir, config, &name, None),
    }
}

/// The servers declared (the config's, with the job's over them) and the
/// context to start them in (the job's folder, else the current one).
fn declared(config: &Config, job: Option<&Path>, env: &[(String, String)]) -> Result<(Vec<McpServer>, CallContext), String> {
    let (list, base_dir) = match job {
        Some(p) => {
            let j = crate::run::load(p, config, env)?;
            (j.mcp_servers, j.base_dir)
        }
        None => (config.mcp_servers.clone(), std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
    };
    let cx = CallContext { base_dir, mcp_servers: Arc::new(list.clone()), env: Arc::new(env.to_vec()), ..CallContext::default() };
    Ok((list, cx))
}

/// The process's environment, the servers declared, and the context to start them in.
type Declared = (Vec<(String, String)>, Vec<McpServer>, CallContext);

/// The process's environment, the servers declared and their context, or
/// (a job file that does not load, said on stderr) the exit code.
fn declared_here(config: &Config, job: Option<&Path>) -> Result<Declared, u8> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    match declared(config, job, &env) {
        Ok((list, cx)) => Ok((env, list, cx)),
        Err(e) => {
            eprintln!("{e}");
            Err(EXIT_BAD_INPUT)
        }
    }
}

/// One server as seen after trying to list its tools.
struct Probe {
    name: String,
    transport: &'static str,
    state: ServerState,
    tools: Result<Vec<Value>, String>,
    stderr: Vec<String>,
}

impl Probe {
    fn json(&self) -> Value {
        let mut v = json!({"name": self.name, "transport": self.transport, "state": self.state});
        match &self.tools {
            Ok(t) => v["tools"] = json!(t),
            Err(e) => {
                v["error"] = json!(e);
                v["stderr"] = json!(self.stderr);
            }
        }
        v
    }
}

async fn probe(server: &McpServer, cx: &CallContext, redactor: &Redactor) -> Probe {
    let sv = servers();
    let tools = sv.list(server, cx).await.map_err(|e| redactor.text(&e));
    // Its last words, when it could not be reached.
    let stderr = if tools.is_err() { sv.stderr(&server.name).await } else { Vec::new() };
    let stderr = stderr[stderr.len().saturating_sub(STDERR_SHOWN)..].iter().map(|l| redactor.text(l)).collect();
    let transport = match server.transport {
        McpTransport::Stdio { .. } => "stdio",
        McpTransport::Http { .. } => "http",
    };
    let state = match sv.state(&server.name).await {
        ServerState::Down { reason } => ServerState::Down { reason: redactor.text(&reason) },
        other => other,
    };
    Probe { name: server.name.clone(), transport, state, tools, stderr }
}

fn redactor(config: &Config, env: &[(String, String)]) -> Redactor {
    Redactor::from_env(config.secrets.iter().map(String::as_str), env)
}

/// A state in words.
fn state_text(s: &ServerState) -> String {
    match s {
        ServerState::NeverStarted => "never started".into(),
        ServerState::Running { pid: Some(pid) } => format!("running (pid {pid})"),
        ServerState::Running { pid: None } => "running".into(),
        ServerState::Down { reason } => format!("down: {reason}"),
        ServerState::Disabled { until_ms: None, reason } => format!("disabled by hand: {reason}"),
        ServerState::Disabled { until_ms: Some(t), reason } => {
            format!("disabled until {} (in {} s): {reason}", crate::query::fmt_ts(*t), (t - now_ms()).max(0) / 1000)
        }
    }
}

/// `read-only`, `destructive`, `idempotent` from a tool's annotations (MCP
/// spec `ToolAnnotations`), joined by commas; `-` when it says none.
fn hints(tool: &Value) -> String {
    let a = &tool["annotations"];
    let on = |k: &str| a.get(k).and_then(Value::as_bool) == Some(true);
    let mut out = Vec::new();
    if on("readOnlyHint") {
        out.push("read-only");
    }
    if on("destructiveHint") {
        out.push("destructive");
    }
    if on("idempotentHint") {
        out.push("idempotent");
    }
    if out.is_empty() { "-".into() } else { out.join(",") }
}

fn first_line(s: &str, max: usize) -> String {
    let l = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if l.chars().count() > max { format!("{}…", l.chars().take(max - 1).collect::<String>()) } else { l.to_owned() }
}

/// `mend mcp tools [SERVER] [--job FILE] [--json]`.
async fn tools(config: &Config, only: Option<&str>, job: Option<&Path>, json: bool) -> u8 {
    let (env, list, cx) = match declared_here(config, job) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let chosen: Vec<&McpServer> = list.iter().filter(|s| only.is_none_or(|n| n == s.name)).collect();
    if chosen.is_empty() {
        match only {
            Some(n) => eprintln!("mend: no MCP server is named `{n}` (declared: {})", names(&list)),
            None => eprintln!(
                "mend: no MCP servers are declared ([[mcp.servers]] in the config{})",
                if job.is_some() { " or the job" } else { "" }
            ),
        }
        return if only.is_some() { EXIT_BAD_INPUT } else { EXIT_OK };
    }
    let r = redactor(config, &env);
    let mut probes = Vec::new();
    for s in chosen {
        probes.push(probe(s, &cx, &r).await);
    }
    let mut out = std::io::stdout().lock();
    if json {
        let all: Vec<Value> = probes.iter().map(Probe::json).collect();
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        for (i, p) in probes.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out);
            }
            let _ = writeln!(out, "{}  {}", p.name, state_text(&p.state));
            match &p.tools {
                Ok(tools) => {
                    let rows: Vec<(&str, String, String)> = tools
                        .iter()
                        .map(|t| {
                            let d = t["description"].as_str().unwrap_or("");
                            (t["name"].as_str().unwrap_or("?"), hints(t), first_line(d, 100))
                        })
                        .collect();
                    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
                    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
                    for (n, h, d) in rows {
                        let _ = writeln!(out, "  {n:<w0$}  {h:<w1$}  {d}");
                    }
                }
                Err(e) => {
                    // A down or disabled state already says why.
                    if !matches!(p.state, ServerState::Down { .. } | ServerState::Disabled { .. }) {
                        let _ = writeln!(out, "  cannot be reached: {e}");
                    }
                    for l in &p.stderr {
                        let _ = writeln!(out, "  stderr| {l}");
                    }
                }
            }
        }
    }
    if probes.iter().all(|p| p.tools.is_err()) { EXIT_FAILED } else { EXIT_OK }
}

fn names(list: &[McpServer]) -> String {
    if list.is_empty() { "none".into() } else { list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ") }
}

/// `mend mcp status [--job FILE]`.
async fn status(config: &Config, job: Option<&Path>, no_start: bool, json: bool) -> u8 {
    let (env, list, cx) = match declared_here(config, job) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let r = redactor(config, &env);
    let mut rows = Vec::new();
    for s in &list {
        let state = servers().state(&s.name).await;
        let p = if no_start || matches!(state, ServerState::Disabled { .. }) {
            Probe { name: s.name.clone(), transport: "", state, tools: Err(String::new()), stderr: vec![] }
        } else {
            probe(s, &cx, &r).await
        };
        rows.push(p);
    }
    let mut out = std::io::stdout().lock();
    if json {
        let all: Vec<Value> = rows
            .iter()
            .map(|p| {
                let mut v = json!({"name": p.name, "state": p.state});
                if !p.stderr.is_empty() {
                    v["stderr"] = json!(p.stderr);
                }
                v
            })
            .collect();
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else if rows.is_empty() {
        eprintln!("mend: no MCP servers are declared ([[mcp.servers]] in the config{})", if job.is_some() { " or the job" } else { "" });
    } else {
        let w = rows.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &rows {
            let _ = writeln!(out, "{:<w$}  {}", p.name, state_text(&p.state));
            for l in &p.stderr {
                let _ = writeln!(out, "{:<w$}  stderr| {l}", "");
            }
        }
    }
    EXIT_OK
}

/// `mend mcp disable NAME` (`Some(reason)`) and `mend mcp enable NAME` (`None`).
fn set_by_hand(data_dir: &Path, config: &Config, name: &str, reason: Option<String>) -> u8 {
    let disable = reason.is_some();
    let by = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "someone".into());
    let mut was = false;
    let r = mend_tools::mcp::edit_disabled(data_dir, |all| {
        was = all.contains_key(name);
        match &reason {
            Some(reason) => {
                all.insert(name.to_owned(), json!({"reason": reason, "by": by, "since_ms": now_ms()}));
                true
            }
            None => all.remove(name).is_some(),
        }
    });
    if let Err(e) = r {
        eprintln!("mend: {e}");
        return EXIT_INTERNAL;
    }
    if !config.mcp_servers.iter().any(|s| s.name == name) {
        eprintln!("note: the config declares no MCP server `{name}` (a job may)");
    }
    match (disable, was) {
        (true, _) => eprintln!("Disabled `{name}` for every Mend process until `mend mcp enable {name}`."),
        (false, true) => eprintln!("Enabled `{name}` again."),
        (false, false) => eprintln!("`{name}` was not disabled by hand: nothing to do."),
    }
    EXIT_OK
}

/// Every declared server with its state and tools (or why not), for
/// `mend tools --json`: name → the object `mend mcp tools --json` prints.
pub async fn tools_json(config: &Config) -> Map<String, Value> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let Ok((list, cx)) = declared(config, None, &env) else { return Map::new() };
    let r = redactor(config, &env);
    let mut out = Map::new();
    for s in &list {
        let mut v = probe(s, &cx, &r).await.json();
        if let Some(o) = v.as_object_mut() {
            o.remove("name");
        }
        out.insert(s.name.clone(), v);
    }
    out
}

/// What `mend check` found in a job's `mcp` calls.
#[derive(Default)]
pub struct Checked {
    /// Problems (an unknown server or tool, arguments that do not fit the tool's input schema), each with its place.
    pub errors: Vec<JobError>,
    /// Servers that could not be reached, so their calls were not checked.
    pub warnings: Vec<String>,
}

/// An MCP tool's input schema as a registry entry, so its arguments are
/// checked the way the engine checks every call: the same validator, with
/// values masked in the messages (a secret in an argument never reaches
/// the terminal). It is never called.
struct InputSchema(Value);

#[async_trait]
impl Tool for InputSchema {
    fn name(&self) -> &str {
        "arguments"
    }
    fn description(&self) -> &str {
        "an MCP tool's input schema"
    }
    fn schema(&self) -> Value {
        self.0.clone()
    }
    fn render(&self, _: &Value) -> String {
        String::new()
    }
    fn effect(&self, _: &Value) -> Effect {
        Effect::ReadOnly
    }
    async fn call(&self, _: &Value, _: &CallContext) -> Outcome {
        Outcome::success(Value::Null)
    }
}

/// Checks each `mcp` call of a job (its own, alternatives, verify): the
/// server is declared; when it can be reached, the tool exists and
/// `arguments` fit its input schema.
pub async fn check_job(job: &Job, file: &str, config: &Config, env: &[(String, String)]) -> Checked {
    let mut found = Checked::default();
    let cx = CallContext {
        base_dir: job.base_dir.clone(),
        mcp_servers: Arc::new(job.mcp_servers.clone()),
        env: Arc::new(env.to_vec()),
        ..CallContext::default()
    };
    let r = redactor(config, env);
    // One start per server: a second failing start would count towards its circuit breaker.
    let mut listed: HashMap<String, Result<Vec<Value>, String>> = HashMap::new();
    for (i, step) in job.steps.iter().enumerate() {
        let mut calls = vec![(format!("steps[{i}]"), &step.call)];
        calls.extend(step.alternatives.iter().enumerate().map(|(j, a)| (format!("steps[{i}].alternatives[{j}]"), a)));
        calls.extend(step.verify.iter().map(|v| (format!("steps[{i}].verify"), v)));
        for (field, call) in calls.into_iter().filter(|(_, c)| c.tool == "mcp") {
            let err = |f: String, m: String| JobError { file: file.to_owned(), line: call.line, column: 1, field: f, message: m };
            let args = mend_core::job::expand(&call.args, env, &job.base_dir);
            let (Some(name), Some(tool)) = (args["server"].as_str(), args["tool"].as_str()) else { continue };
            let Some(server) = job.mcp_servers.iter().find(|s| s.name == name) else {
                let m = format!("no MCP server is named `{name}` (declared: {})", names(&job.mcp_servers));
                found.errors.push(err(format!("{field}.args.server"), m));
                continue;
            };
            if !listed.contains_key(name) {
                let tools = servers().list(server, &cx).await.map_err(|e| r.text(&e));
                listed.insert(name.to_owned(), tools);
            }
            let tools = match &listed[name] {
                Ok(t) => t,
                Err(why) => {
                    let at = if call.line > 0 { format!("{file}:{}", call.line) } else { file.to_owned() };
                    found.warnings.push(format!(
                        "{at}: {field}: warning: MCP server `{name}` cannot be reached, so `{tool}` and its arguments were not checked: {why}"
                    ));
                    continue;
                }
            };
            let Some(t) = tools.iter().find(|t| t["name"] == tool) else {
                let have: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
                found
                    .errors
                    .push(err(format!("{field}.args.tool"), format!("`{name}` has no tool `{tool}` (it has: {})", have.join(", "))));
                continue;
            };
            let schema = t.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"}));
            let mut reg = ToolRegistry::new();
            if let Err(e) = reg.register(Arc::new(InputSchema(schema))) {
                found.warnings.push(format!(
                    "{file}: {field}: warning: `{name}`.`{tool}`'s input schema cannot be read, so its arguments were not checked: {e}"
                ));
                continue;
            }
            let arguments = args.get("arguments").cloned().unwrap_or_else(|| json!({}));
            if let Err(problems) = reg.validate("arguments", &arguments) {
                for p in problems {
                    let f = format!("{field}.args.arguments{}", p.pointer.replace('/', "."));
                    found.errors.push(err(f, format!("`{name}`.`{tool}`'s input schema: {}", p.message)));
                }
            }
        }
    }
    found
}

/// `mend mcp serve`: the gateway over stdio (or streamable HTTP) until the
/// host disconnects. Logs go to stderr; stdout is the MCP channel.
async fn serve(home: &crate::run::Home, config: &Config, http: bool) -> u8 {
    let agent = match home.agent().and_then(|a| a.with_llm(&config.llm)) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("mend mcp serve: {e}");
            return EXIT_INTERNAL;
        }
    };
    let _ = agent.sweep().await;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let gateway = Arc::new(mend_gateway::Gateway::new(agent.clone(), config.clone(), env, base));
    let served = if http {
        eprintln!("mend mcp serve: streamable HTTP on http://{}/mcp", config.gateway.http);
        mend_gateway::server::serve_http(gateway, config.gateway.http).await
    } else {
        mend_gateway::server::serve_stdio(gateway).await
    };
    agent.close();
    match served {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("mend mcp serve: {e}");
            EXIT_FAILED
        }
    }
}

/// One server as `mend mcp doctor` found it.
#[derive(serde::Serialize)]
struct Checkup {
    name: String,
    transport: &'static str,
    ok: bool,
    start_ms: Option<u64>,
    tools: Option<usize>,
    ping_ms: Option<u64>,
    problems: Vec<String>,
    stderr: Vec<String>,
}

/// `mend mcp doctor`: each server started, listed and pinged, with what is
/// wrong in words. Exit 1 when any server is not well; 2 for a bad job file.
async fn doctor(config: &Config, job: Option<&Path>, json: bool) -> u8 {
    let (env, list, cx) = match declared_here(config, job) {
        Ok(d) => d,
        Err(code) => return code,
    };
    if list.is_empty() {
        println!("No MCP servers are declared ([[mcp.servers]] in the config or a job).");
        return EXIT_OK;
    }
    let mut all = Vec::new();
    for server in &list {
        let t0 = std::time::Instant::now();
        let mut c = Checkup {
            name: server.name.clone(),
            transport: match server.transport {
                McpTransport::Stdio { .. } => "stdio",
                McpTransport::Http { .. } => "http",
            },
            ok: false,
            start_ms: None,
            tools: None,
            ping_ms: None,
            problems: Vec::new(),
            stderr: Vec::new(),
        };
        match servers().list(server, &cx).await {
            Ok(tools) => {
                c.start_ms = Some(t0.elapsed().as_millis() as u64);
                c.tools = Some(tools.len());
                if tools.is_empty() {
                    c.problems.push("it lists no tools".into());
                }
                let bare: Vec<&str> = tools
                    .iter()
                    .filter(|t| t.get("annotations").is_none_or(Value::is_null))
                    .filter_map(|t| t.get("name")?.as_str())
                    .collect();
                if !bare.is_empty() {
                    c.problems.push(format!(
                        "{} tool(s) have no annotations, so every call of them is asked about (the MCP spec's defaults): {}",
                        bare.len(),
                        bare.join(", ")
                    ));
                }
            }
            Err(why) => c.problems.push(format!("it does not start or list its tools: {why}")),
        }
        if c.tools.is_some() {
            match servers().ping(server, &cx).await {
                Ok(ms) => c.ping_ms = Some(ms),
                Err(why) => c.problems.push(format!("it does not answer a ping: {why}")),
            }
        }
        if let Some(b) = &server.backup
            && !list.iter().any(|s| &s.name == b)
        {
            c.problems.push(format!("its backup `{b}` is not declared"));
        }
        // Only a failure to start, list or answer makes it unwell; missing
        // annotations are advice.
        c.ok = c.tools.is_some() && c.ping_ms.is_some();
        if !c.ok {
            let redactor = Redactor::from_env(config.secrets.iter().map(String::as_str), &env);
            let lines = servers().stderr(&server.name).await;
            c.stderr = lines[lines.len().saturating_sub(STDERR_SHOWN)..].iter().map(|l| redactor.text(l)).collect();
        }
        all.push(c);
    }
    let well = all.iter().all(|c| c.ok);
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        let mut out = std::io::stdout().lock();
        for c in &all {
            let head = if c.ok {
                format!(
                    "ok    {} ({}): started and listed {} tool(s) in {} ms, ping {} ms",
                    c.name,
                    c.transport,
                    c.tools.unwrap_or(0),
                    c.start_ms.unwrap_or(0),
                    c.ping_ms.unwrap_or(0)
                )
            } else {
                format!("FAIL  {} ({})", c.name, c.transport)
            };
            let _ = writeln!(out, "{head}");
            for p in &c.problems {
                let _ = writeln!(out, "      - {p}");
            }
            for l in &c.stderr {
                let _ = writeln!(out, "      stderr: {l}");
            }
        }
    }
    if well { EXIT_OK } else { EXIT_FAILED }
}
