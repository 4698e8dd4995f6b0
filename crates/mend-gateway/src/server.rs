//! The only code that speaks rmcp's server side (issue 17): `initialize`
//! (the caller's `clientInfo` is kept: every call is journaled with it),
//! `tools/list`, `tools/call` (progress notifications while a call heals or
//! waits for a person, when the caller sent a progress token; the choice
//! offered through elicitation when the host declared it), and
//! `notifications/tools/list_changed` when an upstream server's tools
//! change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::approve::{Elicit, Progress};
use crate::{Caller, Gateway, Hooks};

/// One connection's server: the gateway and who is on the other end.
#[derive(Clone)]
pub struct MendServer {
    gateway: Arc<Gateway>,
    caller: Arc<Mutex<Caller>>,
}

impl MendServer {
    /// A server for one connection to `gateway`.
    pub fn new(gateway: Arc<Gateway>) -> MendServer {
        MendServer { gateway, caller: Arc::new(Mutex::new(Caller { name: "unknown".into(), version: String::new() })) }
    }

    fn caller(&self) -> Caller {
        self.caller.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The host's elicitation: the request's options as one enum field.
struct PeerElicit(Peer<RoleServer>);

#[async_trait]
impl Elicit for PeerElicit {
    async fn choose(&self, message: String, options: Vec<(String, String)>) -> Option<String> {
        let ids: Vec<&str> = options.iter().map(|(id, _)| id.as_str()).collect();
        let labels: Vec<&str> = options.iter().map(|(_, l)| l.as_str()).collect();
        let params: ElicitRequestParams = serde_json::from_value(json!({
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {"option": {"type": "string", "title": "Mend asks", "enum": ids, "enumNames": labels}},
                "required": ["option"]
            }
        }))
        .ok()?;
        let r: ElicitResult = self.0.create_elicitation(params).await.ok()?;
        match r.action {
            ElicitationAction::Accept => r.content?.get("option")?.as_str().map(str::to_owned),
            _ => None,
        }
    }
}

/// A host's `clientInfo` text as Mend keeps it (the run's agent, titles,
/// filters): no control characters (a name must not rewrite a terminal or
/// fake a line: red team), at most 64 characters, `unknown` when empty.
pub fn caller_name(given: &str) -> String {
    let clean: String = given.chars().filter(|c| !c.is_control()).take(64).collect();
    let clean = clean.trim();
    if clean.is_empty() { "unknown".into() } else { clean.to_owned() }
}

fn internal(e: impl std::fmt::Display) -> McpError {
    McpError::internal_error(e.to_string(), None)
}

impl ServerHandler for MendServer {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new("mend", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Mend runs these tools for you and heals their failures (restarts, backups, backoff, lessons). \
                 A call that needs a person waits for one; if none decides in time, the result names the request: \
                 tell your user, and call the tool again with the same arguments once they have decided.",
            )
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        // Who the caller is, once: a second `initialize` on the same
        // session does not rename it (its journaled calls, its rules; red team).
        if let Ok(mut c) = self.caller.lock()
            && c.name == "unknown"
            && c.version.is_empty()
        {
            *c = Caller { name: caller_name(&request.client_info.name), version: caller_name(&request.client_info.version) };
        }
        context.peer.set_peer_info(request.clone());
        // An upstream server's tools changed: so did ours (forwarded as
        // `notifications/tools/list_changed` until the caller goes away).
        let mut changed = mend_tools::mcp::tools_changed();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            // A lagging receiver missed some: one notification says it all.
            while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = changed.recv().await {
                if peer.notify_tool_list_changed().await.is_err() {
                    break;
                }
            }
        });
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (tools, _problems) = self.gateway.tools().await;
        serde_json::from_value(json!({ "tools": tools })).map_err(internal)
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        let caller = self.caller();
        let progress: Option<Progress> = context.meta.get_progress_token().map(|token| {
            let peer = context.peer.clone();
            let n = Arc::new(AtomicU64::new(0));
            Arc::new(move |message: String| {
                let (peer, token) = (peer.clone(), token.clone());
                let progress = n.fetch_add(1, Ordering::Relaxed) as f64 + 1.0;
                tokio::spawn(async move {
                    let p: Result<ProgressNotificationParam, _> =
                        serde_json::from_value(json!({"progressToken": token, "progress": progress, "message": message}));
                    if let Ok(p) = p {
                        let _ = peer.notify_progress(p).await;
                    }
                });
            }) as Progress
        });
        let elicit: Option<Arc<dyn Elicit>> =
            (!context.peer.supported_elicitation_modes().is_empty()).then(|| Arc::new(PeerElicit(context.peer.clone())) as Arc<dyn Elicit>);
        let arguments = request.arguments.unwrap_or_default();
        let hooks = Hooks { progress, elicit };
        let call = self.gateway.call(&caller, &request.name, arguments, hooks);
        // The caller cancelled (`notifications/cancelled`): the run is
        // stopped like any interrupted run; the result is not read.
        let answer = tokio::select! {
            r = call => r,
            _ = context.ct.cancelled() => Ok(crate::result::stopped(&request.name, "cancelled by the caller")),
        };
        match answer {
            Ok(v) => {
                let r: CallToolResult = serde_json::from_value(v).map_err(internal)?;
                Ok(r.into())
            }
            // A name the gateway does not offer: the spec's protocol error.
            Err(m) => Err(McpError::invalid_params(m, Some(Value::String(request.name.to_string())))),
        }
    }
}

/// Serves the gateway over stdio until the host closes the connection.
/// Errors: the connection could not be set up (`initialize` failed).
pub async fn serve_stdio(gateway: Arc<Gateway>) -> Result<(), String> {
    let service = MendServer::new(gateway).serve(rmcp::transport::stdio()).await.map_err(|e| format!("MCP over stdio: {e}"))?;
    service.waiting().await.map_err(|e| format!("MCP over stdio: {e}"))?;
    Ok(())
}

/// Serves the gateway over MCP streamable HTTP on `addr` (a loopback
/// address: `[gateway] http`; any path, `/mcp` by convention), one session
/// per client, until the process ends. Errors: the address cannot be bound.
pub async fn serve_http(gateway: Arc<Gateway>, addr: std::net::SocketAddr) -> Result<(), String> {
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address: the gateway listens on this machine only"));
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    serve_http_on(gateway, listener).await
}

/// [`serve_http`] on a listener already bound (tests bind `127.0.0.1:0`).
/// The `Host` header must name this machine (rmcp's DNS-rebinding guard:
/// `localhost`, `127.0.0.1`, `::1`).
pub async fn serve_http_on(gateway: Arc<Gateway>, listener: tokio::net::TcpListener) -> Result<(), String> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    let g = gateway.clone();
    let service = StreamableHttpService::new(
        move || Ok(MendServer::new(g.clone())),
        Arc::new(LocalSessionManager::default()),
        // A web page of another site must not reach the gateway through the
        // browser (DNS rebinding, drive-by calls): a present `Origin` must be
        // this machine's (MCP spec, transports: servers MUST validate it).
        StreamableHttpServerConfig::default().with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]),
    );
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| format!("accepting a connection: {e}"))?;
        let svc = hyper_util::service::TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}
