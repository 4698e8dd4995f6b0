//! Issue 16: `read_logs`, the audit trail as a job step — a server's failed
//! calls in the journal and its stderr, redacted.

use std::path::Path;
use std::sync::Arc;

use mend_agent::{Agent, Ended, RunSpec, load};
use mend_core::approval::StandingApprover;
use mend_core::config::Config;
use mend_core::report::RunReport;

async fn run(agent: &Agent, dir: &Path, name: &str, toml: &str, env: Vec<(String, String)>) -> RunReport {
    let path = dir.join(name);
    std::fs::write(&path, toml).unwrap();
    let job = load::job(&path, &Config::default(), &env).unwrap();
    let spec = RunSpec { job_path: Some(&path), ..RunSpec::new(&job, env) };
    match agent.execute(spec, Arc::new(StandingApprover::Abort), None, std::future::pending::<String>()).await.unwrap() {
        Ended::Finished(r) => *r,
        Ended::Interrupted { .. } => panic!("interrupted"),
    }
}

#[tokio::test]
async fn read_logs_sees_a_failing_servers_calls_and_its_stderr_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let js =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(js.exists(), "run `npm ci` in tests/mcp (the README's test command does)");
    // A server whose only allowed folder does not exist: it says so on
    // stderr, with a "secret" in the path, and exits.
    let secret = "s3cr3t-value-42";
    let servers = format!(
        "[[mcp.servers]]\nname = \"files\"\ncommand = \"node\"\nargs = [\"{}\", \"/nonexistent/{secret}\"]\nstartup_timeout = \"10s\"\n",
        js.display()
    );
    let env = vec![("SHOP_TOKEN".to_owned(), secret.to_owned())];
    let failing = format!(
        "name = \"sync\"\nsecrets = [\"SHOP_TOKEN\"]\n{servers}[[steps]]\ntool = \"mcp\"\nargs = {{ server = \"files\", tool = \"list_allowed_directories\" }}\nretry = {{ max = 1, base = \"10ms\" }}\n"
    );
    let r = run(&agent, dir.path(), "sync.toml", &failing, env.clone()).await;
    assert_eq!(r.steps[0].failure.as_ref().unwrap().code, "MCP_SERVER_UNREACHABLE");

    let reader = format!(
        "name = \"look\"\nsecrets = [\"SHOP_TOKEN\"]\n{servers}[[steps]]\ntool = \"read_logs\"\nargs = {{ server = \"files\", since = \"10m\" }}\n"
    );
    let r = run(&agent, dir.path(), "look.toml", &reader, env).await;
    let out = &r.steps[0].final_outcome.as_ref().unwrap().output;
    assert!(out["failures"].as_u64().unwrap() >= 2, "the failed calls are there: {}", out["failures"]);
    let stderr = out["server"]["stderr"].to_string();
    assert!(stderr.contains("nonexistent"), "the server's own words: {stderr}");
    assert!(!stderr.contains(secret) && !out.to_string().contains(secret), "redacted: {out}");
}
