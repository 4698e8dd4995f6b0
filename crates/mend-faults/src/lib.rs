//! A scripted HTTP/1.1 server on loopback that fails the way real services
//! fail: error statuses, 429 with Retry-After, stalls past a client's
//! timeout, dropped connections, errors hidden in a 200. Each route plays a
//! script of replies in order (the last one repeats) and counts its hits.
//!
//! Used by the tests of every crate and by `mend demo`. Written on raw tokio
//! sockets on purpose: a framework would not let a reply drop the connection
//! half-way or stall without answering.
//!
//! The crate also builds `mend-fault-mcp` (`src/bin/mend-fault-mcp.rs`), a
//! scripted MCP server over stdio that crashes, hangs, dies after receiving
//! a call or answers `isError` on cue, for the tests of the `mcp` tool.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Status {
        /// HTTP status code.
        code: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
    },
    /// Waits, then plays the inner reply (or nothing, if the client left).
    Stall(Duration, Box<Reply>),
    /// Closes the connection without answering.
    Drop,
    /// Plays `yes` if `path` has received a request (a resource the first
    /// request created, as a verify call sees it), else `no`.
    IfHit {
        /// The path whose hits decide.
        path: String,
        /// Played when it was hit.
        yes: Box<Reply>,
        /// Played when it was not.
        no: Box<Reply>,
    },
}

impl Reply {
    /// `200 OK` with a body.
    pub fn ok(body: &str) -> Reply {
        Reply::status(200, body)
    }
    /// A status with a body.
    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Status { code, headers: vec![], body: body.to_owned() }
    }
    /// A JSON body with `Content-Type: application/json`.
    pub fn json(code: u16, body: &str) -> Reply {
        Reply::Status { code, headers: vec![("Content-Type".into(), "application/json".into())], body: body.to_owned() }
    }
    /// Adds a header.
    pub fn header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Status { code, mut headers, body } => {
                headers.push((name.to_owned(), value.to_owned()));
                Reply::Status { code, headers, body }
            }
            other => other,
        }
    }
    /// Waits `ms` before replying.
    pub fn after_ms(self, ms: u64) -> Reply {
        Reply::Stall(Duration::from_millis(ms), Box::new(self))
    }
    /// `yes` once `path` was hit, `no` before.
    pub fn if_hit(path: &str, yes: Reply, no: Reply) -> Reply {
        Reply::IfHit { path: path.to_owned(), yes: Box::new(yes), no: Box::new(no) }
    }
}

/// One request a route received: its method and headers (names lower-case),
/// in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `POST`, …
    pub method: String,
    /// Header names (lower-case) and values.
    pub headers: Vec<(String, String)>,
    /// The body as read (up to its `Content-Length`; UTF-8, lossy).
    pub body: String,
}

impl Seen {
    /// A header's value by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A route's script: `times` copies of each reply, in order; the last repeats.
#[derive(Debug, Clone, Default)]
pub struct Script(Vec<Reply>);

impl Script {
    /// An empty script (answers 404 until replies are added).
    pub fn new() -> Self {
        Script(Vec::new())
    }
    /// Plays `reply` `times` times.
    pub fn then(mut self, times: usize, reply: Reply) -> Self {
        self.0.extend(std::iter::repeat_n(reply, times));
        self
    }
    /// Plays `reply` for every later request.
    pub fn always(self, reply: Reply) -> Self {
        self.then(1, reply)
    }
}

#[derive(Default)]
struct Route {
    script: Vec<Reply>,
    hits: usize,
    seen: Vec<Seen>,
}

/// A running fault server. Dropping it stops it.
pub struct FaultServer {
    addr: SocketAddr,
    // A std mutex: held only to pick a reply or read counters, never across an await.
    routes: Arc<Mutex<HashMap<String, Route>>>,
    task: JoinHandle<()>,
}

impl FaultServer {
    /// Binds `127.0.0.1:0` and serves the routes (`path` → script).
    pub async fn start(routes: impl IntoIterator<Item = (&'static str, Script)>) -> std::io::Result<FaultServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let map: HashMap<String, Route> =
            routes.into_iter().map(|(p, s)| (p.to_owned(), Route { script: s.0, hits: 0, seen: Vec::new() })).collect();
        let routes = Arc::new(Mutex::new(map));
        let r = routes.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let r = r.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, r).await;
                });
            }
        });
        Ok(FaultServer { addr, routes, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// How many requests a path received.
    pub fn hits(&self, path: &str) -> usize {
        self.routes.lock().map(|r| r.get(path).map(|x| x.hits).unwrap_or(0)).unwrap_or(0)
    }

    /// The requests a path received, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.routes.lock().map(|r| r.get(path).map(|x| x.seen.clone()).unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9)
}

async fn serve(mut sock: TcpStream, routes: Arc<Mutex<HashMap<String, Route>>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() - head_end < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let seen = Seen {
        method: head.split_whitespace().next().unwrap_or("").to_owned(),
        headers: head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned())))
            .collect(),
        body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
    };
    let reply = {
        let mut r = routes.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        let reply = match r.get_mut(&path) {
            Some(route) => {
                let i = route.hits.min(route.script.len().saturating_sub(1));
                route.hits += 1;
                route.seen.push(seen);
                route.script.get(i).cloned().unwrap_or_else(|| Reply::status(404, "no script"))
            }
            None => Reply::status(404, "no such route"),
        };
        match reply {
            Reply::IfHit { path, yes, no } => {
                if r.get(&path).is_some_and(|x| x.hits > 0) {
                    *yes
                } else {
                    *no
                }
            }
            other => other,
        }
    };
    play(&mut sock, reply).await
}

async fn play(sock: &mut TcpStream, mut reply: Reply) -> std::io::Result<()> {
    loop {
        match reply {
            Reply::Stall(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::IfHit { no, .. } => reply = *no,
            Reply::Drop => {
                // Linger 0 would send RST; a plain close without a response
                // is what a crashing backend looks like to the client.
                return sock.shutdown().await;
            }
            Reply::Status { code, headers, body } => {
                let mut out = format!("HTTP/1.1 {code} {}\r\nContent-Length: {}\r\nConnection: close\r\n", reason(code), body.len());
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                sock.write_all(out.as_bytes()).await?;
                return sock.shutdown().await;
            }
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The path of the `mend-fault-mcp` binary beside the running test binary
/// (`target/<profile>/mend-fault-mcp`), built first with `cargo build -p
/// mend-faults --bin mend-fault-mcp` in the same profile when this test run
/// did not build it. For tests and benches only: panics when it cannot be
/// built (the test cannot run without it).
pub fn fault_mcp_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>/deps/<test>");
    let bin = dir.join("mend-fault-mcp");
    if !bin.exists() {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut args = vec!["build", "-q", "-p", "mend-faults", "--bin", "mend-fault-mcp"];
        if release {
            args.push("--release");
        }
        let ok = std::process::Command::new(env!("CARGO")).args(&args).status().expect("running cargo");
        assert!(ok.success(), "building mend-fault-mcp");
    }
    bin
}
