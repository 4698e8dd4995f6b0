//! Issue 16: the `mcp` tool over streamable HTTP against a real, published
//! server (`@modelcontextprotocol/server-everything`, pinned in tests/mcp and
//! installed with `npm ci`), each test with its own server on a free
//! loopback port: tools listed and called, bad arguments, headers filled
//! from the environment (seen on the wire through a recording proxy), a URL
//! where nothing listens or no name resolves, a server gone between calls
//! and started again, a server that dies during a call, and no server
//! process left behind. What a call becomes when the server fails after the
//! request was sent (500, a hang-up, an error naming no request) is played
//! by a small server of its own on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mend_core::mcp::{McpServer, McpTransport};
use mend_core::tool::{CallContext, Effect, Tool};
use mend_tools::mcp::{McpTool, servers};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn everything() -> PathBuf {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(p.exists(), "{} is missing: run `npm ci` in tests/mcp (the README's test command does)", p.display());
    p
}

/// A port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// server-everything serving streamable HTTP at `http://127.0.0.1:PORT/mcp`;
/// killed and reaped when dropped.
struct Everything {
    child: std::process::Child,
    port: u16,
}

impl Everything {
    async fn start(port: u16) -> Everything {
        let child = std::process::Command::new("node")
            .arg(everything())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut s = Everything { child, port };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return s;
            }
            assert!(s.child.try_wait().unwrap().is_none(), "server-everything exited before it listened on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server-everything did not listen on {port} within 15 s");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Kills it; true once it is gone (reaped, no process left).
    fn kill(&mut self) -> bool {
        let _ = self.child.kill();
        let _ = self.child.wait();
        !Path::new(&format!("/proc/{}", self.child.id())).exists()
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        self.kill();
    }
}

fn http_server(name: &str, url: &str, headers: &[(&str, &str)]) -> McpServer {
    McpServer {
        name: name.into(),
        transport: McpTransport::Http {
            url: url.into(),
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        },
        startup_timeout_ms: 10_000,
        call_timeout_ms: 20_000,
        backup: None,
    }
}

fn cx(servers: Vec<McpServer>, env: &[(&str, &str)]) -> CallContext {
    CallContext {
        base_dir: std::env::temp_dir(),
        mcp_servers: Arc::new(servers),
        env: Arc::new(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        ..Default::default()
    }
}

fn code(o: &mend_core::Outcome) -> String {
    o.code().map(|c| c.to_string()).unwrap_or_else(|| "-".into())
}

fn call(server: &str, tool: &str, arguments: Value) -> Value {
    json!({"server": server, "tool": tool, "arguments": arguments})
}

#[tokio::test]
async fn a_streamable_http_server_is_listed_and_called_and_its_failures_have_codes() {
    let mut node = Everything::start(free_port()).await;
    let s = http_server("everything-a", &node.url(), &[]);
    let c = cx(vec![s.clone()], &[]);

    let tools = servers().list(&s, &c).await.unwrap();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"echo") && names.contains(&"get-sum"), "{names:?}");
    assert!(tools.iter().all(|t| t["inputSchema"].is_object()), "each with its input schema");
    assert_eq!(McpTool.effect(&call("everything-a", "echo", json!({}))), Effect::ReadOnly, "its annotations are read");

    let o = McpTool.call(&call("everything-a", "echo", json!({"message": "over http"})), &c).await;
    assert!(o.is_ok(), "{o:?}");
    assert_eq!(o.output["text"], "Echo: over http", "{}", o.output);
    let o = McpTool.call(&call("everything-a", "get-sum", json!({"a": 2, "b": 40})), &c).await;
    assert!(o.is_ok() && o.output["text"].as_str().unwrap().contains("42"), "{o:?}");

    // Arguments that break the input schema.
    let o = McpTool.call(&call("everything-a", "echo", json!({"message": 42})), &c).await;
    assert_eq!(code(&o), "INVALID_ARGS", "{o:?}");
    // An unknown tool.
    let o = McpTool.call(&call("everything-a", "no_such_tool", json!({})), &c).await;
    assert_eq!(code(&o), "MCP_TOOL_NOT_FOUND", "{o:?}");
    // The session is still good after those.
    assert!(McpTool.call(&call("everything-a", "echo", json!({"message": "again"})), &c).await.is_ok());

    servers().restart("everything-a").await;
    assert!(node.kill(), "no server process left");
}

