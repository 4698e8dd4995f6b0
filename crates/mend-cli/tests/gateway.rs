//! `mend mcp serve` driven by two independent, official MCP clients (issue
//! 17): the TypeScript SDK's (`@modelcontextprotocol/sdk`, pinned in
//! tests/mcp) and the Python SDK's (`mcp` from PyPI, installed by the
//! README's test command into target/mcp-py). Upstream: the scripted faulty
//! server (`mend-fault-mcp`) and the published filesystem server. Each plan
//! starts a fresh gateway over stdio, as a host does.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Python with the `mcp` SDK: `MEND_MCP_PYTHON`, else the venv the
/// README's test command makes.
fn python() -> PathBuf {
    let p = std::env::var_os("MEND_MCP_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join("target/mcp-py/venv/bin/python"));
    assert!(p.exists(), "{} is missing: run the README's test command (scripts/test.sh installs `mcp` there)", p.display());
    p
}

/// A folder with a config declaring the scripted servers, and a data dir.
struct Stage {
    dir: tempfile::TempDir,
}

impl Stage {
    /// `servers`: (name, flags, backup) of scripted servers; `gateway`: the
    /// `[gateway]` table's lines.
    fn new(servers: &[(&str, &[&str], Option<&str>)], gateway: &str) -> Stage {
        let dir = tempfile::tempdir().unwrap();
        let fault = mend_faults::fault_mcp_bin();
        let mut config = String::new();
        for (name, flags, backup) in servers {
            let mut args = vec![
                "--name".to_owned(),
                name.to_string(),
                "--state".into(),
                dir.path().join(format!("{name}.state")).display().to_string(),
            ];
            args.extend(flags.iter().map(|f| f.to_string()));
            config.push_str(&format!(
                "[[mcp.servers]]\nname = \"{name}\"\ncommand = {:?}\nargs = {}\ncall_timeout = \"5s\"\n{}\n",
                fault.display().to_string(),
                serde_json::to_string(&args).unwrap(),
                backup.map(|b| format!("backup = \"{b}\"\n")).unwrap_or_default()
            ));
        }
        config.push_str(&format!("[gateway]\n{gateway}\n"));
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Stage { dir }
    }

    fn mend(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
        c.env("MEND_DATA_DIR", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("no-config"))
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .arg("--no-llm");
        c
    }

    /// Runs one plan with `client` (`node` or `python`) as `name`; one JSON
    /// value per step.
    fn drive(&self, client: &str, name: &str, steps: Value, elicit: Option<&str>) -> Vec<Value> {
        let plan = json!({
            "command": env!("CARGO_BIN_EXE_mend"),
            "args": ["--config", self.dir.path().join("config.toml"), "--no-llm", "mcp", "serve"],
            "env": {"MEND_DATA_DIR": self.dir.path().join("data"), "XDG_CONFIG_HOME": self.dir.path().join("no-config")},
            "client": name,
            "elicit": elicit,
            "steps": steps,
        });
        let path = self.dir.path().join(format!("plan-{}.json", fastrand::u64(..)));
        std::fs::write(&path, plan.to_string()).unwrap();
        let out = match client {
            "node" => Command::new("node").arg(root().join("tests/mcp/gateway-client.mjs")).arg(&path).output().unwrap(),
            _ => Command::new(python()).arg(root().join("tests/mcp/gateway_client.py")).arg(&path).output().unwrap(),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{client} client failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    fn log(&self, server: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{server}.state.log"))).unwrap_or_default()
    }

    fn calls(&self, server: &str, tool: &str) -> usize {
        self.log(server).lines().filter(|l| *l == format!("call {tool}")).count()
    }
}

fn text(result: &Value) -> String {
    result["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"op": "call", "name": name, "arguments": arguments, "timeout_ms": 60000})
}

/// Both clients: the tools, namespaced, with their schemas and annotations;
/// a call; an unknown tool as the spec's protocol error; every call
/// journaled with the client's name.
#[test]
fn two_official_clients_list_and_call_through_the_gateway_and_are_journaled_by_name() {
    let s = Stage::new(&[("shop", &[], None)], "");
    for (client, name) in [("node", "ts-sdk-client"), ("python", "python-sdk-client")] {
        let out =
            s.drive(client, name, json!([{"op": "list"}, call("shop__echo", json!({"text": "hi"})), call("nope__x", json!({}))]), None);
        let tools = out[0]["tools"].as_array().unwrap();
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, ["shop__echo", "shop__add", "shop__place_order", "shop__drop_table"], "{client}");
        let drop = tools.iter().find(|t| t["name"] == "shop__drop_table").unwrap();
        assert_eq!(drop["annotations"]["destructiveHint"], true, "{client}: {drop}");
        assert_eq!(drop["inputSchema"]["required"], json!(["name"]), "{client}");
        assert_eq!(text(&out[1]), "hi", "{client}: {}", out[1]);
        assert_ne!(out[1]["result"]["isError"], true);
        assert!(out[2]["error"].as_str().is_some_and(|e| e.contains("no tool `nope__x`")), "{client}: {}", out[2]);
        let (_, logs, _) = run(s.mend().args(["logs", "--agent", name, "--kind", "call", "--json"]));
        assert_eq!(logs.lines().count(), 1, "{client}: one call journaled as {name}: {logs}");
        let e: Value = serde_json::from_str(logs.lines().next().unwrap()).unwrap();
        assert_eq!((e["agent"].as_str(), e["job"].as_str()), (Some(name), Some("shop__echo")));
    }
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Failures the gateway heals before the caller's timeout, and the one it
/// cannot: a crashed upstream restarted, a rate limit waited out (its
/// Retry-After honoured, the caller told in progress notifications), a
/// server that cannot start replaced by its backup, arguments the tool's
/// schema rejects fitted to it; a tool error no fix
/// helps returned as `isError` with the code, "do not retry" and what
/// Mend tried — never as a success.
#[test]
fn the_gateway_heals_what_it_can_within_the_callers_timeout_and_explains_what_it_cannot() {
    let s = Stage::new(
        &[
            ("crashy", &["--crash-after", "1"], None),
            ("busy", &["--rate-limit", "1"], None),
            ("primary", &["--fail-start"], Some("standby")),
            ("standby", &[], None),
            ("locked", &["--tool-error", "place_order"], None),
        ],
        "",
    );
    let out = s.drive(
        "node",
        "ts-sdk-client",
        json!([
            call("crashy__echo", json!({"text": "one"})),
            call("crashy__echo", json!({"text": "two"})),
            call("busy__echo", json!({"text": "hi"})),
            call("primary__echo", json!({"text": "hi"})),
            call("locked__place_order", json!({"sku": "A-1"})),
            // A number sent as text, and a key in the wrong case: fitted to the schema.
            call("standby__add", json!({"A": 2, "b": "3"})),
        ]),
        None,
    );
    assert_eq!((text(&out[0]), text(&out[1])), ("one".into(), "two".into()), "{out:?}");
    assert!(s.log("crashy").lines().filter(|l| l.starts_with("start")).count() >= 2, "restarted: {}", s.log("crashy"));
    assert_eq!(text(&out[2]), "hi");
    assert!(out[2]["ms"].as_u64().unwrap() >= 900, "the server asked for 1 s: {}", out[2]);
    assert!(out[2]["progress"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("RATE_LIMITED")), "{}", out[2]);
    assert_eq!(out[3]["result"]["structuredContent"]["server"], "standby", "{}", out[3]);
    let failed = &out[4];
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let t = text(failed);
    assert!(t.contains("PERMISSION_DENIED") && t.contains("Retry: no"), "{t}");
    assert_eq!(failed["result"]["structuredContent"]["mend"]["code"], "PERMISSION_DENIED");
    assert_eq!(s.calls("locked", "place_order"), 1, "not retried: {}", s.log("locked"));
    assert_eq!(text(&out[5]), "5", "{}", out[5]);
    let how = out[5]["result"]["_meta"]["mend"]["attempts"][0].as_str().unwrap_or_default().to_owned();
    assert!(how.starts_with("retry_modified"), "{}", out[5]);
}

/// A destructive tool is held for a person. Nobody answers within the
/// budget: the caller gets the pending request (its id, the diagnosis, the
/// options) while it waited it was told so; the person decides from the
/// command line (as from the popup); the caller's same call again is
/// answered by that decision, without a second request, and the tool runs
/// once. The Python client sees the same.
#[test]
fn a_destructive_call_waits_for_a_person_and_the_callers_retry_gets_the_decision() {
    for (client, name) in [("node", "ts-sdk-client"), ("python", "python-sdk-client")] {
        let s = Stage::new(&[("db", &[], None)], "approval_wait = \"1500ms\"\nprogress_every = \"300ms\"");
        let drop = call("db__drop_table", json!({"name": "users"}));
        // Asked twice before anyone decides (the agent retried at once).
        let out = s.drive(client, name, json!([drop.clone(), drop.clone()]), None);
        assert_eq!(out[1]["result"]["isError"], true, "{client}: {}", out[1]);
        let held = &out[0]["result"];
        assert_eq!(held["isError"], true, "{client}: {held}");
        let req = &held["structuredContent"]["mend"]["pending_request"];
        let id = req["id"].as_str().unwrap_or_else(|| panic!("{client}: {held}")).to_owned();
        assert_eq!(req["recommended"], "run");
        assert!(text(&out[0]).contains(&format!("mend approvals decide {id}")), "{}", text(&out[0]));
        assert!(!out[0]["progress"].as_array().unwrap().is_empty(), "{client}: told it waits: {}", out[0]);
        assert_eq!(s.calls("db", "drop_table"), 0);
        let (_, pending, _) = run(s.mend().args(["approvals", "list", "--json"]));
        let pending: Value = serde_json::from_str(&pending).unwrap();
        assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");
        assert_eq!(pending[0]["agent"], name, "{pending}");
        assert!(pending[0]["title"].as_str().unwrap().starts_with(&format!("{name}: ")), "{pending}");

        let (code, _, err) = run(s.mend().args(["approvals", "decide", &id, "run"]));
        assert_eq!(code, 0, "{err}");
        assert_eq!(s.calls("db", "drop_table"), 0, "nothing runs until the agent calls again");
        let out = s.drive(client, name, json!([drop]), None);
        assert_eq!(out[0]["result"]["isError"], false, "{client}: {}", out[0]);
        assert_eq!(s.calls("db", "drop_table"), 1);
        let (_, pending, _) = run(s.mend().args(["approvals", "list", "--json"]));
        assert_eq!(serde_json::from_str::<Value>(&pending).unwrap(), json!([]), "no new request, the duplicate superseded");
        // Only the person's one decision is theirs; what was closed as moot is the gateway's.
        let (_, decisions, _) = run(s.mend().args(["logs", "--kind", "decision", "--json"]));
        let by: Vec<String> = decisions
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["data"]["decision"]["decided_by"]["by"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(by.iter().filter(|b| *b == "policy").count(), 1, "{decisions}");
    }
}

/// A host with elicitation is offered the choice itself: the user's answer
/// there decides the request (journaled as the host user's).
#[test]
fn a_host_with_elicitation_is_asked_in_its_own_ui() {
    let s = Stage::new(&[("db", &[], None)], "approval_wait = \"20s\"");
    let out = s.drive("node", "ts-sdk-client", json!([call("db__drop_table", json!({"name": "users"}))]), Some("skip"));
    assert_eq!(out[0]["result"]["isError"], true, "{}", out[0]);
    assert!(text(&out[0]).contains("was not run"), "{}", text(&out[0]));
    assert_eq!(s.calls("db", "drop_table"), 0);
    let (_, decisions, _) = run(s.mend().args(["logs", "--kind", "decision", "--json"]));
    let d: Value = serde_json::from_str(decisions.lines().next().unwrap()).unwrap();
    assert_eq!(d["data"]["decision"]["option"], "skip");
    assert_eq!(d["data"]["decision"]["decided_by"]["who"], "ts-sdk-client user", "{d}");
}

/// An upstream server's `notifications/tools/list_changed` reaches the
/// caller, and the tools listed next are the server's new ones.
#[test]
fn an_upstream_tools_change_is_forwarded_to_the_caller() {
    let s = Stage::new(&[("shop", &["--list-changes"], None)], "");
    let out = s.drive(
        "node",
        "ts-sdk-client",
        json!([
            {"op": "list"},
            call("shop__toggle", json!({})),
            {"op": "wait_list_changed", "timeout_ms": 10000},
            {"op": "list"},
            call("shop__extra", json!({"text": "new"})),
        ]),
        None,
    );
    let names = |v: &Value| v["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect::<Vec<_>>();
    assert!(!names(&out[0]).contains(&"shop__extra".to_owned()), "{}", out[0]);
    assert_ne!(out[1]["result"]["isError"], true, "{}", out[1]);
    assert!(out[2]["changed"].as_u64().is_some_and(|n| n >= 1), "forwarded: {out:?}");
    assert!(names(&out[3]).contains(&"shop__extra".to_owned()), "{}", out[3]);
    assert_eq!(text(&out[4]), "new", "{}", out[4]);
}

/// Mend's own tools, when the config turns them on, go through the same
/// gate: `mend__read_logs` answers; `mend__exec` with a destructive
/// command is held for a person.
#[test]
fn mends_own_tools_are_offered_when_asked_for_and_gated_like_any_other() {
    let s = Stage::new(&[("shop", &[], None)], "own_tools = [\"read_logs\", \"exec\"]\napproval_wait = \"1s\"");
    std::fs::create_dir_all(s.dir.path().join("build")).unwrap();
    let target = s.dir.path().join("build").display().to_string();
    let out = s.drive(
        "python",
        "python-sdk-client",
        json!([
            {"op": "list"},
            call("mend__read_logs", json!({"since": "1h"})),
            call("mend__exec", json!({"shell": format!("rm -rf {target}")})),
        ]),
        None,
    );
    let names: Vec<&str> = out[0]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"mend__read_logs") && names.contains(&"mend__exec") && !names.contains(&"mend__fs"), "{names:?}");
    assert_ne!(out[1]["result"]["isError"], true, "{}", out[1]);
    assert_eq!(out[2]["result"]["isError"], true, "{}", out[2]);
    assert!(out[2]["result"]["structuredContent"]["mend"]["pending_request"]["id"].is_string(), "held: {}", out[2]);
    assert!(s.dir.path().join("build").exists(), "nothing was removed");
}

/// The opt-in streamable HTTP transport: one `mend mcp serve --http` on a
/// loopback port, driven by the TypeScript SDK's HTTP client.
#[test]
fn the_gateway_serves_streamable_http_on_loopback() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = Stage::new(&[("shop", &[], None)], &format!("http = \"127.0.0.1:{port}\""));
    let mut server = s.mend().args(["mcp", "serve", "--http"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "the gateway never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let plan = json!({"url": format!("http://127.0.0.1:{port}/mcp"), "client": "http-client", "steps": [{"op": "list"}, call("shop__echo", json!({"text": "over http"}))]});
    let path = s.dir.path().join("http-plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    let out = Command::new("node").arg(root().join("tests/mcp/gateway-client.mjs")).arg(&path).output().unwrap();
    // A browser page of another site is refused (its Origin); this machine's is not.
    let post = |origin: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"web","version":"1"}}}"#;
        let req = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut c, req.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut c, &mut answer);
        answer.lines().next().unwrap_or_default().to_owned()
    };
    assert!(post("https://evil.example").contains(" 403"), "{}", post("https://evil.example"));
    assert!(post(&format!("http://localhost:{port}")).contains(" 200"), "{}", post(&format!("http://localhost:{port}")));
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["tools"].as_array().is_some_and(|t| !t.is_empty()), "{stdout}");
    assert_eq!(text(&lines[1]), "over http", "{stdout}");
    let (_, logs, _) = run(s.mend().args(["logs", "--agent", "http-client", "--kind", "call", "--json"]));
    assert_eq!(logs.lines().count(), 1, "{logs}");
}

