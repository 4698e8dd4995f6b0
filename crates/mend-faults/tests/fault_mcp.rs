//! `mend-fault-mcp` driven as Mend drives MCP servers: a child process on
//! stdio, spoken to by rmcp's client. Each fault flag is shown to do what its
//! doc says; exit codes are read by a raw JSON-RPC exchange, since rmcp's
//! child-process transport keeps the child to itself.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode};
use rmcp::service::{QuitReason, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

type Client = RunningService<RoleClient, ()>;

const BIN: &str = env!("CARGO_BIN_EXE_mend-fault-mcp");
/// Longer than any answer takes here; shorter than a test run.
const PATIENCE: Duration = Duration::from_secs(10);

fn server(flags: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    // rmcp kills a dropped child from a spawned task, which never runs if the runtime ends first.
    command.args(flags).kill_on_drop(true);
    command
}

async fn connect(flags: &[&str]) -> Client {
    let (transport, _) = TokioChildProcess::builder(server(flags)).stderr(Stdio::null()).spawn().expect("spawn");
    tokio::time::timeout(PATIENCE, ().serve(transport)).await.expect("initialize in time").expect("initialize")
}

fn request(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else { panic!("arguments must be an object") };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)
}

async fn call(client: &Client, tool: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
    tokio::time::timeout(PATIENCE, client.call_tool(request(tool, arguments))).await.expect("an answer in time")
}

fn text(result: &CallToolResult) -> &str {
    &result.content[0].as_text().expect("a text block").text
}

fn structured(result: &CallToolResult) -> &Value {
    result.structured_content.as_ref().expect("structured content")
}

