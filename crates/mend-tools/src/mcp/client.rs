//! The only place that speaks rmcp (issue 16: its API churn stays here).
//! A connection to one MCP server, over stdio (the child in its own process
//! group, its stderr read into a bounded ring) or streamable HTTP (rmcp's
//! reqwest client, headers filled from the environment): `initialize`,
//! `tools/list` and `tools/call` with their results as JSON (the MCP spec's
//! shapes), and each failure told apart by whether the request left.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mend_core::mcp::{McpServer, McpTransport};
use reqwest_mcp::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, JsonRpcMessage};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use rmcp::transport::{DynamicTransportError, StreamableHttpClientTransport, TokioChildProcess};
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

/// What Mend says it is to a server (`clientInfo`), and what it hears
/// from it besides answers: `notifications/tools/list_changed` makes
/// [`super::Servers`] read the tools again and tells who listens
/// ([`super::tools_changed`]; the gateway forwards it to its callers).
pub struct Listener {
    server: String,
}

impl Listener {
    fn new(server: &str) -> Self {
        Listener { server: server.to_owned() }
    }
}

impl rmcp::ClientHandler for Listener {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        rmcp::model::ClientConfig::new(
            rmcp::model::ClientCapabilities::default(),
            rmcp::model::Implementation::new("mend", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: rmcp::service::NotificationContext<RoleClient>) {
        super::servers().tools_changed(&self.server).await;
    }
}

/// A live connection.
pub struct Conn {
    service: RunningService<RoleClient, Listener>,
    /// The server's process; `None` for streamable HTTP.
    pub pid: Option<u32>,
    /// Its process group (led by its watcher, `guard`; the server's own pid
    /// when no watcher could be started); `None` for streamable HTTP.
    pub pgid: Option<u32>,
    /// An HTTP request of this connection failed in transport, or the
    /// server forgot its session: the next call opens a new session. (Over
    /// HTTP nothing else says the server went away: each request is its
    /// own connection.)
    broken: AtomicBool,
    http: bool,
}

impl Conn {
    /// Starts the server (stdio) or opens a session (streamable HTTP), and
    /// runs `initialize`, all within `startup_timeout_ms`. `env` fills
    /// `${env:NAME}` in the server's `env` and headers, and holds the
    /// variables headers name; `base_dir` resolves a relative `cwd`.
    /// Errors say why, in words, never with a header's value.
    pub async fn start(server: &McpServer, env: &[(String, String)], base_dir: &Path, stderr: Ring) -> Result<Conn, String> {
        let (command, args, extra, cwd) = match &server.transport {
            McpTransport::Stdio { command, args, env, cwd } => (command, args, env, cwd),
            McpTransport::Http { url, headers } => return Self::start_http(server, url, headers, env, base_dir).await,
        };
        let dir = match cwd {
            Some(d) => base_dir.join(d),
            None => base_dir.to_path_buf(),
        };
        // A missing folder would be reported as a missing program.
        if !dir.is_dir() {
            return Err(format!("`{}`: its cwd {} is not a folder", server.name, dir.display()));
        }
        // Its group is led by a watcher that ends it with this process, even
        // after a `kill -9`; started first, so the server is never unwatched.
        let group = super::guard::new_group().ok();
        let mut cmd = tokio::process::Command::new(command);
        cmd.args(args).process_group(group.and_then(|g| i32::try_from(g).ok()).unwrap_or(0)).kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, mend_core::job::expand(&Value::String(v.clone()), env, base_dir).as_str().unwrap_or(v));
        }
        cmd.current_dir(&dir);
        let (proc, err) = match TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn() {
            Ok(p) => p,
            Err(e) => {
                kill_group(group);
                return Err(format!("could not start `{command}`: {e}"));
            }
        };
        let pid = proc.id();
        let pgid = group.or(pid);
        if let Some(err) = err {
            let ring = stderr.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    ring.push(l);
                }
            });
        }
        let started = tokio::time::timeout(Duration::from_millis(server.startup_timeout_ms), Listener::new(&server.name).serve(proc)).await;
        match started {
            Ok(Ok(service)) => Ok(Conn { service, pid, pgid, broken: AtomicBool::new(false), http: false }),
            Ok(Err(e)) => {
                // Give its stderr a moment to say why it died.
                tokio::time::sleep(Duration::from_millis(50)).await;
                kill_group(pgid);
                let last = stderr.lines().last().cloned().map(|l| format!(" ({l})")).unwrap_or_default();
                Err(format!("`{}` did not initialize: {e}{last}", server.name))
            }
            Err(_) => {
                kill_group(pgid);
                Err(format!("`{}` did not initialize within {} ms", server.name, server.startup_timeout_ms))
            }
        }
    }

    async fn start_http(
        server: &McpServer,
        url: &str,
        headers: &[(String, String)],
        env: &[(String, String)],
        base_dir: &Path,
    ) -> Result<Conn, String> {
        let mut custom = HashMap::new();
        for (name, spec) in headers {
            let n = HeaderName::try_from(name.as_str()).map_err(|_| format!("`{name}` is not an HTTP header name"))?;
            custom.insert(n, header_value(name, spec, env, base_dir)?);
        }
        let client = Http::new(Duration::from_millis(server.startup_timeout_ms))
            .map_err(|e| format!("`{}`: could not make an HTTP client: {e}", server.name))?;
        let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
        config.retry_config = Arc::new(resume_policy());
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let started =
            tokio::time::timeout(Duration::from_millis(server.startup_timeout_ms), Listener::new(&server.name).serve(transport)).await;
        match started {
            Ok(Ok(service)) => Ok(Conn { service, pid: None, pgid: None, broken: AtomicBool::new(false), http: true }),
            Ok(Err(ClientInitializeError::TransportError { error, .. })) => {
                Err(format!("`{}` did not initialize: {}", server.name, describe(&error)))
            }
            Ok(Err(e)) => Err(format!("`{}` did not initialize at {url}: {e}", server.name)),
            Err(_) => Err(format!("`{}` did not initialize at {url} within {} ms", server.name, server.startup_timeout_ms)),
        }
    }

    /// Whether the connection can still carry a request: the service has
    /// not stopped, and its process lives (stdio; a zombie does not) or no
    /// request of it failed in transport (HTTP).
    pub fn alive(&self) -> bool {
        if self.service.is_closed() || self.service.peer().is_transport_closed() || self.broken.load(Ordering::Relaxed) {
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

    /// Maps an rmcp error; an HTTP connection that failed in transport is
    /// not used again.
    fn failure(&self, e: ServiceError, sent: bool) -> Failure {
        let f = failure(e, sent, self.http);
        if self.http && matches!(f, Failure::NotSent(_) | Failure::Closed(_)) {
            self.broken.store(true, Ordering::Relaxed);
        }
        f
    }

    /// MCP `ping`: the time the server took to answer, ms.
    pub async fn ping(&self, timeout_ms: u64) -> Result<u64, Failure> {
        let t0 = std::time::Instant::now();
        let req = rmcp::model::ClientRequest::PingRequest(rmcp::model::PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        });
        match tokio::time::timeout(Duration::from_millis(timeout_ms), self.service.peer().send_request(req)).await {
            Ok(Ok(_)) => Ok(t0.elapsed().as_millis() as u64),
            Ok(Err(e)) => Err(self.failure(e, false)),
            Err(_) => Err(Failure::Timeout(timeout_ms)),
        }
    }

    /// Every tool the server offers (`tools/list`, all pages), as JSON.
    pub async fn tools(&self, timeout_ms: u64) -> Result<Vec<Value>, Failure> {
        let r = tokio::time::timeout(Duration::from_millis(timeout_ms), self.service.list_all_tools()).await;
        match r {
            Ok(Ok(tools)) => Ok(tools.iter().filter_map(|t| serde_json::to_value(t).ok()).collect()),
            Ok(Err(e)) => Err(self.failure(e, false)),
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
            Ok(Err(e)) => Err(self.failure(e, true)),
            Err(_) => Err(Failure::Timeout(timeout_ms)),
        }
    }

    /// Closes the connection (rmcp ends an HTTP session with `DELETE`) and
    /// ends the server's process group (stdio).
    pub async fn stop(self) {
        let pgid = self.pgid;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.service.cancel()).await;
        kill_group(pgid);
    }
}