/// A TCP proxy on 127.0.0.1:0 to `port` that keeps what each client
/// connection sent: the requests exactly as they reached the wire.
async fn recording_proxy(port: u16) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { continue };
            let i = {
                let mut r = record.lock().unwrap();
                r.push(Vec::new());
                r.len() - 1
            };
            let record = record.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut ur, &mut cw).await });
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    record.lock().unwrap()[i].extend_from_slice(&buf[..n]);
                    if uw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = uw.shutdown().await;
            });
        }
    });
    (at, seen)
}

#[tokio::test]
async fn headers_are_filled_from_the_environment_and_reach_the_server_on_every_request() {
    let mut node = Everything::start(free_port()).await;
    let (proxy, seen) = recording_proxy(node.port).await;
    let url = format!("http://127.0.0.1:{proxy}/mcp");
    let headers = [("Authorization", "MEND_TEST_MCP_TOKEN"), ("X-Trace", "run-${env:MEND_TEST_MCP_TRACE}")];
    let env = [("MEND_TEST_MCP_TOKEN", "Bearer s3cret-token"), ("MEND_TEST_MCP_TRACE", "7")];
    let c = cx(vec![http_server("everything-b", &url, &headers)], &env);

    let o = McpTool.call(&call("everything-b", "echo", json!({"message": "with headers"})), &c).await;
    assert!(o.is_ok(), "{o:?}");
    let requests: Vec<String> = seen.lock().unwrap().iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
    let heads: Vec<&str> = requests.iter().filter_map(|r| r.split("\r\n\r\n").next()).filter(|h| !h.is_empty()).collect();
    assert!(
        heads.iter().filter(|h| h.starts_with("POST /mcp")).count() >= 3,
        "initialize, initialized, tools/list, tools/call: {heads:#?}"
    );
    assert!(requests.iter().any(|r| r.contains("\"tools/call\"")), "{requests:#?}");
    for h in &heads {
        let lower = h.to_lowercase();
        assert!(lower.contains("\r\nauthorization: bearer s3cret-token"), "the header naming a variable: {h}");
        assert!(lower.contains("\r\nx-trace: run-7"), "the header with ${{env:…}} in it: {h}");
    }

    // A header whose variable is not set: refused before any request, and
    // no header value is ever in a message.
    let before = seen.lock().unwrap().len();
    let c = cx(vec![http_server("everything-b2", &url, &headers)], &[("MEND_TEST_MCP_TRACE", "s3cret-trace")]);
    let o = McpTool.call(&call("everything-b2", "echo", json!({"message": "x"})), &c).await;
    let e = o.error.as_ref().expect("refused");
    assert_eq!((e.code.as_str(), e.hints.get("sent")), ("MCP_SERVER_UNREACHABLE", Some(&json!(false))), "{o:?}");
    assert!(e.message.contains("MEND_TEST_MCP_TOKEN") && e.message.contains("not set"), "{}", e.message);
    assert!(!e.message.contains("s3cret"), "{}", e.message);
    assert_eq!(seen.lock().unwrap().len(), before, "nothing was sent");

    servers().restart("everything-b").await;
    assert!(node.kill(), "no server process left");
}

