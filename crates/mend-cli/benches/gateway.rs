//! `cargo bench -p mend-cli --bench gateway`: the gateway's numbers in
//! BENCHMARKS.md (issue 17), measured side by side in one run against the
//! scripted server (`mend-fault-mcp`) with rmcp's client:
//!
//! - the added latency of a call through `mend mcp serve` against the same
//!   call made directly to the server (ratio; a read-only `echo`, and
//!   `place_order`, which changes the world and is journaled durably before
//!   it is sent);
//! - calls per second through one gateway with 10 concurrent callers (10
//!   requests in flight on one session), against the server directly.
//!
//! Under `cargo test` (no `--bench`) the same harness runs small.

use std::time::Instant;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn connect(program: &std::path::Path, args: &[String], env: &[(&str, String)]) -> RunningService<RoleClient, ()> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (proc, _) = TokioChildProcess::builder(cmd).stderr(std::process::Stdio::null()).spawn().unwrap();
    ().serve(proc).await.unwrap()
}

async fn call(c: &RunningService<RoleClient, ()>, tool: &str, i: u64) {
    let args = if tool.ends_with("echo") { json!({"text": "hi"}) } else { json!({"sku": format!("S-{i}")}) };
    let r = c.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone())).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
}

/// `per` calls of `tool` in a row; µs per call.
async fn row(c: &RunningService<RoleClient, ()>, tool: &str, per: u64) -> f64 {
    let t0 = Instant::now();
    for i in 0..per {
        call(c, tool, i).await;
    }
    t0.elapsed().as_secs_f64() * 1e6 / per as f64
}

/// Calls per second with `callers` concurrent callers on one session, each
/// making `per` calls.
async fn throughput(c: &RunningService<RoleClient, ()>, tool: &str, callers: usize, per: u64) -> f64 {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let peer = c.peer().clone();
        let tool = tool.to_owned();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let args = json!({"text": "hi"}).as_object().unwrap().clone();
                let r = peer.call_tool(CallToolRequestParams::new(tool.clone()).with_arguments(args)).await.unwrap();
                assert_ne!(r.is_error, Some(true), "{r:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (callers as u64 * per) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (per, rounds, each) = if bench { (200, 5, 100) } else { (5, 1, 3) };
    let dir = tempfile::tempdir().unwrap();
    let fault = mend_faults::fault_mcp_bin();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[mcp.servers]]\nname = \"shop\"\ncommand = {:?}\nargs = [\"--name\", \"shop\", \"--state\", {:?}]\n",
            fault.display().to_string(),
            dir.path().join("shop.state").display().to_string()
        ),
    )
    .unwrap();
    let env = [("MEND_DATA_DIR", dir.path().join("data").display().to_string()), ("XDG_CONFIG_HOME", dir.path().display().to_string())];
    let gateway_args: Vec<String> =
        ["--config".into(), config.display().to_string(), "--no-llm".into(), "mcp".into(), "serve".into()].into_iter().collect();
    let direct_args: Vec<String> = ["--name", "direct", "--state"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("direct.state").display().to_string()])
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mend = std::path::Path::new(env!("CARGO_BIN_EXE_mend"));
        let gw = connect(mend, &gateway_args, &env).await;
        let direct = connect(&fault, &direct_args, &[]).await;
        // Warm both: the gateway starts its server and lists its tools on first use.
        call(&gw, "shop__echo", 0).await;
        call(&direct, "echo", 0).await;
        println!("| measure | result | notes |\n| --- | --- | --- |");
        for (tool, what) in [("echo", "read-only `echo`"), ("place_order", "`place_order` (journaled durably before it is sent)")] {
            let (mut g, mut d) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                g.push(row(&gw, &format!("shop__{tool}"), per).await);
                d.push(row(&direct, tool, per).await);
            }
            let (g, d) = (median(g), median(d));
            println!(
                "| a {what} through `mend mcp serve` vs directly | ratio {:.1} | {:.2} ms vs {:.2} ms per call; added {:.2} ms (median of {rounds} interleaved rounds of {per}) |",
                g / d,
                g / 1000.0,
                d / 1000.0,
                (g - d) / 1000.0
            );
        }
        // 10 concurrent callers on one gateway (one `mend mcp serve`, one
        // session: requests in flight at once), against the server directly.
        let (mut g, mut d) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            g.push(throughput(&gw, "shop__echo", 10, each).await);
            d.push(throughput(&direct, "echo", 10, each).await);
        }
        let (g, d) = (median(g), median(d));
        println!(
            "| `echo` calls per second, 10 concurrent callers on one gateway | {g:.0} through Mend vs {d:.0} directly | {each} calls each, median of {rounds} interleaved rounds; every call a journaled run |"
        );
    });
}