/// The red team's worst break of issue 17: a call of unknown outcome (the
/// server died after receiving it) must not be sent again by the agent's
/// retry — not while a person has not decided, not after they said "it
/// happened"; only "send it again" lets the next identical call go out,
/// once. And an agent's `${env:…}` is sent as written, never expanded.
#[test]
fn an_agents_retry_never_resends_a_call_of_unknown_outcome() {
    let s = Stage::new(&[("shop", &["--die-on-call", "place_order"], None)], "approval_wait = \"1s\"");
    let order = call("shop__place_order", json!({"sku": "A-1"}));
    let orders = || std::fs::read_to_string(s.dir.path().join("shop.state")).map(|t| t.lines().count()).unwrap_or(0);
    let out = s.drive("node", "ts-sdk-client", json!([order.clone(), order.clone(), order.clone()]), None);
    assert_eq!(orders(), 1, "sent once: {out:?}");
    let id =
        out[0]["result"]["structuredContent"]["mend"]["pending_request"]["id"].as_str().unwrap_or_else(|| panic!("{}", out[0])).to_owned();
    for retry in &out[1..] {
        assert_eq!(retry["result"]["isError"], true, "{retry}");
        assert!(text(retry).contains("may already have run"), "{}", text(retry));
    }
    // "It happened": the retry is told so, and nothing is sent.
    let (code, _, err) = run(s.mend().args(["approvals", "decide", &id, "ran"]));
    assert_eq!(code, 0, "{err}");
    let out = s.drive("python", "python-sdk-client", json!([order.clone()]), None);
    assert_eq!(orders(), 1, "{out:?}");
    // Once more: a new call of its own (the person settled the old one): out it goes.
    let out = s.drive("node", "ts-sdk-client", json!([order.clone()]), None);
    assert_eq!(orders(), 2, "{out:?}");
    let id = out[0]["result"]["structuredContent"]["mend"]["pending_request"]["id"].as_str().unwrap().to_owned();
    // "Send it again": the next identical call goes out once.
    let (code, _, err) = run(s.mend().args(["approvals", "decide", &id, "run"]));
    assert_eq!(code, 0, "{err}");
    let _ = s.drive("node", "ts-sdk-client", json!([order.clone()]), None);
    assert_eq!(orders(), 3);

    // An agent's `${env:…}` reaches the tool as written.
    let s = Stage::new(&[("echo", &[], None)], "");
    let out = s.drive("node", "ts-sdk-client", json!([call("echo__echo", json!({"text": "${env:HOME} $${x}"}))]), None);
    assert_eq!(text(&out[0]), "${env:HOME} $${x}", "{}", out[0]);
}
