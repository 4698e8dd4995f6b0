//! Issue 16: the `mcp` tool against a real, published MCP server
//! (`@modelcontextprotocol/server-filesystem`, pinned in tests/mcp and
//! installed by the README's test command with `npm ci`) over stdio: its
//! tools listed with their annotations, calls, an unknown tool, bad
//! arguments, a server that cannot start and its backup, a server killed
//! between calls and restarted, the circuit breaker, and no process left.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mend_core::mcp::{McpServer, McpTransport};
use mend_core::tool::{CallContext, Effect, Tool};
use mend_tools::mcp::{McpTool, ServerState, servers};
use serde_json::{Value, json};

fn filesystem_server() -> PathBuf {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(p.exists(), "{} is missing: run `npm ci` in tests/mcp (the README's test command does)", p.display());
    p
}

fn fs_server(name: &str, root: &Path, backup: Option<&str>) -> McpServer {
    McpServer {
        name: name.into(),
        transport: McpTransport::Stdio {
            command: "node".into(),
            args: vec![filesystem_server().display().to_string(), root.display().to_string()],
            env: vec![],
            cwd: None,
        },
        startup_timeout_ms: 20_000,
        call_timeout_ms: 20_000,
        backup: backup.map(str::to_owned),
    }
}

fn broken(name: &str, backup: Option<&str>) -> McpServer {
    McpServer {
        name: name.into(),
        transport: McpTransport::Stdio { command: "/nonexistent/mcp-server".into(), args: vec![], env: vec![], cwd: None },
        startup_timeout_ms: 2_000,
        call_timeout_ms: 2_000,
        backup: backup.map(str::to_owned),
    }
}

fn cx(dir: &Path, servers: Vec<McpServer>) -> CallContext {
    CallContext { base_dir: dir.to_path_buf(), mcp_servers: Arc::new(servers), ..Default::default() }
}

fn code(o: &mend_core::Outcome) -> String {
    o.code().map(|c| c.to_string()).unwrap_or_else(|| "-".into())
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_published_server_is_listed_and_called_and_its_failures_have_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.csv"), "a,b\n1,2\n").unwrap();
    let root = dir.path().canonicalize().unwrap();
    let s = fs_server("files-a", &root, None);
    let c = cx(&root, vec![s.clone()]);

    let tools = servers().list(&s, &c).await.unwrap();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"read_text_file") && names.contains(&"write_file"), "{names:?}");
    // Annotations decide what the gate and the unknown-fate rule see.
    let call = |tool: &str, arguments: Value| json!({"server": "files-a", "tool": tool, "arguments": arguments});
    assert_eq!(McpTool.effect(&call("read_text_file", json!({}))), Effect::ReadOnly);
    assert_eq!(McpTool.effect(&call("write_file", json!({}))), Effect::Destructive);
    assert!(McpTool.idempotent(&call("write_file", json!({}))), "write_file says idempotentHint");
    assert!(!McpTool.idempotent(&call("edit_file", json!({}))));

    let path = root.join("report.csv").display().to_string();
    let o = McpTool.call(&call("read_text_file", json!({"path": path})), &c).await;
    assert!(o.is_ok(), "{o:?}");
    assert!(o.output["text"].as_str().unwrap().contains("1,2"), "{}", o.output);

    // An unknown tool.
    let o = McpTool.call(&call("no_such_tool", json!({})), &c).await;
    assert_eq!(code(&o), "MCP_TOOL_NOT_FOUND", "{o:?}");
    // A missing file: the tool's own error, read by the classifiers.
    let o = McpTool.call(&call("read_text_file", json!({"path": root.join("nope.csv").display().to_string()})), &c).await;
    assert_eq!(code(&o), "NOT_FOUND", "{o:?}");
    // Arguments that break the input schema.
    let o = McpTool.call(&call("read_text_file", json!({"path": 42})), &c).await;
    assert_eq!(code(&o), "INVALID_ARGS", "{o:?}");
    assert!(!o.is_ok());
}