/// Ends a server's process group (a server never outlives Mend).
pub fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

fn failure(e: ServiceError, sent: bool, http: bool) -> Failure {
    match e {
        // The streamable-HTTP examples of the TypeScript SDK (and servers
        // written from them) answer a session they do not know (they
        // restarted) with 400 and -32000 rather than the spec's 404, which
        // rmcp would recover from itself: the request was refused unread.
        ServiceError::McpError(d) if http && d.code.0 == -32000 && d.message.to_lowercase().contains("session") => {
            Failure::NotSent(format!("the server no longer knows this session ({})", d.message))
        }
        ServiceError::McpError(d) => Failure::Rpc { code: d.code.0, message: d.message.to_string() },
        ServiceError::TransportSend(e) if sent && left(&e) => Failure::Closed(describe(&e)),
        ServiceError::TransportSend(e) => Failure::NotSent(describe(&e)),
        ServiceError::TransportClosed if sent => Failure::Closed("the server's connection closed before it answered".into()),
        ServiceError::TransportClosed => Failure::NotSent("the server's connection is closed".into()),
        ServiceError::Timeout { timeout } => Failure::Timeout(timeout.as_millis() as u64),
        other if sent => Failure::Closed(other.to_string()),
        other => Failure::NotSent(other.to_string()),
    }
}