#[tokio::test]
async fn a_url_where_nothing_listens_or_no_name_resolves_is_unreachable_and_known_not_sent() {
    let refused = format!("http://127.0.0.1:{}/mcp", free_port());
    // `.invalid` never resolves (RFC 6761).
    for (i, url) in [refused.as_str(), "http://mend-test.invalid/mcp"].into_iter().enumerate() {
        let name = format!("nowhere-c{i}");
        let c = cx(vec![http_server(&name, url, &[("Authorization", "MEND_TEST_MCP_TOKEN")])], &[("MEND_TEST_MCP_TOKEN", "s3cret")]);
        let o = McpTool.call(&call(&name, "echo", json!({"message": "x"})), &c).await;
        let e = o.error.as_ref().expect("unreachable");
        assert_eq!(
            (e.code.as_str(), e.hints.get("sent"), e.hints.get("phase")),
            ("MCP_SERVER_UNREACHABLE", Some(&json!(false)), Some(&json!("start"))),
            "{url}: {o:?}"
        );
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        if i == 0 {
            assert!(e.message.contains("could not connect"), "{}", e.message);
        }
    }
}

#[tokio::test]
async fn a_server_gone_between_calls_is_unreachable_not_sent_and_once_back_gets_a_new_session() {
    let port = free_port();
    let mut node = Everything::start(port).await;
    let c = cx(vec![http_server("everything-d", &node.url(), &[])], &[]);
    let echo = call("everything-d", "echo", json!({"message": "hi"}));
    assert!(McpTool.call(&echo, &c).await.is_ok());

    // Gone: the call's connection is refused, so it never left.
    assert!(node.kill());
    let o = McpTool.call(&echo, &c).await;
    let e = o.error.as_ref().expect("unreachable");
    assert_eq!((e.code.as_str(), e.hints.get("sent")), ("MCP_SERVER_UNREACHABLE", Some(&json!(false))), "{o:?}");
    assert!(e.hints.get("in_doubt").is_none(), "{o:?}");
    assert!(e.message.contains("could not connect"), "{}", e.message);

    // Back on the same port (a new process, which knows no session): the
    // next call opens a new session.
    let mut node = Everything::start(port).await;
    let o = McpTool.call(&echo, &c).await;
    assert!(o.is_ok(), "{o:?}");

    // Restarted with no failed call in between: the server refuses the old
    // session (400, -32000), which is not sent; the next call is served.
    assert!(node.kill());
    let mut node = Everything::start(port).await;
    let o = McpTool.call(&echo, &c).await;
    let e = o.error.as_ref().expect("the old session is refused");
    assert_eq!((e.code.as_str(), e.hints.get("sent")), ("MCP_SERVER_UNREACHABLE", Some(&json!(false))), "{o:?}");
    assert!(e.message.contains("session"), "{}", e.message);
    let o = McpTool.call(&echo, &c).await;
    assert!(o.is_ok(), "a new session: {o:?}");

    servers().restart("everything-d").await;
    assert!(node.kill(), "no server process left");
}

