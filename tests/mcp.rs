//! Issue 16 through the whole loop: jobs whose steps call a real, published
//! MCP server (`@modelcontextprotocol/server-filesystem`, pinned in
//! tests/mcp), through the real engine, gate and journal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mend_core::approval::{ApprovalKind, StandingApprover};
use mend_core::report::{RunStatus, StepStatus};
use mend_tests::{Setup, run_job};

fn server_js() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(p.exists(), "{} is missing: run `npm ci` in tests/mcp (the README's test command does)", p.display());
    p
}

fn servers(root: &Path, with_broken_primary: bool) -> String {
    let mut t = String::new();
    if with_broken_primary {
        t.push_str(
            "[[mcp.servers]]\nname = \"files\"\ncommand = \"/nonexistent/server\"\nbackup = \"files-mirror\"\nstartup_timeout = \"2s\"\n\n",
        );
    }
    t.push_str(&format!(
        "[[mcp.servers]]\nname = \"{}\"\ncommand = \"node\"\nargs = [\"{}\", \"{}\"]\nstartup_timeout = \"20s\"\n\n",
        if with_broken_primary { "files-mirror" } else { "files" },
        server_js().display(),
        root.display()
    ));
    t
}

#[tokio::test]
async fn a_job_reads_through_an_mcp_server_and_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("report.csv"), "a,b\n").unwrap();
    for broken in [false, true] {
        let job = format!(
            "name = \"t\"\n{}[[steps]]\nname = \"read\"\ntool = \"mcp\"\nargs = {{ server = \"files\", tool = \"read_text_file\", arguments = {{ path = \"{}\" }} }}\n",
            servers(&root, broken),
            root.join("report.csv").display()
        );
        let ran = run_job(&root, &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
        assert_eq!(ran.report.status, RunStatus::Succeeded, "broken primary: {broken}: {:#?}", ran.report.steps[0]);
        let out = &ran.report.steps[0].final_outcome.as_ref().unwrap().output;
        assert!(out["text"].as_str().unwrap().contains("a,b"), "{out}");
        assert_eq!(out.get("served_by").and_then(|v| v.as_str()), broken.then_some("files-mirror"));
        assert!(ran.report.steps[0].escalations.is_empty(), "read-only: nothing asked");
    }
}

#[tokio::test]
async fn a_tool_its_server_marks_destructive_asks_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let target = root.join("out.txt");
    let job = format!(
        "name = \"t\"\n{}[[steps]]\nname = \"write\"\ntool = \"mcp\"\nargs = {{ server = \"files\", tool = \"write_file\", arguments = {{ path = \"{}\", content = \"x\" }} }}\n",
        servers(&root, false),
        target.display()
    );
    let ran = run_job(&root, &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    let asked = ran.requests();
    assert_eq!(asked.len(), 1, "{:#?}", ran.report.steps[0]);
    assert_eq!(asked[0].kind, ApprovalKind::BeforeRun);
    assert_ne!(ran.report.steps[0].status, StepStatus::Succeeded);
    assert!(!target.exists(), "nothing was written before a person said so");

    // Approved, it runs.
    let ran = run_job(&root, &job, Setup::new(Arc::new(StandingApprover::Recommended))).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Succeeded, "{:#?}", ran.report.steps[0]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
}
