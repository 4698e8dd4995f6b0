//! `mend-fault-mcp`: an MCP server over stdio that fails the way real MCP
//! servers fail, on purpose and on cue, for the tests of Mend's `mcp` tool
//! and of its server supervision. Built on rmcp's server side.
//!
//! # Tools
//!
//! | tool | arguments | annotations | answer |
//! | --- | --- | --- | --- |
//! | `echo` | `text: string` | read-only, idempotent | the text |
//! | `add` | `a: integer, b: integer` | read-only, idempotent | the sum, in decimal |
//! | `place_order` | `sku: string` | not read-only, not idempotent, not destructive | `order ord-NAME-K placed for SKU`; appends the line `SKU` to the `--state` file |
//! | `drop_table` | `name: string` | destructive | `table NAME dropped` (no side effect) |
//!
//! Every tool is annotated `openWorldHint: false`. Every result, success or
//! `isError`, carries `structuredContent: {"server": NAME, "call": N}`: the
//! `--name` of the process that answered (a primary or its backup) and the
//! call's number. Arguments of the wrong shape (a string for `add`'s `a`, a
//! missing field) are refused with the JSON-RPC error -32602 (invalid
//! params), as is an unknown tool.
//!
//! # Faults
//!
//! Calls are numbered from 1 in arrival order, over all tools (`#N`).
//!
//! - `--crash-after N`: the process exits with code 1 right after the answer
//!   to call #N is written; a later call is neither counted nor answered,
//!   and sees the transport closed.
//! - `--die-on-call TOOL` (repeatable): on receiving a call of TOOL, the
//!   process does the call's side effect (`place_order` appends its line) and
//!   exits with code 1 before answering: the request was sent, its fate is
//!   unknown to the client.
//! - `--hang-on TOOL` (repeatable): calls of TOOL are never answered; other
//!   calls still are.
//! - `--once`: `--die-on-call` and `--hang-on` hit only the first call of
//!   their tool (with `--state`, the first across restarts); later calls are
//!   served.
//! - `--rate-limit N`: calls #1..=N answer `isError: true` with the text
//!   `rate limit exceeded: retry after 1 second`, without running the tool.
//! - `--tool-error TOOL` (repeatable): calls of TOOL answer `isError: true`
//!   with `permission denied: /secret`, without running the tool.
//! - `--invalid-args-as-result`: arguments of the wrong shape answer
//!   `isError: true` with `failed to deserialize parameters: …` (what rmcp's
//!   tool router does, and what the 2025-11-25 spec recommends) instead of
//!   the JSON-RPC error -32602.
//! - `--slow-start MS`: sleeps MS milliseconds before serving `initialize`.
//! - `--fail-start`: prints `fatal: cannot bind` to stderr and exits with
//!   code 2 at once.
//! - `--fail-starts N`: the same for its first N starts (counted as
//!   `failed-start NAME` lines in `FILE.log`; needs `--state`): a server
//!   that comes up late.
//! - `--list-changes`: also lists `toggle`, whose calls add or remove the
//!   tool `extra` (an echo) and send `notifications/tools/list_changed`.
//! - `--annotate TOOL=KIND`: lists TOOL with other annotations (`read_only`,
//!   `idempotent`, `mutating`, `destructive`, or `none` for no annotations):
//!   a server that says something else about a tool than another one.
//! - `--name NAME`: the `serverInfo` name, also in every result (default
//!   `mend-fault-mcp`).
//! - `--state FILE`: `place_order` appends to FILE, one line per order, so a
//!   test counts side effects. With it the process also appends to
//!   `FILE.log` a line `start NAME PID` when it starts and `call TOOL` for
//!   each call received, and counts calls from that log: call numbers,
//!   `--crash-after`, `--rate-limit` and `--once` run across restarts (a
//!   server that crashed after call #2 is served again from call #3 on).
//!   Without `--state`, each process counts from 1.
//!
//! On stderr, the process writes `start NAME` when it starts serving and
//! `call TOOL #N` for each call received, so stderr capture can be tested
//! (and `hanging on TOOL #N`, `dying on TOOL #N`, `crashing after the
//! answer`, `stdin closed` when those happen). It exits with code 0 as soon
//! as the client closes stdin, even with calls hung.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, RequestId, ServerCapabilities, ServerConfig, ServerJsonRpcMessage, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The command line; see the module doc for what each fault does.
#[derive(Debug, Parser)]
#[command(name = "mend-fault-mcp", version, about = "A scripted, faulty MCP server over stdio (for tests).")]
struct Flags {
    /// The serverInfo name, also in every result.
    #[arg(long, default_value = "mend-fault-mcp")]
    name: String,
    /// place_order appends here; FILE.log keeps starts and calls across restarts.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Exit with code 1 right after answering call #N.
    #[arg(long, value_name = "N")]
    crash_after: Option<u64>,
    /// Exit with code 1 on receiving a call of TOOL (after its side effect, before answering).
    #[arg(long, value_name = "TOOL")]
    die_on_call: Vec<String>,
    /// Never answer calls of TOOL.
    #[arg(long, value_name = "TOOL")]
    hang_on: Vec<String>,
    /// --die-on-call and --hang-on hit only the first call of their tool.
    #[arg(long)]
    once: bool,
    /// Calls #1..=N answer isError "rate limit exceeded: retry after 1 second".
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate_limit: u64,
    /// Calls of TOOL answer isError "permission denied: /secret".
    #[arg(long, value_name = "TOOL")]
    tool_error: Vec<String>,
    /// Answer bad arguments with an isError result instead of JSON-RPC -32602.
    #[arg(long)]
    invalid_args_as_result: bool,
    /// Sleep MS milliseconds before serving initialize.
    #[arg(long, value_name = "MS")]
    slow_start: Option<u64>,
    /// Print "fatal: cannot bind" and exit with code 2 at once.
    #[arg(long)]
    fail_start: bool,
    /// Like --fail-start for the first N starts (counted in FILE.log; needs --state).
    #[arg(long, value_name = "N", default_value_t = 0)]
    fail_starts: u64,
    /// Annotate TOOL as KIND instead (read_only, idempotent, mutating, destructive, none): how a server that
    /// says something else about a tool looks (repeatable).
    #[arg(long, value_name = "TOOL=KIND")]
    annotate: Vec<String>,
    /// Also list `toggle`: each call adds or removes the tool `extra` (an echo) and sends
    /// `notifications/tools/list_changed`.
    #[arg(long)]
    list_changes: bool,
}