/// How a response stream that broke is resumed (`GET` with `Last-Event-ID`):
/// three tries over about 1.5 s, counted again after each success. rmcp's
/// default tries for ever, so a server that died during a call left the
/// call waiting for its timeout rather than failing as in doubt.
fn resume_policy() -> ExponentialBackoff {
    let mut p = ExponentialBackoff::default();
    p.max_times = Some(3);
    p.base_duration = Duration::from_millis(250);
    p.max_delay = Some(Duration::from_secs(1));
    p
}

type SseStream = Pin<Box<dyn futures_core::Stream<Item = Result<sse_stream::Sse, SseError>> + Send>>;
type HttpResult<T> = Result<T, StreamableHttpError<reqwest_mcp::Error>>;

/// rmcp's reqwest client, but for one thing: an error that answers a
/// request without naming it (the TypeScript SDK's examples answer a
/// session they do not know with `400` and no `id`) is given the id of the
/// request it answers; rmcp would drop it, and the call would wait for its
/// timeout.
#[derive(Clone)]
struct Http(reqwest_mcp::Client);

impl Http {
    /// The client rmcp would build: no idle connections kept (each request
    /// its own connection), redirects followed only when they keep the
    /// method, body and origin (307, 308; the headers carry secrets); and
    /// a connection not made within `connect_timeout` is a connect error
    /// (known not sent), not a call's timeout.
    fn new(connect_timeout: Duration) -> Result<Http, reqwest_mcp::Error> {
        // reqwest 0.13 is built without a TLS provider (see Cargo.toml):
        // ring becomes the process's default unless one was chosen already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirect = reqwest_mcp::redirect::Policy::custom(|attempt| {
            let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
            let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if !keeps_body || !same_origin || attempt.previous().len() > 10 { attempt.stop() } else { attempt.follow() }
        });
        reqwest_mcp::Client::builder().pool_max_idle_per_host(0).connect_timeout(connect_timeout).redirect(redirect).build().map(Http)
    }
}