#[tokio::test]
async fn a_server_that_cannot_start_offers_its_backup_and_once_set_aside_falls_over_to_it() {
    use mend_core::payload::{Guardrail, ServerChange};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let c = cx(&root, vec![broken("primary-b", Some("backup-b")), fs_server("backup-b", &root, None)]);
    let call = json!({"server": "primary-b", "tool": "list_allowed_directories", "arguments": {}});
    // It failed to start now: not started again at once (it has a backup);
    // the backup is the repair the engine tries and learns.
    let o = McpTool.call(&call, &c).await;
    let e = o.error.as_ref().expect("unreachable");
    assert_eq!(
        (e.code.as_str(), e.retryable, &e.hints["sent"], &e.hints["phase"]),
        ("MCP_SERVER_UNREACHABLE", false, &json!(false), &json!("start"))
    );
    assert!(matches!(servers().state("primary-b").await, ServerState::Down { .. }));
    let repairs = McpTool.repairs(&call, e, &c).await;
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    assert_eq!(repairs[0].args["server"], "backup-b");
    assert!(McpTool.call(&repairs[0].args, &c).await.is_ok(), "the backup answers");
    // Two more failures trip its circuit, noted for the journal; from then
    // on the call goes to the backup at once, noted too.
    for _ in 0..2 {
        assert!(!McpTool.call(&call, &c).await.is_ok());
    }
    let o = McpTool.call(&call, &c).await;
    assert!(o.is_ok(), "set aside: the backup answered: {o:?}");
    assert_eq!(o.output["served_by"], "backup-b");
    let notes = c.notes.take();
    let changes: Vec<ServerChange> = notes
        .iter()
        .filter_map(|(g, _)| match g {
            Guardrail::Server { change, .. } => Some(*change),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [ServerChange::CircuitOpened, ServerChange::FellOver], "{notes:?}");

    // Without a backup: unreachable, known not sent; three failures in a
    // minute disable it, and the next call is refused at once.
    let c = cx(&root, vec![broken("alone-b", None)]);
    let call = json!({"server": "alone-b", "tool": "x", "arguments": {}});
    for _ in 0..3 {
        let o = McpTool.call(&call, &c).await;
        assert_eq!(code(&o), "MCP_SERVER_UNREACHABLE", "{o:?}");
        assert_eq!(o.error.as_ref().unwrap().hints["sent"], false);
    }
    assert!(
        matches!(servers().state("alone-b").await, ServerState::Disabled { until_ms: Some(_), .. }),
        "{:?}",
        servers().state("alone-b").await
    );
    let o = McpTool.call(&call, &c).await;
    assert_eq!(o.error.as_ref().unwrap().hints["disabled"], true, "{o:?}");
    // A person enables it again.
    servers().set_disabled("alone-b", None).await;
    assert!(matches!(servers().state("alone-b").await, ServerState::Down { .. }));
    servers().set_disabled("alone-b", Some("maintenance".into())).await;
    assert!(matches!(servers().state("alone-b").await, ServerState::Disabled { until_ms: None, .. }));
}

#[tokio::test]
async fn a_server_killed_between_calls_is_started_again_and_none_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let c = cx(&root, vec![fs_server("files-c", &root, None)]);
    let call = json!({"server": "files-c", "tool": "list_allowed_directories", "arguments": {}});
    assert!(McpTool.call(&call, &c).await.is_ok());
    let ServerState::Running { pid: Some(pid) } = servers().state("files-c").await else { panic!("running") };
    assert!(alive(pid));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let o = McpTool.call(&call, &c).await;
    assert!(o.is_ok(), "started again: {o:?}");
    let ServerState::Running { pid: Some(again) } = servers().state("files-c").await else { panic!("running") };
    assert_ne!(again, pid);
    // Ended with its group (what `shutdown` does to every server; not
    // called here: the tests beside this one share the servers).
    servers().restart("files-c").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!alive(again), "no server outlives its supervisor");
}