#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    /// The first term.
    a: i64,
    /// The second term.
    b: i64,
}

#[derive(Deserialize, JsonSchema)]
struct OrderArgs {
    /// The stock-keeping unit to order.
    sku: String,
}

#[derive(Deserialize, JsonSchema)]
struct TableArgs {
    /// The table to drop.
    name: String,
}

/// The four tools, with their input schemas and MCP annotations
/// (`--annotate` overrides them).
fn tools(annotate: &[String]) -> Vec<Tool> {
    let hints = |read_only, destructive, idempotent| {
        ToolAnnotations::new().read_only(read_only).destructive(destructive).idempotent(idempotent).open_world(false)
    };
    let mut all = vec![
        Tool::new("echo", "Returns the text.", JsonObject::new()).with_input_schema::<EchoArgs>().annotate(hints(true, false, true)),
        Tool::new("add", "Returns the sum of two integers.", JsonObject::new())
            .with_input_schema::<AddArgs>()
            .annotate(hints(true, false, true)),
        Tool::new("place_order", "Places an order (a side effect that must not run twice); returns its id.", JsonObject::new())
            .with_input_schema::<OrderArgs>()
            .annotate(hints(false, false, false)),
        Tool::new("drop_table", "Drops a table.", JsonObject::new()).with_input_schema::<TableArgs>().annotate(hints(false, true, false)),
    ];
    for a in annotate {
        let Some((name, kind)) = a.split_once('=') else { continue };
        let Some(t) = all.iter_mut().find(|t| t.name == name) else { continue };
        t.annotations = match kind {
            "read_only" => Some(hints(true, false, true)),
            "idempotent" => Some(hints(false, false, true)),
            "mutating" => Some(hints(false, false, false)),
            "destructive" => Some(hints(false, true, false)),
            _ => None,
        };
    }
    all
}

/// Why a call got no answer from its tool.
enum Refusal {
    /// The arguments do not fit the tool's schema.
    BadArgs(String),
    /// No such tool.
    UnknownTool(String),
    /// The tool ran and failed.
    Failed(String),
}

/// Calls received: in all and per tool.
#[derive(Default)]
struct Calls {
    total: u64,
    per_tool: HashMap<String, u64>,
}

struct FaultServer {
    flags: Flags,
    // A std mutex: held to bump a counter and append a line, never across an await.
    calls: Mutex<Calls>,
    // The call whose answer is the last this process writes (--crash-after); shared with the transport.
    last_answer: Arc<Mutex<Option<RequestId>>>,
    // Whether `extra` is listed (--list-changes).
    extra: std::sync::atomic::AtomicBool,
}