/// The client's view of a server that went away: the request could not be
/// written, or it was and the transport closed before an answer.
fn closed(error: &ServiceError) -> bool {
    matches!(error, ServiceError::TransportClosed | ServiceError::TransportSend(_))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|text| text.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// A raw exchange: initialize, then one `tools/call` line per call (ids 1..),
/// stdin held open until the process exits by itself.
struct Raw {
    code: Option<i32>,
    /// Answers to the calls, by id.
    answers: Vec<Value>,
    stderr: String,
}

async fn raw(flags: &[&str], calls: &[(&str, Value)]) -> Raw {
    let mut child = server(flags).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let mut send = String::from(concat!(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"#,
        r#""clientInfo":{"name":"raw","version":"0"}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "\n"
    ));
    for (id, (tool, arguments)) in calls.iter().enumerate() {
        let line = json!({"jsonrpc": "2.0", "id": id + 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        send.push_str(&format!("{line}\n"));
    }
    // The process may exit before reading everything: a broken pipe is part of the test.
    let _ = stdin.write_all(send.as_bytes()).await;
    let mut answers = Vec::new();
    while let Some(line) = tokio::time::timeout(PATIENCE, stdout.next_line()).await.expect("output in time").expect("read stdout") {
        let message: Value = serde_json::from_str(&line).expect("JSON-RPC line");
        if message["id"] != json!(0) {
            answers.push(message);
        }
    }
    let status = tokio::time::timeout(PATIENCE, child.wait()).await.expect("exit in time").expect("wait");
    let mut err = String::new();
    stderr.read_to_string(&mut err).await.expect("read stderr");
    drop(stdin);
    Raw { code: status.code(), answers, stderr: err }
}

#[tokio::test]
async fn lists_tools_with_annotations_and_answers_echo_and_add() {
    let client = connect(&["--name", "primary"]).await;
    assert_eq!(client.peer_info().expect("initialized").server_info.as_ref().expect("server info").name, "primary");

    let tools = client.list_all_tools().await.expect("tools/list");
    let hints: Vec<_> = tools
        .iter()
        .map(|tool| {
            let a = tool.annotations.as_ref().expect("annotations");
            (tool.name.as_ref(), a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
        })
        .collect();
    assert_eq!(
        hints,
        [
            ("echo", Some(true), Some(false), Some(true), Some(false)),
            ("add", Some(true), Some(false), Some(true), Some(false)),
            ("place_order", Some(false), Some(false), Some(false), Some(false)),
            ("drop_table", Some(false), Some(true), Some(false), Some(false)),
        ]
    );
    let add = tools.iter().find(|tool| tool.name == "add").expect("add");
    assert_eq!(add.input_schema["properties"]["a"]["type"], "integer");
    assert_eq!(add.input_schema["required"], json!(["a", "b"]));

    let echo = call(&client, "echo", json!({"text": "hello"})).await.expect("echo");
    assert_eq!((text(&echo), echo.is_error), ("hello", Some(false)));
    assert_eq!(structured(&echo), &json!({"server": "primary", "call": 1}));
    let sum = call(&client, "add", json!({"a": 40, "b": 2})).await.expect("add");
    assert_eq!(text(&sum), "42");
    let dropped = call(&client, "drop_table", json!({"name": "users"})).await.expect("drop_table");
    assert_eq!(text(&dropped), "table users dropped");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn arguments_of_the_wrong_type_and_unknown_tools_are_invalid_params() {
    let client = connect(&[]).await;
    for (tool, arguments, message) in [
        ("add", json!({"a": "one", "b": 2}), "failed to deserialize parameters: invalid type: string \"one\", expected i64"),
        ("add", json!({"a": 1}), "failed to deserialize parameters: missing field `b`"),
        ("launch", json!({}), "tool not found: launch"),
    ] {
        match call(&client, tool, arguments).await {
            Err(ServiceError::McpError(error)) => {
                assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{tool}");
                assert_eq!(error.code.0, -32602);
                assert_eq!(error.message, message);
            }
            other => panic!("{tool}: expected -32602, got {other:?}"),
        }
    }
    client.cancel().await.expect("close");

    let client = connect(&["--invalid-args-as-result"]).await;
    let result = call(&client, "add", json!({"a": "one", "b": 2})).await.expect("a result");
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).starts_with("failed to deserialize parameters:"), "{}", text(&result));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn place_order_appends_one_line_per_order_to_the_state_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("orders");
    let state_flag = state.to_str().expect("utf-8 path");
    let client = connect(&["--name", "shop", "--state", state_flag]).await;
    let first = call(&client, "place_order", json!({"sku": "A-1"})).await.expect("order");
    let second = call(&client, "place_order", json!({"sku": "B-2"})).await.expect("order");
    assert_eq!(text(&first), "order ord-shop-1 placed for A-1");
    assert_eq!(text(&second), "order ord-shop-2 placed for B-2");
    assert_eq!(lines(&state), ["A-1", "B-2"]);
    let log = lines(&dir.path().join("orders.log"));
    assert!(log[0].starts_with("start shop "), "{log:?}");
    assert_eq!(log[1..], ["call place_order", "call place_order"]);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn crash_after_answers_n_calls_then_the_transport_closes() {
    let client = connect(&["--crash-after", "2"]).await;
    assert_eq!(text(&call(&client, "echo", json!({"text": "1"})).await.expect("call 1")), "1");
    assert_eq!(text(&call(&client, "echo", json!({"text": "2"})).await.expect("call 2")), "2");
    let third = call(&client, "echo", json!({"text": "3"})).await.expect_err("the server is gone");
    assert!(closed(&third), "{third:?}");
    let quit = tokio::time::timeout(PATIENCE, client.waiting()).await.expect("the service ends").expect("join");
    assert!(matches!(quit, QuitReason::Closed), "{quit:?}");

    // Exit code 1, and a call sent together with call #N is never answered.
    let run = raw(&["--crash-after", "1"], &[("add", json!({"a": 1, "b": 1})), ("add", json!({"a": 2, "b": 2}))]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.answers.len(), 1, "{:?}", run.answers);
    assert_eq!(run.answers[0]["id"], 1);
    assert_eq!(run.answers[0]["result"]["content"][0]["text"], "2");
}

#[tokio::test]
async fn with_state_calls_are_counted_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("orders");
    let flags = ["--crash-after", "1", "--rate-limit", "1", "--state", state.to_str().expect("utf-8 path")];
    let client = connect(&flags).await;
    let limited = call(&client, "echo", json!({"text": "x"})).await.expect("call 1");
    assert_eq!(limited.is_error, Some(true));
    assert!(closed(&call(&client, "echo", json!({"text": "x"})).await.expect_err("crashed after call 1")));
    drop(client);

    // The restarted server is past its crash and its rate limit.
    let client = connect(&flags).await;
    for n in 2..=3 {
        let served = call(&client, "echo", json!({"text": "x"})).await.expect("served");
        assert_eq!((served.is_error, structured(&served)["call"].as_u64()), (Some(false), Some(n)));
    }
    client.cancel().await.expect("close");
    let log = lines(&dir.path().join("orders.log"));
    assert_eq!(log.iter().filter(|line| line.starts_with("start ")).count(), 2, "{log:?}");
    // The call that met the crashed process was never received.
    assert_eq!(log.iter().filter(|line| *line == "call echo").count(), 3, "{log:?}");
}

#[tokio::test]
async fn die_on_call_does_the_side_effect_then_exits_without_answering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("orders");
    let state_flag = state.to_str().expect("utf-8 path");
    let client = connect(&["--die-on-call", "place_order", "--state", state_flag]).await;
    assert_eq!(text(&call(&client, "echo", json!({"text": "up"})).await.expect("echo")), "up");
    let lost = call(&client, "place_order", json!({"sku": "A-1"})).await.expect_err("no answer");
    assert!(matches!(lost, ServiceError::TransportClosed), "the request was sent: {lost:?}");
    assert_eq!(lines(&state), ["A-1"], "the order was placed");

    let run = raw(&["--die-on-call", "add"], &[("add", json!({"a": 1, "b": 1}))]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.answers.is_empty(), "{:?}", run.answers);
    assert!(run.stderr.contains("call add #1\ndying on add #1\n"), "{}", run.stderr);
}

#[tokio::test]
async fn hang_on_never_answers_that_tool_and_still_answers_others() {
    let client = connect(&["--hang-on", "echo"]).await;
    let hung = tokio::time::timeout(Duration::from_millis(300), client.call_tool(request("echo", json!({"text": "x"})))).await;
    assert!(hung.is_err(), "echo answered: {hung:?}");
    assert_eq!(text(&call(&client, "add", json!({"a": 1, "b": 2})).await.expect("add")), "3");
    client.cancel().await.expect("close");

    let client = connect(&["--hang-on", "echo", "--once"]).await;
    let hung = tokio::time::timeout(Duration::from_millis(300), client.call_tool(request("echo", json!({"text": "x"})))).await;
    assert!(hung.is_err(), "echo answered: {hung:?}");
    assert_eq!(text(&call(&client, "echo", json!({"text": "again"})).await.expect("second echo")), "again");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn rate_limit_and_tool_error_answer_is_error_with_their_text() {
    let client = connect(&["--rate-limit", "2", "--tool-error", "drop_table", "--name", "db"]).await;
    let cases = [
        ("echo", json!({"text": "x"}), true, "rate limit exceeded: retry after 1 second"),
        ("add", json!({"a": 1, "b": 1}), true, "rate limit exceeded: retry after 1 second"),
        ("echo", json!({"text": "x"}), false, "x"),
        ("drop_table", json!({"name": "users"}), true, "permission denied: /secret"),
        ("add", json!({"a": 1, "b": 1}), false, "2"),
    ];
    for (n, (tool, arguments, is_error, answer)) in (1..).zip(cases) {
        let result = call(&client, tool, arguments).await.expect("a result, not a protocol error");
        assert_eq!((result.is_error, text(&result)), (Some(is_error), answer), "call #{n}");
        assert_eq!(structured(&result), &json!({"server": "db", "call": n}));
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn slow_start_delays_initialize() {
    let started = Instant::now();
    let client = connect(&["--slow-start", "700"]).await;
    assert!(started.elapsed() >= Duration::from_millis(700), "{:?}", started.elapsed());
    client.cancel().await.expect("close");

    let (transport, _) = TokioChildProcess::builder(server(&["--slow-start", "5000"])).stderr(Stdio::null()).spawn().expect("spawn");
    let early = tokio::time::timeout(Duration::from_millis(200), ().serve(transport)).await;
    assert!(early.is_err(), "initialize answered before the slow start");
}

#[tokio::test]
async fn fail_start_exits_2_with_a_message() {
    let run = raw(&["--fail-start"], &[]).await;
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stderr, "fatal: cannot bind\n");
    assert!(run.answers.is_empty());

    let transport = TokioChildProcess::builder(server(&["--fail-start"])).stderr(Stdio::null()).spawn().expect("spawn").0;
    let refused = tokio::time::timeout(PATIENCE, ().serve(transport)).await.expect("fails in time");
    assert!(refused.is_err(), "initialize cannot succeed");
}

#[tokio::test]
async fn stderr_has_a_line_per_call() {
    let (transport, stderr) = TokioChildProcess::builder(server(&["--name", "loud"])).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stderr = BufReader::new(stderr.expect("piped stderr")).lines();
    let client = tokio::time::timeout(PATIENCE, ().serve(transport)).await.expect("in time").expect("initialize");
    call(&client, "echo", json!({"text": "x"})).await.expect("echo");
    call(&client, "add", json!({"a": 1, "b": 1})).await.expect("add");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(tokio::time::timeout(PATIENCE, stderr.next_line()).await.expect("in time").expect("read").expect("a line"));
    }
    assert_eq!(seen, ["start loud", "call echo #1", "call add #2"]);
    client.cancel().await.expect("close");
}
