//! `cargo bench -p mend-tests --bench mcp`: the MCP numbers in BENCHMARKS.md
//! (issue 16), measured side by side in one run against the scripted
//! server (`mend-fault-mcp`, a Rust stdio server):
//!
//! - the cost of an `echo` call through Mend's `mcp` tool against the same
//!   call made directly with rmcp on the same kind of connection (ratio);
//! - the time from a server's crash to the next successful call (the tool
//!   finds the process gone, starts it again, initializes, calls);
//! - memory per idle connection: the server process's RSS, and this
//!   process's RSS growth per connection held.
//!
//! Under `cargo test` (no `--bench`) the same harness runs small.

use std::sync::Arc;
use std::time::Instant;

use mend_core::mcp::{McpServer, McpTransport};
use mend_core::tool::{CallContext, Tool};
use mend_tools::mcp::{McpTool, ServerState, servers};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

fn server(name: &str, flags: &[&str]) -> McpServer {
    let mut args = vec!["--name".to_owned(), name.to_owned()];
    args.extend(flags.iter().map(|s| s.to_string()));
    McpServer {
        name: name.into(),
        transport: McpTransport::Stdio { command: mend_faults::fault_mcp_bin().display().to_string(), args, env: vec![], cwd: None },
        startup_timeout_ms: 10_000,
        call_timeout_ms: 10_000,
        backup: None,
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (calls, rounds, crashes, idle) = if bench { (500, 5, 20, 10) } else { (20, 1, 2, 2) };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir();
        // Through Mend's tool (supervision, annotations, classification).
        let s = server("bench-tool", &[]);
        let cx = CallContext { base_dir: dir.clone(), mcp_servers: Arc::new(vec![s.clone()]), ..Default::default() };
        let args = json!({"server": "bench-tool", "tool": "echo", "arguments": {"text": "hi"}});
        assert!(McpTool.call(&args, &cx).await.is_ok(), "warm");
        // Directly with rmcp.
        let mut cmd = tokio::process::Command::new(mend_faults::fault_mcp_bin());
        cmd.args(["--name", "bench-direct"]).kill_on_drop(true);
        let (proc, _) = TokioChildProcess::builder(cmd).stderr(std::process::Stdio::null()).spawn().unwrap();
        let direct = ().serve(proc).await.unwrap();
        let mut tool_us = Vec::new();
        let mut direct_us = Vec::new();
        for _ in 0..rounds {
            let t0 = Instant::now();
            for _ in 0..calls {
                assert!(McpTool.call(&args, &cx).await.is_ok());
            }
            tool_us.push(t0.elapsed().as_secs_f64() * 1e6 / calls as f64);
            let t0 = Instant::now();
            for _ in 0..calls {
                let mut a = serde_json::Map::new();
                a.insert("text".into(), json!("hi"));
                direct.call_tool(CallToolRequestParams::new("echo").with_arguments(a)).await.unwrap();
            }
            direct_us.push(t0.elapsed().as_secs_f64() * 1e6 / calls as f64);
        }
        let (t, d) = (median(tool_us), median(direct_us));
        println!("| measure | result | notes |\n| --- | --- | --- |");
        println!("| an `echo` call through the `mcp` tool vs directly with rmcp | ratio {:.2} | {t:.0} µs vs {d:.0} µs per call (median of {rounds} rounds of {calls}, interleaved) |", t / d);

        // Crash → next successful call.
        let s = server("bench-crash", &["--crash-after", "1"]);
        let cx = CallContext { base_dir: dir.clone(), mcp_servers: Arc::new(vec![s]), ..Default::default() };
        let args = json!({"server": "bench-crash", "tool": "echo", "arguments": {"text": "hi"}});
        let mut recover_ms = Vec::new();
        for _ in 0..crashes {
            assert!(McpTool.call(&args, &cx).await.is_ok(), "the call before the crash");
            // It answered, then exited: wait until its process is gone.
            for _ in 0..200 {
                if !matches!(servers().state("bench-crash").await, ServerState::Running { .. }) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let t0 = Instant::now();
            let o = McpTool.call(&args, &cx).await;
            assert!(o.is_ok(), "{o:?}");
            recover_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            servers().restart("bench-crash").await;
        }
        println!(
            "| a server's crash to the next successful call | p50 {:.0} ms | the call finds the process gone, starts it again, initializes and calls ({crashes} crashes) |",
            median(recover_ms)
        );

        // Memory per idle connection.
        let me = std::process::id();
        let before = rss_kb(me);
        let mut pids = Vec::new();
        for i in 0..idle {
            let name = format!("bench-idle-{i}");
            let s = server(&name, &[]);
            let cx = CallContext { base_dir: dir.clone(), mcp_servers: Arc::new(vec![s]), ..Default::default() };
            assert!(McpTool.call(&json!({"server": name, "tool": "echo", "arguments": {"text": "x"}}), &cx).await.is_ok());
            if let ServerState::Running { pid: Some(p) } = servers().state(&name).await {
                pids.push(p);
            }
        }
        let after = rss_kb(me);
        let child: Vec<f64> = pids.iter().map(|&p| rss_kb(p) as f64).collect();
        println!(
            "| memory per idle connection | Mend +{:.0} KB, server {:.1} MB | this process's RSS growth over {idle} connections held; the Rust test server's RSS (a Node server is larger) |",
            (after.saturating_sub(before)) as f64 / idle as f64,
            median(child) / 1024.0
        );
        servers().shutdown().await;
    });
}
