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
        assert_eq!(out["server"], if broken { "files-mirror" } else { "files" }, "{out}");
        // A primary that cannot start is healed by its backup: one repair, no restart.
        let actions = ran.actions(0);
        assert_eq!(actions, if broken { vec!["retry_modified"] } else { vec![] }, "{:#?}", ran.report.steps[0]);
        assert!(ran.report.steps[0].escalations.is_empty(), "read-only: nothing asked");
    }
}

#[tokio::test]
async fn a_tool_its_server_marks_destructive_asks_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let target = root.join("out.txt");
    let job = format!(
        "name = \"t\"\n{}[[steps]]\nname = \"write\"\ntool = \"mcp\"\nargs = {{ server = \"writer\", tool = \"write_file\", arguments = {{ path = \"{}\", content = \"x\" }} }}\n",
        // Its own name: the servers of this process are shared by the tests in it.
        servers(&root, false).replace("name = \"files\"", "name = \"writer\""),
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

fn faulty(name: &str, state: &Path, flags: &[&str], backup: Option<&str>) -> String {
    let mut args: Vec<String> = vec!["--name".into(), name.into(), "--state".into(), state.display().to_string()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[mcp.servers]]\nname = \"{name}\"\ncommand = \"{}\"\nargs = [{}]\nstartup_timeout = \"5s\"\ncall_timeout = \"2s\"\n{}\n",
        mend_faults::fault_mcp_bin().display(),
        args.join(", "),
        backup.map(|b| format!("backup = \"{b}\"\n")).unwrap_or_default()
    )
}

fn orders(state: &Path) -> usize {
    std::fs::read_to_string(state).map(|s| s.lines().count()).unwrap_or(0)
}

fn starts(state: &Path) -> usize {
    std::fs::read_to_string(format!("{}.log", state.display())).unwrap_or_default().lines().filter(|l| l.starts_with("start")).count()
}