impl FaultServer {
    fn new(flags: Flags) -> anyhow::Result<Self> {
        let mut calls = Calls::default();
        if let Some(log) = flags.state.as_deref().map(log_path) {
            match std::fs::read_to_string(&log) {
                Ok(text) => {
                    for tool in text.lines().filter_map(|line| line.strip_prefix("call ")) {
                        calls.total += 1;
                        *calls.per_tool.entry(tool.to_owned()).or_default() += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", log.display())),
            }
            append(&log, &format!("start {} {}", flags.name, std::process::id()))?;
        }
        Ok(FaultServer { flags, calls: Mutex::new(calls), last_answer: Arc::default(), extra: Default::default() })
    }

    /// Counts a call received: its number over all tools and over calls of `tool`. `None` when this
    /// process already has its last answer to write (`--crash-after`): such a call is never answered.
    fn admit(&self, tool: &str, id: &RequestId) -> anyhow::Result<Option<(u64, u64)>> {
        let mut calls = self.calls.lock().expect("calls lock");
        let mut last_answer = self.last_answer.lock().expect("last answer lock");
        if last_answer.is_some() {
            return Ok(None);
        }
        calls.total += 1;
        let total = calls.total;
        let of_tool = calls.per_tool.entry(tool.to_owned()).or_default();
        *of_tool += 1;
        let counted = (total, *of_tool);
        if self.flags.crash_after == Some(total) {
            *last_answer = Some(id.clone());
        }
        if let Some(state) = &self.flags.state {
            append(&log_path(state), &format!("call {tool}"))?;
        }
        Ok(Some(counted))
    }

    fn result(&self, n: u64, text: String, is_error: bool) -> CallToolResponse {
        let content = vec![ContentBlock::text(text)];
        let mut result = if is_error { CallToolResult::error(content) } else { CallToolResult::success(content) };
        result.structured_content = Some(serde_json::json!({ "server": self.flags.name, "call": n }));
        result.into()
    }

    /// Runs a tool; `place_order` appends its line before anything can go wrong after it.
    /// The tools as listed now: the four, and with --list-changes `toggle`
    /// (and `extra` while toggled on).
    fn listed(&self) -> Vec<Tool> {
        let mut all = tools(&self.flags.annotate);
        if self.flags.list_changes {
            let hints = ToolAnnotations::new().read_only(false).destructive(false).idempotent(false).open_world(false);
            let mut object = JsonObject::new();
            object.insert("type".into(), serde_json::json!("object"));
            all.push(Tool::new("toggle", "Adds or removes the tool `extra`.", object).annotate(hints));
            if self.extra.load(std::sync::atomic::Ordering::SeqCst) {
                let ro = ToolAnnotations::new().read_only(true).destructive(false).idempotent(true).open_world(false);
                all.push(Tool::new("extra", "Returns the text.", JsonObject::new()).with_input_schema::<EchoArgs>().annotate(ro));
            }
        }
        all
    }

    fn run(&self, request: &CallToolRequestParams) -> Result<String, Refusal> {
        match &*request.name {
            "echo" => Ok(parse::<EchoArgs>(request)?.text),
            "extra" if self.extra.load(std::sync::atomic::Ordering::SeqCst) => Ok(parse::<EchoArgs>(request)?.text),
            "toggle" if self.flags.list_changes => {
                let on = !self.extra.fetch_xor(true, std::sync::atomic::Ordering::SeqCst);
                Ok(format!("extra {}", if on { "added" } else { "removed" }))
            }
            "add" => {
                let AddArgs { a, b } = parse(request)?;
                a.checked_add(b).map(|sum| sum.to_string()).ok_or_else(|| Refusal::Failed("integer overflow".to_owned()))
            }
            "place_order" => {
                let OrderArgs { sku } = parse(request)?;
                self.place_order(&sku).map_err(|e| Refusal::Failed(format!("cannot record the order: {e:#}")))
            }
            "drop_table" => Ok(format!("table {} dropped", parse::<TableArgs>(request)?.name)),
            other => Err(Refusal::UnknownTool(other.to_owned())),
        }
    }

    fn place_order(&self, sku: &str) -> anyhow::Result<String> {
        let number = match &self.flags.state {
            Some(state) => {
                append(state, sku)?;
                std::fs::read_to_string(state)?.lines().count() as u64
            }
            None => self.calls.lock().expect("calls lock").per_tool.get("place_order").copied().unwrap_or(0),
        };
        Ok(format!("order ord-{}-{number} placed for {sku}", self.flags.name))
    }
}

impl ServerHandler for FaultServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new(self.flags.name.clone(), env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.listed()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.listed().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.to_string();
        let admitted = self.admit(&tool, &context.id).map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let Some((n, of_tool)) = admitted else {
            // The process exits once call #N is answered; this call came after it.
            return std::future::pending().await;
        };
        eprintln!("call {tool} #{n}");
        let struck = !self.flags.once || of_tool == 1;
        if struck && self.flags.hang_on.contains(&tool) {
            eprintln!("hanging on {tool} #{n}");
            std::future::pending::<()>().await;
        }
        if struck && self.flags.die_on_call.contains(&tool) {
            if tool == "place_order" {
                let _ = self.run(&request);
            }
            eprintln!("dying on {tool} #{n}");
            std::process::exit(1);
        }
        if n <= self.flags.rate_limit {
            return Ok(self.result(n, "rate limit exceeded: retry after 1 second".to_owned(), true));
        }
        if self.flags.tool_error.contains(&tool) {
            return Ok(self.result(n, "permission denied: /secret".to_owned(), true));
        }
        let toggled = tool == "toggle";
        match self.run(&request) {
            Ok(text) if toggled => {
                let _ = context.peer.notify_tool_list_changed().await;
                Ok(self.result(n, text, false))
            }
            Ok(text) => Ok(self.result(n, text, false)),
            Err(Refusal::Failed(text)) => Ok(self.result(n, text, true)),
            Err(Refusal::BadArgs(text)) if self.flags.invalid_args_as_result => Ok(self.result(n, text, true)),
            Err(Refusal::BadArgs(text)) => Err(ErrorData::invalid_params(text, None)),
            Err(Refusal::UnknownTool(name)) => Err(ErrorData::invalid_params(format!("tool not found: {name}"), None)),
        }
    }
}

/// A tool's arguments, or why they do not fit (rmcp's wording).
fn parse<T: DeserializeOwned>(request: &CallToolRequestParams) -> Result<T, Refusal> {
    let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
    serde_json::from_value(arguments).map_err(|e| Refusal::BadArgs(format!("failed to deserialize parameters: {e}")))
}

fn log_path(state: &Path) -> PathBuf {
    let mut log = state.as_os_str().to_owned();
    log.push(".log");
    log.into()
}

fn append(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))
}

