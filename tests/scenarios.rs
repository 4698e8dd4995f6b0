//! The fault table: each row is a real failure on this machine (a loopback
//! server that fails on script, a command that is missing, fails or hangs, a
//! file that is missing or huge, a target that already exists, a destructive
//! step) run through the whole loop. Each asserts the recovery path, the
//! attempts, the final outcome, and that the journal holds every event.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mend_core::action::{Action, Diagnosis};
use mend_core::approval::{Answer, ApprovalRequest, Approver, StandingApprover};
use mend_core::diagnose::{Diagnoser, DiagnosisContext};
use mend_core::event::EventKind;
use mend_core::report::{RunStatus, StepStatus};
use mend_faults::{FaultServer, Reply, Script, closed_port};
use mend_journal::Reader;
use mend_tests::{Setup, run_job};
use serde_json::json;

struct Row {
    name: &'static str,
    /// Job text; `{url}` is the fault server, `{dead}` a closed port.
    job: &'static str,
    routes: Vec<(&'static str, Script)>,
    files: fn(&Path),
    approve: StandingApprover,
    run: RunStatus,
    step: StepStatus,
    actions: &'static [&'static str],
    /// Hits expected on the fault server's first route.
    hits: Option<usize>,
}

fn none(_: &Path) {}

fn rows() -> Vec<Row> {
    use StandingApprover::*;
    vec![
        Row {
            name: "flaky server heals by backing off",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/flaky" }
retry = { base = "100ms" }"#,
            routes: vec![("/flaky", Script::new().then(2, Reply::status(503, "busy")).always(Reply::ok("fine")))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same", "retry_same"],
            hits: Some(3),
        },
        Row {
            name: "dropped connection is retried",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/drop" }"#,
            routes: vec![("/drop", Script::new().then(1, Reply::Drop).always(Reply::ok("fine")))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same"],
            hits: Some(2),
        },
        Row {
            name: "a stall past the timeout gets a longer timeout",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/slow", timeout_ms = 150 }"#,
            routes: vec![("/slow", Script::new().then(1, Reply::ok("late").after_ms(1000)).always(Reply::ok("fine").after_ms(200)))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_modified"],
            hits: Some(2),
        },
        Row {
            name: "an error inside a 200 switches to the alternative",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/hidden" }
[[steps.alternatives]]
tool = "http"
args = { url = "{url}/backup" }"#,
            routes: vec![
                ("/hidden", Script::new().always(Reply::json(200, r#"{"error": "index rebuilding"}"#))),
                ("/backup", Script::new().always(Reply::json(200, r#"{"data": [1]}"#))),
            ],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["use_alternative"],
            hits: Some(1),
        },
        Row {
            name: "a dead service is retried, then its backup is used",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{dead}/x" }
retry = { max = 2, base = "50ms" }
[[steps.alternatives]]
tool = "http"
args = { url = "{url}/backup" }"#,
            routes: vec![("/backup", Script::new().always(Reply::ok("fine")))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same", "retry_same", "use_alternative"],
            hits: Some(1),
        },
        Row {
            name: "a permanent 401 is not retried and escalates",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/auth" }"#,
            routes: vec![("/auth", Script::new().always(Reply::status(401, "token expired")))],
            files: none,
            approve: Recommended,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: Some(1),
        },
        Row {
            name: "a missing command escalates and is refused",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "no-such-program-mend-test" }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: None,
        },
        Row {
            name: "a missing command falls back to the declared alternative",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "no-such-program-mend-test" }
[[steps.alternatives]]
tool = "exec"
args = { program = "true" }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["use_alternative"],
            hits: None,
        },
        Row {
            name: "a failing command is not retried blindly: it waits for a person",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { shell = "echo 'schema check failed' >&2; exit 1" }"#,
            routes: vec![],
            files: none,
            approve: Wait,
            run: RunStatus::Waiting,
            step: StepStatus::Waiting,
            actions: &[],
            hits: None,
        },
        Row {
            name: "a flaky script that opts in to retries heals",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { shell = "if [ -f once ]; then exit 0; else touch once; exit 1; fi" }
retry = { on = ["NON_ZERO_EXIT"], base = "10ms" }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same"],
            hits: None,
        },
        Row {
            name: "a hanging command stops at the step's attempt budget",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "sleep", args = ["10"], timeout_ms = 50 }
idempotent = true
max_attempts = 2
retry = { max = 0 }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &["retry_modified", "retry_modified"],
            hits: None,
        },
        Row {
            name: "a hanging command is not run again unasked (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "sleep", args = ["10"], timeout_ms = 50 }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: None,
        },
        Row {
            name: "a timed-out POST with no verify is not sent again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 150 }"#,
            routes: vec![("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#).after_ms(1000)))],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: Some(1),
        },
        Row {
            name: "a timed-out POST in doubt: the standing answer never sends it again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 150 }"#,
            routes: vec![("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#).after_ms(1000)))],
            files: none,
            approve: Recommended,
            run: RunStatus::Succeeded,
            step: StepStatus::Skipped,
            actions: &[],
            hits: Some(1),
        },
        Row {
            name: "a POST dropped after it was sent is not sent again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" } }
[[steps.alternatives]]
tool = "http"
args = { url = "{url}/backup", method = "POST", json = { sku = "A-1" } }"#,
            routes: vec![("/orders", Script::new().always(Reply::Drop)), ("/backup", Script::new().always(Reply::ok("placed")))],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: Some(1),
        },
        Row {
            name: "a timed-out POST whose verify says it did not happen is sent again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 150 }
verify = { tool = "http", args = { url = "{url}/orders/42" } }"#,
            routes: vec![
                (
                    "/orders",
                    Script::new().then(1, Reply::json(201, r#"{"id": 42}"#).after_ms(1000)).always(Reply::json(201, r#"{"id": 42}"#)),
                ),
                ("/orders/42", Script::new().always(Reply::status(404, "no such order"))),
            ],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["verify_state", "retry_modified"],
            hits: Some(2),
        },
        Row {
            name: "a timed-out POST whose verify cannot tell is not sent again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 150 }
verify = { tool = "http", args = { url = "{url}/orders/42" } }"#,
            routes: vec![
                ("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#).after_ms(1000))),
                ("/orders/42", Script::new().always(Reply::status(503, "down"))),
            ],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &["verify_state"],
            hits: Some(1),
        },
        Row {
            name: "a timed-out POST with an idempotency key is sent again (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 150 }
idempotency_key = true"#,
            routes: vec![(
                "/orders",
                Script::new().then(1, Reply::json(201, r#"{"id": 42}"#).after_ms(1000)).always(Reply::json(201, r#"{"id": 42}"#)),
            )],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_modified"],
            hits: Some(2),
        },
        Row {
            name: "a timed-out PUT is sent again: PUT is idempotent (RFC 9110 §9.2.2)",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders/42", method = "PUT", json = { sku = "A-1" }, timeout_ms = 150 }"#,
            routes: vec![("/orders/42", Script::new().then(1, Reply::ok("stored").after_ms(1000)).always(Reply::ok("stored")))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_modified"],
            hits: Some(2),
        },
        Row {
            name: "exec: EAGAIN is busy, retried (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { shell = "if [ -e tried ]; then echo ok; else touch tried; echo 'fork: Resource temporarily unavailable, try again later' >&2; exit 1; fi" }
retry = { base = "10ms" }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same"],
            hits: None,
        },
        Row {
            name: "exec: curl --fail to a 503 is a server error, retried (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "curl", args = ["-sS", "--fail", "{url}/busy"] }
retry = { base = "10ms" }"#,
            routes: vec![("/busy", Script::new().then(1, Reply::status(503, "busy")).always(Reply::ok("fine")))],
            files: none,
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_same"],
            hits: Some(2),
        },
        Row {
            name: "exec: a misspelt path argument is repaired like fs's (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "cat", args = ["data/reprot.csv"] }"#,
            routes: vec![],
            files: |d| {
                std::fs::create_dir_all(d.join("data")).unwrap();
                std::fs::write(d.join("data/report.csv"), "a,b\n").unwrap();
            },
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_modified"],
            hits: None,
        },
        Row {
            name: "exec: a usage error goes to a person, not retried (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "ls", args = ["--bad-flag"] }"#,
            routes: vec![],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: None,
        },
        Row {
            name: "exec: grep -c with no match succeeds with ok_exit (issue 14)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "grep", args = ["-c", "ERROR", "app.log"], ok_exit = [0, 1] }"#,
            routes: vec![],
            files: |d| std::fs::write(d.join("app.log"), "all fine\n").unwrap(),
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Succeeded,
            actions: &[],
            hits: None,
        },
        Row {
            name: "a missing file is found by searching",
            job: r#"name = "t"
[[steps]]
tool = "fs"
args = { op = "read", path = "data/report.csv" }"#,
            routes: vec![],
            files: |d| {
                std::fs::create_dir_all(d.join("data/2026-11")).unwrap();
                std::fs::write(d.join("data/2026-11/report.csv"), "a,b\n").unwrap();
            },
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Healed,
            actions: &["retry_modified"],
            hits: None,
        },
        Row {
            name: "a huge file is read in a chunk",
            job: r#"name = "t"
[[steps]]
tool = "fs"
args = { op = "read", path = "big.log", max_bytes = 65536 }"#,
            routes: vec![],
            files: |d| std::fs::write(d.join("big.log"), vec![b'x'; 1 << 20]).unwrap(),
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Partial,
            actions: &["retry_modified"],
            hits: None,
        },
        Row {
            name: "a target that already exists is verified",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "mkdir", args = ["out"] }
verify = { tool = "exec", args = { program = "test", args = ["-d", "out"] } }"#,
            routes: vec![],
            files: |d| std::fs::create_dir_all(d.join("out")).unwrap(),
            approve: Abort,
            run: RunStatus::Succeeded,
            step: StepStatus::Verified,
            actions: &["verify_state"],
            hits: None,
        },
        Row {
            name: "a 409 'already exists' without a verify call escalates",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/users", method = "POST", json = { name = "ada" } }"#,
            routes: vec![("/users", Script::new().always(Reply::json(409, r#"{"message": "user already exists"}"#)))],
            files: none,
            approve: Recommended,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: Some(1),
        },
        Row {
            name: "a destructive step does not run without approval",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "rm", args = ["-rf", "precious"] }"#,
            routes: vec![],
            files: |d| std::fs::create_dir_all(d.join("precious")).unwrap(),
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &[],
            hits: None,
        },
        Row {
            name: "a destructive step runs once approved",
            job: r#"name = "t"
[[steps]]
tool = "fs"
args = { op = "remove", path = "scratch", recursive = true }"#,
            routes: vec![],
            files: |d| std::fs::create_dir_all(d.join("scratch")).unwrap(),
            approve: Recommended,
            run: RunStatus::Succeeded,
            step: StepStatus::Succeeded,
            actions: &[],
            hits: None,
        },
        Row {
            name: "the job's attempt budget stops healing",
            job: r#"name = "t"
[budget]
max_attempts = 1
[[steps]]
tool = "http"
args = { url = "{url}/flaky" }
retry = { base = "10ms" }"#,
            routes: vec![("/flaky", Script::new().then(5, Reply::status(503, "busy")).always(Reply::ok("fine")))],
            files: none,
            approve: Abort,
            run: RunStatus::Failed,
            step: StepStatus::Failed,
            actions: &["retry_same"],
            hits: Some(2),
        },
    ]
}

#[tokio::test]
async fn fault_table() {
    for row in rows() {
        let dir = tempfile::tempdir().unwrap();
        (row.files)(dir.path());
        let server = FaultServer::start(row.routes.clone()).await.unwrap();
        let job = row.job.replace("{url}", &server.url("")).replace("{dead}", &format!("http://127.0.0.1:{}", closed_port()));
        let ran = run_job(dir.path(), &job, Setup::new(Arc::new(row.approve))).await;
        let r = &ran.report;
        let name = row.name;
        assert_eq!(r.status, row.run, "{name}: run status; report: {r:#?}");
        assert_eq!(r.steps[0].status, row.step, "{name}: step status");
        assert_eq!(ran.actions(0), row.actions, "{name}: recovery path");
        if let (Some(want), Some((path, _))) = (row.hits, row.routes.first()) {
            assert_eq!(server.hits(path), want, "{name}: requests the server saw");
        }

        // The journal holds every event: one call event per call made, one
        // attempt event per attempt, a diagnosis before each attempt, and
        // the run's start and end.
        let calls = ran.kind(EventKind::Call).len();
        let attempts = r.steps.iter().map(|s| s.attempts.len()).sum::<usize>();
        let gated_refusal = r.steps[0].escalations.iter().any(|e| e.title.starts_with("Approve"))
            && r.steps[0].final_outcome.as_ref().and_then(|o| o.code()).is_some_and(|c| c.as_str() == "BLOCKED");
        let first_calls = if gated_refusal { 0 } else { 1 };
        assert_eq!(calls, first_calls + attempts, "{name}: call events");
        assert_eq!(ran.kind(EventKind::Attempt).len(), attempts, "{name}: attempt events");
        assert!(ran.kind(EventKind::Diagnosis).len() >= attempts, "{name}: diagnosis events");
        assert_eq!(ran.kind(EventKind::RunStarted).len(), 1, "{name}");
        assert_eq!(ran.kind(EventKind::RunFinished).len(), 1, "{name}");
        let escalations = r.steps[0].escalations.len();
        assert_eq!(ran.kind(EventKind::Escalation).len(), escalations, "{name}: escalation events");
        let decided = r.steps[0].escalations.iter().filter(|e| e.decision.is_some()).count();
        assert_eq!(ran.kind(EventKind::Decision).len(), decided, "{name}: decision events");
        let healed = matches!(r.steps[0].status, StepStatus::Healed | StepStatus::Verified | StepStatus::Partial) && attempts > 0;
        assert_eq!(ran.kind(EventKind::Recovery).len(), usize::from(healed), "{name}: recovery events");
    }
}

#[tokio::test]
async fn rate_limit_waits_as_long_as_the_server_asks() {
    let server = FaultServer::start([(
        "/limited",
        Script::new().then(1, Reply::status(429, "slow down").header("Retry-After", "3")).always(Reply::ok("fine")),
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!("name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n", server.url("/limited"));
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed);
    assert_eq!(ran.actions(0), ["retry_same"]);
    assert!(ran.sleeps[0] >= Duration::from_secs(3), "slept {:?}, the server asked for 3 s", ran.sleeps);
    assert_eq!(ran.report.steps[0].attempts[0].delay_ms, ran.sleeps[0].as_millis() as u64);
}

#[tokio::test]
async fn a_retry_after_over_the_cap_moves_on_instead_of_waiting() {
    let server = FaultServer::start([
        ("/limited", Script::new().always(Reply::status(429, "quota").header("Retry-After", "3600"))),
        ("/other", Script::new().always(Reply::ok("fine"))),
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n",
        server.url("/limited"),
        server.url("/other")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.actions(0), ["use_alternative"]);
    assert!(ran.sleeps.is_empty());
    let rejected = ran.rejections();
    assert!(rejected.iter().any(|r| r.contains("max_delay")), "{rejected:?}");
}

/// A layer that keeps proposing the same change, then one that breaks the schema.
struct Stubborn;

#[async_trait]
impl Diagnoser for Stubborn {
    fn layer(&self) -> &str {
        "stubborn"
    }
    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let with_timeout = |ms: u64| {
            let mut a = cx.step.call.args.clone();
            a["timeout_ms"] = json!(ms);
            Action::RetryModified { args: a }
        };
        vec![
            Diagnosis::new("stubborn", Action::RetryModified { args: json!({"url": "http://x", "no_such_arg": true}) }, "bad"),
            Diagnosis::new("stubborn", with_timeout(7_000), "A"),
            Diagnosis::new("stubborn", with_timeout(8_000), "B"),
        ]
    }
}

#[tokio::test]
async fn proposals_are_validated_and_never_repeated() {
    let server =
        FaultServer::start([("/busy", Script::new().then(3, Reply::status(503, "busy")).always(Reply::ok("fine")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nretry = {{ base = \"10ms\" }}\n",
        server.url("/busy")
    );
    let mut setup = Setup::new(Arc::new(StandingApprover::Abort));
    setup.layers.push(Arc::new(Stubborn));
    let ran = run_job(dir.path(), &job, setup).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed);
    // Each change ran once; when both had failed the policy took over.
    assert_eq!(ran.actions(0), ["retry_modified", "retry_modified", "retry_same"]);
    let layers: Vec<&str> = ran.report.steps[0].attempts.iter().map(|a| a.layer.as_str()).collect();
    assert_eq!(layers, ["stubborn", "stubborn", "policy"]);
    assert_eq!(ran.report.steps[0].attempts[1].args_diff[0].after, json!(8_000));
    let rejected: Vec<String> =
        ran.diagnoses().iter().map(|d| d.rejected.iter().map(|r| r.reason.clone()).collect::<Vec<_>>().join("; ")).collect();
    assert!(rejected[0].contains("schema"), "{rejected:?}");
    assert!(rejected[1].contains("same as the failed"), "{rejected:?}");
    assert!(rejected[2].contains("already tried"), "{rejected:?}");
}

#[tokio::test]
async fn measured_success_picks_the_better_action_first() {
    let server = FaultServer::start([("/backup", Script::new().always(Reply::ok("fine")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:{}/x\" }}\n[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n",
        closed_port(),
        server.url("/backup")
    );
    let mut setup = Setup::new(Arc::new(StandingApprover::Abort));
    setup.stats.by_code_action.insert(("CONNECTION_REFUSED".into(), "retry_same".into()), (1, 40));
    setup.stats.by_code_action.insert(("CONNECTION_REFUSED".into(), "use_alternative".into()), (38, 40));
    let ran = run_job(dir.path(), &job, setup).await;
    assert_eq!(ran.actions(0), ["use_alternative"]);
    // The same job without the history retries first.
    let ran = run_job(tempfile::tempdir().unwrap().path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.actions(0)[0], "retry_same");
}

/// Never answers.
struct Silent;

#[async_trait]
impl Approver for Silent {
    async fn decide(&self, _: &ApprovalRequest) -> Answer {
        std::future::pending().await
    }
}

#[tokio::test]
async fn an_unanswered_approval_follows_the_timeout_policy_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keep")).unwrap();
    let job = "name = \"t\"\n[approval]\ntimeout = \"200ms\"\non_timeout = \"abort\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"rm -rf keep\" }\n";
    let ran = run_job(dir.path(), job, Setup::new(Arc::new(Silent))).await;
    assert_eq!(ran.report.status, RunStatus::Failed, "a timeout is not a person's refusal");
    assert!(dir.path().join("keep").exists(), "the destructive call must not run");
    let d = ran.report.steps[0].escalations[0].decision.as_ref().unwrap();
    assert_eq!(d.option, "abort");
    assert_eq!(serde_json::to_value(&d.decided_by).unwrap()["by"], "timeout");
    assert!(ran.kind(EventKind::Guardrail).iter().any(|e| e.message.contains("nobody answered")));
    let (_, stored) = Reader::open(&ran.journal).unwrap().approval(&ran.report.steps[0].escalations[0].request_id).unwrap().unwrap();
    assert_eq!(serde_json::to_value(stored.unwrap().decided_by).unwrap()["by"], "timeout");
}

#[tokio::test]
async fn a_waiting_request_is_in_the_journal_before_the_run_stops() {
    let dir = tempfile::tempdir().unwrap();
    let job = "name = \"t\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"exit 1\" }\n";
    let ran = run_job(dir.path(), job, Setup::new(Arc::new(StandingApprover::Wait))).await;
    assert_eq!(ran.report.status, RunStatus::Waiting);
    assert_eq!(ran.report.exit_code, 3);
    let pending = Reader::open(&ran.journal).unwrap().pending_approvals().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].recommended, pending[0].options[0].id, "recommended option first");
    assert!(pending[0].what_happened.contains("NON_ZERO_EXIT"));
    assert!(pending[0].options.iter().any(|o| o.id == "abort"));
}

#[tokio::test]
async fn secrets_never_reach_the_journal_or_the_report() {
    let server = FaultServer::start([("/api", Script::new().always(Reply::status(401, "bad token")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-token-value-9f8e7d";
    let job = format!(
        "name = \"t\"\nsecrets = [\"MEND_TEST_API_KEY\"]\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\", headers = {{ Authorization = \"Bearer ${{env:MEND_TEST_API_KEY}}\", X-Trace = \"${{env:MEND_TEST_API_KEY}}\" }} }}\n[[steps]]\ntool = \"exec\"\nargs = {{ shell = \"echo using ${{env:MEND_TEST_API_KEY}} >&2; exit 1\" }}\n",
        server.url("/api")
    );
    let mut setup = Setup::new(Arc::new(StandingApprover::Recommended));
    setup.env.push(("MEND_TEST_API_KEY".into(), secret.into()));
    let job = job.replace("[[steps]]\ntool = \"exec\"", "optional = true\n[[steps]]\ntool = \"exec\"");
    let ran = run_job(dir.path(), &job, setup).await;
    assert!(ran.report.steps[0].final_outcome.is_some());
    let everything = serde_json::to_string(&ran.events).unwrap() + &serde_json::to_string(&ran.report).unwrap();
    assert!(!everything.contains(secret), "the secret leaked");
    assert!(everything.contains("[REDACTED"), "redaction markers expected");
    let approvals = Reader::open(&ran.journal).unwrap().pending_approvals().unwrap();
    assert!(!serde_json::to_string(&approvals).unwrap().contains(secret));
    // The raw database file, WAL included, never saw it either.
    for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("journal") {
            let bytes = std::fs::read(f.path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{:?} holds the secret", f.path());
        }
    }
}

#[tokio::test]
async fn metrics_and_logs_read_back_what_happened() {
    let server =
        FaultServer::start([("/flaky", Script::new().then(1, Reply::status(503, "busy")).always(Reply::ok("fine")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nretry = {{ base = \"10ms\" }}\n",
        server.url("/flaky")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    let r = Reader::open(&ran.journal).unwrap();
    let m = r.metrics(None).unwrap();
    assert_eq!(m.calls, 2);
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.by_code_action.len(), 1);
    assert_eq!((m.by_code_action[0].code.as_str(), m.by_code_action[0].action.as_str()), ("SERVER_ERROR", "retry_same"));
    assert_eq!((m.by_code_action[0].attempts, m.by_code_action[0].successes), (1, 1));
    assert_eq!(m.recovery.recovered, 1);
    assert_eq!(m.recovery.attempts_avg, 1.0);
    assert_eq!((m.healing.failed_first, m.healing.autonomous), (1, 1));
    assert_eq!(m.runs, vec![("succeeded".to_owned(), 1)]);
    let stats = r.stats().unwrap();
    assert_eq!(stats.by_code_action[&("SERVER_ERROR".to_owned(), "retry_same".to_owned())], (1, 1));
}

#[tokio::test]
async fn a_standing_rule_cannot_retry_forever() {
    // Always failing, transient: the recommendation is "retry" once, then not.
    let server = FaultServer::start([("/down", Script::new().always(Reply::status(503, "down")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nretry = {{ max = 1, base = \"10ms\" }}\nmax_attempts = 2\n",
        server.url("/down")
    );
    let ran = tokio::time::timeout(Duration::from_secs(30), run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Recommended))))
        .await
        .expect("the run must end");
    assert_eq!(ran.report.status, RunStatus::Failed);
    let decisions: Vec<&str> = ran.report.steps[0].escalations.iter().map(|e| e.decision.as_ref().unwrap().option.as_str()).collect();
    assert_eq!(decisions, ["retry", "abort"]);
}

#[tokio::test]
async fn a_timed_out_post_is_verified_before_it_is_sent_again() {
    let server = FaultServer::start([
        ("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#).after_ms(1000))),
        ("/orders/42", Script::new().always(Reply::json(200, r#"{"id": 42}"#))),
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", json = {{ sku = \"A-1\" }}, timeout_ms = 150 }}\nverify = {{ tool = \"http\", args = {{ url = \"{}\" }} }}\n",
        server.url("/orders"),
        server.url("/orders/42")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Verified);
    assert_eq!(ran.actions(0), ["verify_state"]);
    assert_eq!(server.hits("/orders"), 1, "the order was not placed twice");
}

#[tokio::test]
async fn a_step_wall_clock_stops_healing() {
    let server = FaultServer::start([("/down", Script::new().always(Reply::status(503, "down")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Backoff delays are recorded at full length; the step's 300 ms budget
    // cannot hold a 2 s wait, so it escalates instead of sleeping.
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nwall_clock = \"300ms\"\nretry = {{ base = \"2s\", max = 5 }}\n",
        server.url("/down")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.report.status, RunStatus::Failed);
    assert!(ran.sleeps.is_empty(), "{:?}", ran.sleeps);
    let rejected = ran.rejections();
    assert!(rejected.iter().any(|r| r.contains("wall-clock")), "{rejected:?}");
}

/// Issue 12: a run whose process died while a call that changes the world
/// was running goes on by asking first ("this call may have run"), with the
/// verify call's answer as the recommendation; nothing runs twice silently.
#[tokio::test]
async fn a_call_that_may_have_run_is_asked_about_before_it_runs_again() {
    use mend_core::approval::ApprovalKind;
    use mend_core::engine::{InDoubt, Restart};
    let script = "echo ran >> marks.log; rm -rf old";
    for (effect_there, runs, status) in [(true, 0, StepStatus::Skipped), (false, 1, StepStatus::Succeeded)] {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("old")).unwrap();
        if effect_there {
            std::fs::write(d.path().join("done"), "").unwrap();
        }
        let job = format!(
            "name = \"wipe\"\n[[steps]]\nname = \"first\"\ntool = \"exec\"\nargs = {{ shell = \"echo first >> first.log\" }}\n\
             [[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = {{ shell = \"{script}\" }}\n\
             verify = {{ tool = \"exec\", args = {{ program = \"test\", args = [\"-e\", \"done\"] }} }}\n"
        );
        let in_doubt = InDoubt { tool: "exec".into(), call: script.into(), started_ms: 0, purpose: "call".into(), stopped: None };
        let mut setup = Setup::new(Arc::new(StandingApprover::Recommended));
        setup.restart = Some(Restart { step: Some("wipe".into()), in_doubt: Some(in_doubt), prior: None });
        let ran = run_job(d.path(), &job, setup).await;
        let asked = ran.requests();
        assert_eq!(asked.len(), 1, "asked once, before anything ran");
        let req = asked[0].clone();
        assert_eq!(req.kind, ApprovalKind::InDoubt);
        assert!(req.title.contains("may have run"), "{}", req.title);
        assert_eq!(req.recommended, if effect_there { "ran" } else { "run" }, "the verify call's answer decides the recommendation");
        assert!(req.diagnosis.contains("verify call"), "{}", req.diagnosis);
        let marks = std::fs::read_to_string(d.path().join("marks.log")).unwrap_or_default();
        assert_eq!(marks.lines().count(), runs, "effect there: {effect_there}");
        assert_eq!(ran.report.steps[1].status, status);
        assert_eq!(ran.report.steps[0].status, StepStatus::NotRun, "steps before the restart are not run again");
        assert!(!d.path().join("first.log").exists());
        // Running it again was the person's (here: the standing answer's) call, approved as shown: not asked twice.
        if runs == 1 {
            assert!(!d.path().join("old").exists());
            assert!(ran.kind(EventKind::CallStarted).iter().any(|e| e.step.as_deref() == Some("wipe")), "written ahead");
        }
    }
}

/// Issue 14: when every proposal is refused, the person reads the real
/// reason, not "no automatic fix applies".
#[tokio::test]
async fn a_refused_proposal_tells_the_person_why() {
    let server =
        FaultServer::start([("/limited", Script::new().always(Reply::status(429, "quota").header("Retry-After", "86400")))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nretry = {{ max_delay = \"2s\" }}\n",
        server.url("/limited")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    let asked = &ran.report.steps[0].escalations;
    assert_eq!(asked.len(), 1);
    let req = ran.requests()[0].clone();
    assert!(req.diagnosis.contains("the service asked to wait 86,400 s, over this step's max_delay of 2 s"), "{}", req.diagnosis);
    assert!(!req.diagnosis.contains("no automatic fix applies"), "{}", req.diagnosis);

    // With no proposal at all, the reason names the code and what the step lacks.
    let server = FaultServer::start([("/bad", Script::new().always(Reply::status(400, "bad field")))]).await.unwrap();
    let job = format!("name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n", server.url("/bad"));
    let dir = tempfile::tempdir().unwrap();
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    let req = ran.requests()[0].clone();
    assert!(
        req.diagnosis.contains("INVALID_ARGS is not retried") && req.diagnosis.contains("declares no alternative"),
        "{}",
        req.diagnosis
    );
}

/// Issue 14: the command-line failures a person would recognise, with the
/// code and the telling line a person reads.
#[tokio::test]
async fn command_failures_keep_their_code_and_telling_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = "name = \"t\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"ls\", args = [\"--bad-flag\"] }\n";
    let ran = run_job(dir.path(), job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    let f = ran.report.steps[0].failure.as_ref().unwrap();
    assert_eq!(f.code, "INVALID_ARGS");
    assert!(f.message.contains("unrecognized option '--bad-flag'"), "{}", f.message);
    let req = ran.requests()[0].clone();
    assert!(req.diagnosis.contains("INVALID_ARGS is not retried"), "{}", req.diagnosis);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/report.csv"), "a,b\n").unwrap();
    let job = "name = \"t\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"cat data/reprot.csv | wc -l\" }\n";
    let ran = run_job(dir.path(), job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    // `cat` fails inside a pipeline whose last command succeeds: the shell
    // reports success, so nothing to heal — the step is what the script says.
    assert_eq!(ran.report.steps[0].status, StepStatus::Succeeded);
    let job = "name = \"t\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"set -e; cat data/reprot.csv; echo done\" }\n";
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir2.path().join("data")).unwrap();
    std::fs::write(dir2.path().join("data/report.csv"), "a,b\n").unwrap();
    let ran = run_job(dir2.path(), job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed, "{:#?}", ran.report.steps[0]);
    let out = ran.report.steps[0].final_outcome.as_ref().unwrap().output.to_string();
    assert!(out.contains("a,b") && out.contains("done"), "{out}");
    let attempt = &ran.report.steps[0].attempts[0];
    assert!(attempt.root_cause.contains("found data/report.csv nearby"), "{}", attempt.root_cause);
}