#[tokio::test]
async fn the_scripted_faults_heal_stop_or_ask_as_the_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let step = |server: &str, tool: &str, arguments: &str| {
        format!(
            "[[steps]]\nname = \"s\"\ntool = \"mcp\"\nargs = {{ server = \"{server}\", tool = \"{tool}\", arguments = {arguments} }}\nretry = {{ base = \"10ms\" }}\n"
        )
    };
    let abort = || Setup::new(Arc::new(StandingApprover::Abort));

    // A server that crashed after its first answer is started again: the read heals.
    let st = root.join("crash.state");
    let job =
        format!("name = \"t\"\n{}{}", faulty("crashy", &st, &["--crash-after", "1"], None), step("crashy", "echo", "{ text = \"hi\" }"));
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Succeeded, "{:#?}", ran.report.steps[0]);
    let ran = run_job(root, &job, abort()).await;
    assert!(ran.report.steps[0].status.is_ok(), "{:#?}", ran.report.steps[0]);
    assert!(starts(&st) >= 2, "restarted: {}", starts(&st));

    // A rate limit told in an isError text is a RATE_LIMITED, retried.
    let st = root.join("rate.state");
    let job = format!("name = \"t\"\n{}{}", faulty("busy", &st, &["--rate-limit", "1"], None), step("busy", "echo", "{ text = \"hi\" }"));
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed, "{:#?}", ran.report.steps[0]);
    assert_eq!(ran.report.steps[0].failure.as_ref().unwrap().code, "RATE_LIMITED");

    // A server that dies after receiving an order: it may have placed it,
    // and place_order is not idempotent — not sent again unasked (issue 14).
    let st = root.join("die.state");
    let job = format!(
        "name = \"t\"\n{}{}",
        faulty("shop", &st, &["--die-on-call", "place_order"], None),
        step("shop", "place_order", "{ sku = \"A-1\" }")
    );
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(orders(&st), 1, "placed once: {:#?}", ran.report.steps[0]);
    assert!(ran.requests().iter().any(|r| r.kind == ApprovalKind::InDoubt), "asked: it may already have happened");

    // A hang is a TIMEOUT; echo is read-only, so it is sent again (and hangs again).
    let st = root.join("hang.state");
    let job = format!(
        "name = \"t\"\n{}{}",
        faulty("slow", &st, &["--hang-on", "echo", "--once"], None),
        step("slow", "echo", "{ text = \"hi\" }")
    );
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(ran.report.steps[0].failure.as_ref().unwrap().code, "TIMEOUT", "{:#?}", ran.report.steps[0]);
    assert!(ran.report.steps[0].status.is_ok(), "{:#?}", ran.report.steps[0]);

    // A primary that cannot start: its backup answers, by name.
    let (a, b) = (root.join("p.state"), root.join("b.state"));
    let job = format!(
        "name = \"t\"\n{}{}{}",
        faulty("primary", &a, &["--fail-start"], Some("standby")),
        faulty("standby", &b, &[], None),
        step("primary", "echo", "{ text = \"hi\" }")
    );
    let ran = run_job(root, &job, abort()).await;
    let out = &ran.report.steps[0].final_outcome.as_ref().unwrap().output;
    assert_eq!(out["server"], "standby", "{out}");
    assert_eq!(ran.actions(0), ["retry_modified"], "{:#?}", ran.report.steps[0]);
    assert_eq!(out["result"]["structuredContent"]["server"], "standby");

    // A server that keeps dying: started again once, then — failing twice
    // within a minute — its backup goes first (echo is read-only, so a call
    // of unknown fate may go elsewhere).
    let (a, b) = (root.join("dies.state"), root.join("spare.state"));
    let job = format!(
        "name = \"t\"\n{}{}{}",
        faulty("dies", &a, &["--die-on-call", "echo"], Some("spare")),
        faulty("spare", &b, &[], None),
        step("dies", "echo", "{ text = \"hi\" }")
    );
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(ran.actions(0), ["retry_same", "retry_modified"], "{:#?}", ran.report.steps[0]);
    let out = &ran.report.steps[0].final_outcome.as_ref().unwrap().output;
    assert_eq!(out["server"], "spare", "{out}");
    assert_eq!(starts(&a), 2, "started once, then once again, never a third time");

    // A tool marked destructive asks first.
    let st = root.join("drop.state");
    let job = format!("name = \"t\"\n{}{}", faulty("db", &st, &[], None), step("db", "drop_table", "{ name = \"users\" }"));
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(ran.requests().last().unwrap().kind, ApprovalKind::BeforeRun, "the journal of this folder holds every run's requests");
    // No shutdown here: the servers of this process are shared by the tests
    // running beside this one; they end with the process (their watchers).
}

/// Calls of a tool received by a scripted server (its `FILE.log`).
fn calls_of(state: &Path, tool: &str) -> usize {
    std::fs::read_to_string(format!("{}.log", state.display())).unwrap_or_default().lines().filter(|l| *l == format!("call {tool}")).count()
}