impl StreamableHttpClient for Http {
    type Error = reqwest_mcp::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits).await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let id = match &message {
            JsonRpcMessage::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let r = self.0.post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits).await?;
        Ok(match (r, id) {
            (StreamableHttpPostResponse::Json(JsonRpcMessage::Error(mut e), sid), Some(id)) if e.id.is_none() => {
                e.id = Some(id);
                StreamableHttpPostResponse::Json(JsonRpcMessage::Error(e), sid)
            }
            (r, _) => r,
        })
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        self.0.delete_session(uri, session_id, auth_header, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<SseStream> {
        self.0.get_stream(uri, session_id, last_event_id, auth_header, custom_headers).await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<SseStream> {
        self.0.get_stream_with_max_sse_event_size(uri, session_id, last_event_id, auth_header, custom_headers, max_sse_event_size).await
    }
}

/// The error of rmcp's reqwest client inside a transport error, if that is
/// what it is.
fn http_error(e: &DynamicTransportError) -> Option<&StreamableHttpError<reqwest_mcp::Error>> {
    e.error.downcast_ref::<StreamableHttpError<reqwest_mcp::Error>>()
}

/// Whether a request that failed in transport may have reached the server.
/// Over stdio a failed write means it did not; over HTTP it did unless no
/// connection was made (refused, DNS, TLS handshake) or the request was
/// never built.
fn left(e: &DynamicTransportError) -> bool {
    match http_error(e) {
        None => false,
        Some(StreamableHttpError::Client(re)) => !(re.is_connect() || re.is_builder()),
        Some(StreamableHttpError::ReservedHeaderConflict(_) | StreamableHttpError::TransportChannelClosed) => false,
        // Refused before anything ran: not authorised (401 / 403), a
        // session the server no longer has (404), a rate limit (429).
        Some(StreamableHttpError::AuthRequired(_) | StreamableHttpError::InsufficientScope(_) | StreamableHttpError::SessionExpired) => {
            false
        }
        Some(StreamableHttpError::HttpStatus(s)) if s.status == 429 => false,
        Some(_) => true,
    }
}

/// A transport error in words: for HTTP, what failed, where, and its root
/// cause ("could not connect to http://…/mcp: Connection refused (os error
/// 111)"), without rmcp's type names.
fn describe(e: &DynamicTransportError) -> String {
    match http_error(e) {
        Some(StreamableHttpError::Client(re)) => {
            let mut root: &dyn std::error::Error = re;
            while let Some(s) = root.source() {
                root = s;
            }
            let what = if re.is_connect() { "could not connect" } else { "the HTTP request failed" };
            match re.url() {
                Some(url) => format!("{what} to {url}: {root}"),
                None => format!("{what}: {root}"),
            }
        }
        Some(other) => other.to_string(),
        None => e.error.to_string(),
    }
}

/// A header's value: `spec` names the environment variable that holds it
/// (`Authorization = "MCP_TOKEN"`), or is text with `${env:NAME}` in it
/// (`Authorization = "Bearer ${env:MCP_TOKEN}"`). Marked sensitive, so no
/// `Debug` of rmcp's or reqwest's shows it.
fn header_value(name: &str, spec: &str, env: &[(String, String)], base_dir: &Path) -> Result<HeaderValue, String> {
    let value = if spec.contains("${") {
        mend_core::job::expand(&Value::String(spec.to_owned()), env, base_dir).as_str().unwrap_or_default().to_owned()
    } else {
        env.iter()
            .find(|(k, _)| k == spec)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("header `{name}` names the environment variable `{spec}`, which is not set"))?
    };
    let mut v = HeaderValue::from_str(&value).map_err(|_| format!("header `{name}`: its value is not a valid HTTP header value"))?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_names_its_variable_or_fills_env_references_and_never_shows_its_value() {
        let env = [("TOKEN".to_owned(), "Bearer s3cret".to_owned()), ("ID".to_owned(), "7".to_owned())];
        let dir = Path::new("/tmp");
        let v = header_value("Authorization", "TOKEN", &env, dir).unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer s3cret");
        assert!(v.is_sensitive() && !format!("{v:?}").contains("s3cret"));
        assert_eq!(header_value("X-Trace", "run-${env:ID}", &env, dir).unwrap().to_str().unwrap(), "run-7");
        let e = header_value("Authorization", "MISSING", &env, dir).unwrap_err();
        assert!(e.contains("`MISSING`") && e.contains("not set"), "{e}");
        let env = [("BAD".to_owned(), "s3cret\nline".to_owned())];
        let e = header_value("Authorization", "BAD", &env, dir).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