#[tokio::test]
async fn a_server_that_dies_during_a_call_leaves_the_call_in_doubt() {
    let mut node = Everything::start(free_port()).await;
    // Through the proxy, to kill the server once the call is on the wire.
    let (proxy, seen) = recording_proxy(node.port).await;
    let c = cx(vec![http_server("everything-e", &format!("http://127.0.0.1:{proxy}/mcp"), &[])], &[]);
    assert!(McpTool.call(&call("everything-e", "echo", json!({"message": "hi"})), &c).await.is_ok());

    let pid = node.child.id();
    let killer = tokio::spawn(async move {
        while !seen.lock().unwrap().iter().any(|r| String::from_utf8_lossy(r).contains("trigger-long-running-operation")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    });
    let started = std::time::Instant::now();
    let o = McpTool.call(&call("everything-e", "trigger-long-running-operation", json!({"duration": 10, "steps": 10})), &c).await;
    killer.await.unwrap();
    let e = o.error.as_ref().expect("the server died");
    assert_eq!((e.code.as_str(), e.hints.get("in_doubt")), ("MCP_SERVER_UNREACHABLE", Some(&json!(true))), "{o:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "known soon, not at the timeout: {:?}", started.elapsed());

    servers().restart("everything-e").await;
    assert!(node.kill(), "no server process left");
}

/// What the small server below does with a `tools/call`.
#[derive(Clone, Copy, Debug)]
enum OnCall {
    Answer,
    /// `500` with a text body.
    Status500,
    /// Reads the request, then closes the connection without a word.
    HangUp,
    /// `500` with a JSON-RPC error that names no request (`id` left out).
    ErrorWithoutId,
}

/// A small streamable-HTTP MCP server on 127.0.0.1:0, one request per
/// connection: `initialize` and `tools/list` answered, a `tools/call` as
/// `on_call` says, `GET` refused (no server stream).
async fn faulty_server(on_call: OnCall) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut sock).await else { return };
                if let Some(reply) = answer(&head, &body, on_call) {
                    let _ = sock.write_all(&reply).await;
                }
            });
        }
    });
    port
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            let len = head.lines().find_map(|l| l.to_lowercase().strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()));
            let end = i + 4 + len.unwrap_or(0);
            while buf.len() < end {
                let n = sock.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[i + 4..end].to_vec()));
        }
        let n = sock.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nmcp-session-id: s1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn answer(head: &str, body: &[u8], on_call: OnCall) -> Option<Vec<u8>> {
    if !head.starts_with("POST ") {
        return Some(response("405 Method Not Allowed", "text/plain", ""));
    }
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let id = req["id"].clone();
    let json = |status: &str, v: Value| response(status, "application/json", &v.to_string());
    let result = |r: Value| json("200 OK", json!({"jsonrpc": "2.0", "id": id, "result": r}));
    Some(match req["method"].as_str().unwrap_or("") {
        _ if id.is_null() => response("202 Accepted", "text/plain", ""),
        "initialize" => result(json!({
            "protocolVersion": req["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "faulty", "version": "0"}
        })),
        // Annotated: a tool without annotations is destructive (the spec's
        // defaults) and would not be sent without the gate's approval.
        "tools/list" => {
            result(json!({"tools": [{"name": "act", "inputSchema": {"type": "object"}, "annotations": {"destructiveHint": false}}]}))
        }
        "tools/call" => match on_call {
            OnCall::Answer => result(json!({"content": [{"type": "text", "text": "done"}]})),
            OnCall::Status500 => response("500 Internal Server Error", "text/plain", "it broke"),
            OnCall::HangUp => return None,
            OnCall::ErrorWithoutId => {
                json("500 Internal Server Error", json!({"jsonrpc": "2.0", "error": {"code": -32603, "message": "it broke"}}))
            }
        },
        m => json("200 OK", json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {m}")}})),
    })
}

#[tokio::test]
async fn what_a_call_becomes_when_the_server_fails_after_the_request_was_sent() {
    // (what the server does, the code, whether its fate is unknown)
    let rows = [
        (OnCall::Answer, "-", false),
        (OnCall::Status500, "MCP_SERVER_UNREACHABLE", true),
        (OnCall::HangUp, "MCP_SERVER_UNREACHABLE", true),
        (OnCall::ErrorWithoutId, "MCP_TOOL_ERROR", false),
    ];
    for (i, (on_call, want, in_doubt)) in rows.into_iter().enumerate() {
        let port = faulty_server(on_call).await;
        let name = format!("faulty-f{i}");
        let c = cx(vec![http_server(&name, &format!("http://127.0.0.1:{port}/mcp"), &[])], &[]);
        let started = std::time::Instant::now();
        let o = McpTool.call(&call(&name, "act", json!({})), &c).await;
        assert_eq!(code(&o), want, "{on_call:?}: {o:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{on_call:?}: at once, not at the timeout");
        if let Some(e) = &o.error {
            assert_eq!(e.hints.get("in_doubt") == Some(&json!(true)), in_doubt, "{on_call:?}: {o:?}");
            assert_ne!(e.hints.get("sent"), Some(&json!(false)), "{on_call:?}: it was sent: {o:?}");
        }
        servers().restart(&name).await;
    }
}