/// The red team's breaks of issue 16, as the kind: whatever path a call
/// takes to a server — a server that was down when the run began and is up
/// when the gate looks, one that comes up only for the call, a fall-over to
/// a backup (failed start, disabled by hand), a backup that says more about
/// the tool than the primary — a tool its server marks destructive is
/// never sent unasked, and a call of unknown fate is never sent twice.
/// Every case runs with an approver that says "abort" to anything.
#[tokio::test]
async fn no_path_sends_a_destructive_call_unasked_or_an_order_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let abort = || Setup::new(Arc::new(StandingApprover::Abort));
    let step = |server: &str, tool: &str, arguments: &str| {
        format!(
            "[[steps]]\nname = \"s\"\ntool = \"mcp\"\nargs = {{ server = \"{server}\", tool = \"{tool}\", arguments = {arguments} }}\nretry = {{ base = \"10ms\" }}\n"
        )
    };
    let drop = |server: &str| step(server, "drop_table", "{ name = \"users\" }");

    // Down when the run begins (its tools unknown), up when the gate looks
    // (1 failed start), or up only for the call itself (2 failed starts).
    for (i, fails) in ["1", "2"].into_iter().enumerate() {
        let st = root.join(format!("late{i}.state"));
        let name = format!("late{i}");
        let job = format!("name = \"t\"\n{}{}", faulty(&name, &st, &["--fail-starts", fails], None), drop(&name));
        let ran = run_job(root, &job, abort()).await;
        assert_eq!(calls_of(&st, "drop_table"), 0, "{fails} failed start(s): sent unasked: {:#?}", ran.report.steps[0]);
        assert!(!ran.report.steps[0].status.is_ok(), "{:#?}", ran.report.steps[0]);
    }

    // The primary cannot start: the backup (the same tool, destructive) is
    // the repair — through the gate.
    let (p, b) = (root.join("pa.state"), root.join("ba.state"));
    let job = format!("name = \"t\"\n{}{}{}", faulty("pa", &p, &["--fail-start"], Some("ba")), faulty("ba", &b, &[], None), drop("pa"));
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(calls_of(&b, "drop_table"), 0, "fell over unasked: {:#?}", ran.report.steps[0]);
    assert!(
        ran.requests().iter().any(|r| r.kind == ApprovalKind::BeforeRun && r.call.as_deref().is_some_and(|c| c.contains("ba.drop_table")))
    );

    // The primary is disabled by hand: set aside, but its backup's tool is
    // destructive — asked, never sent in passing.
    let (p, b) = (root.join("pb.state"), root.join("bb.state"));
    mend_tools::mcp::servers().set_disabled("pb", Some("maintenance".into())).await;
    let job = format!("name = \"t\"\n{}{}{}", faulty("pb", &p, &[], Some("bb")), faulty("bb", &b, &[], None), drop("pb"));
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(calls_of(&b, "drop_table") + calls_of(&p, "drop_table"), 0, "{:#?}", ran.report.steps[0]);

    // The primary calls `drop_table` read-only; its backup, destructive.
    let (p, b) = (root.join("pc.state"), root.join("bc.state"));
    mend_tools::mcp::servers().set_disabled("pc", Some("maintenance".into())).await;
    let job = format!(
        "name = \"t\"\n{}{}{}",
        faulty("pc", &p, &["--annotate", "drop_table=read_only"], Some("bc")),
        faulty("bc", &b, &[], None),
        drop("pc")
    );
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(calls_of(&b, "drop_table"), 0, "{:#?}", ran.report.steps[0]);

    // The primary's `place_order` is idempotent, its backup's is not, and
    // the backup dies after placing the order: placed once.
    let (p, b) = (root.join("pd.state"), root.join("bd.state"));
    mend_tools::mcp::servers().set_disabled("pd", Some("maintenance".into())).await;
    let job = format!(
        "name = \"t\"\n{}{}{}",
        faulty("pd", &p, &["--annotate", "place_order=idempotent"], Some("bd")),
        faulty("bd", &b, &["--die-on-call", "place_order", "--once"], None),
        step("pd", "place_order", "{ sku = \"A-1\" }")
    );
    let ran = run_job(root, &job, Setup::new(Arc::new(StandingApprover::Recommended))).await;
    assert!(orders(&b) <= 1, "placed twice: {:#?}", ran.report.steps[0]);

    // A server whose tool has no annotations: the spec's defaults, destructive.
    let st = root.join("bare.state");
    let job = format!(
        "name = \"t\"\n{}{}",
        faulty("bare", &st, &["--annotate", "place_order=none"], None),
        step("bare", "place_order", "{ sku = \"B\" }")
    );
    let ran = run_job(root, &job, abort()).await;
    assert_eq!(orders(&st), 0, "{:#?}", ran.report.steps[0]);
    assert!(
        ran.requests()
            .iter()
            .any(|r| r.kind == ApprovalKind::BeforeRun && r.call.as_deref().is_some_and(|c| c.contains("bare.place_order")))
    );
    // No shutdown here: the servers of this process are shared by the tests
    // running beside this one; they end with the process (their watchers).
}