/// A transport that ends the process once the answer to one chosen request
/// has been written (and flushed) — `--crash-after`'s "after answering" — and
/// at once when the client closes stdin: rmcp would otherwise wait up to 5 s
/// for the answers of hung calls before exiting.
struct Exits<T> {
    inner: T,
    last_answer: Arc<Mutex<Option<RequestId>>>,
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for Exits<T> {
    type Error = T::Error;

    fn send(&mut self, item: TxJsonRpcMessage<RoleServer>) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let id = match &item {
            ServerJsonRpcMessage::Response(response) => Some(&response.id),
            ServerJsonRpcMessage::Error(error) => error.id.as_ref(),
            _ => None,
        };
        let last = id.is_some() && self.last_answer.lock().expect("last answer lock").as_ref() == id;
        let sent = self.inner.send(item);
        async move {
            let result = sent.await;
            if last {
                eprintln!("crashing after the answer");
                std::process::exit(1);
            }
            result
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        let next = self.inner.receive();
        async move {
            let message = next.await;
            if message.is_none() {
                eprintln!("stdin closed");
                std::process::exit(0);
            }
            message
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let failed_before = || -> u64 {
        let log = flags.state.as_deref().map(log_path);
        let text = log.and_then(|l| std::fs::read_to_string(l).ok()).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("failed-start")).count() as u64
    };
    if flags.fail_start || (flags.fail_starts > 0 && failed_before() < flags.fail_starts) {
        if let Some(log) = flags.state.as_deref().map(log_path) {
            append(&log, &format!("failed-start {}", flags.name))?;
        }
        eprintln!("fatal: cannot bind");
        std::process::exit(2);
    }
    if let Some(ms) = flags.slow_start {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let server = FaultServer::new(flags)?;
    eprintln!("start {}", server.flags.name);
    let (read, write) = rmcp::transport::stdio_pipes();
    let transport = Exits { inner: AsyncRwTransport::new_server(read, write), last_answer: server.last_answer.clone() };
    let running = server.serve(transport).await.context("serving initialize")?;
    running.waiting().await.context("serving")?;
    Ok(())
}
