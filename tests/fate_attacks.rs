//! Red team of issue 14's promise: a call that is not safe to repeat and
//! whose outcome is unknown is never sent again without a verify answer, a
//! key or a person; a keyed step sends the same key on every attempt.
//!
//! Each test asserts the promised behaviour against real loopback servers,
//! real processes and the real engine, tools and journal. A test marked
//! `#[ignore = "red team: …"]` shows a way the promise breaks today (it fails
//! when run with `--ignored`); the others are guards that hold.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mend_core::action::{Action, Diagnosis};
use mend_core::approval::StandingApprover;
use mend_core::diagnose::{Diagnoser, DiagnosisContext};
use mend_core::report::StepStatus;
use mend_faults::{FaultServer, Reply, Script, closed_port};
use mend_tests::{Setup, run_job};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw loopback HTTP server for answers `mend-faults` cannot give (a
/// malformed status line, a broken chunked body): each connection reads one
/// request (head, and body by Content-Length), records its request line,
/// writes the next scripted bytes (the last repeats) and closes.
struct Raw {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Raw {
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn raw(replies: Vec<&'static [u8]>) -> Raw {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let reply = replies[n.min(replies.len() - 1)];
            n += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let end = loop {
                    let k = sock.read(&mut chunk).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                            .map(|(_, v)| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut have = buf.len() - end;
                while have < len {
                    let k = sock.read(&mut chunk).await.unwrap_or(0);
                    if k == 0 {
                        break;
                    }
                    have += k;
                }
                log.lock().unwrap().push(head.lines().next().unwrap_or("").to_owned());
                let _ = sock.write_all(reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Raw { url, seen }
}

fn abort() -> Setup {
    Setup::new(Arc::new(StandingApprover::Abort))
}

fn post_step(url: &str, extra: &str) -> String {
    format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{url}\", method = \"POST\", json = {{ sku = \"A-1\" }}, timeout_ms = 2000 }}\nretry = {{ base = \"10ms\" }}\n{extra}"
    )
}

// ---------------------------------------------------------------------------
// HTTP: a POST the server received and acted on, reported as a failure whose
// fate Mend thinks it knows.
// ---------------------------------------------------------------------------

/// `303 See Other` is the server saying "I processed your POST, the result
/// is over there". When following the redirect fails to connect, reqwest
/// reports a connect error, the tool adds `sent: false`, and the POST —
/// which was sent and acted on — is retried by the policy alone.
#[tokio::test]
async fn a_post_answered_303_to_an_unreachable_location_is_not_posted_again() {
    let dead = format!("http://127.0.0.1:{}/orders/42", closed_port());
    let server = FaultServer::start([("/orders", Script::new().always(Reply::status(303, "").header("Location", &dead)))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = run_job(dir.path(), &post_step(&server.url("/orders"), ""), abort()).await;
    assert_eq!(
        server.hits("/orders"),
        1,
        "the order was placed (303) and then POSTed again: {:?} {:?}",
        ran.actions(0),
        ran.report.steps[0].failure
    );
}

/// The same, when the result page the 303 points at is briefly unavailable
/// (a lagging replica): the final answer is the GET's 503, the tool calls it
/// a `SERVER_ERROR` of the POST, and the POST is sent again.
#[tokio::test]
async fn a_post_answered_303_whose_result_page_fails_is_not_posted_again() {
    let server = FaultServer::start([
        ("/orders", Script::new().always(Reply::status(303, "").header("Location", "/orders/42"))),
        ("/orders/42", Script::new().always(Reply::status(503, "replica lagging"))),
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = run_job(dir.path(), &post_step(&server.url("/orders"), ""), abort()).await;
    let posts = server.requests("/orders").iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 1, "the order was placed (303) and then POSTed again: {:?}", ran.actions(0));
}

/// `504 Gateway Timeout`: a proxy gave up waiting for the upstream, which
/// may well have done the work — a timeout, unknown fate. Mend files it as
/// `SERVER_ERROR` and retries the POST (the same holds for `curl --fail`
/// in an `exec` step: exit 22 "returned error: 504" is `SERVER_ERROR`).
#[tokio::test]
async fn a_post_answered_504_gateway_timeout_is_not_posted_again() {
    let server = FaultServer::start([(
        "/orders",
        Script::new().then(1, Reply::status(504, "upstream timed out")).always(Reply::json(201, r#"{"id": 43}"#)),
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = run_job(dir.path(), &post_step(&server.url("/orders"), ""), abort()).await;
    assert_eq!(server.hits("/orders"), 1, "504 then a second POST: {:?}", ran.actions(0));
}

/// A response Mend cannot parse (a garbled status line, a broken chunked
/// body after `201 Created`, two Content-Lengths) comes after the server
/// read the whole request: its fate is unknown. The tool files it as
/// `IO_ERROR` (not `CONNECTION_RESET`), so the step is never in doubt and
/// the policy's `use_alternative` POSTs the same order to the backup.
#[tokio::test]
async fn an_unparseable_answer_to_a_post_does_not_send_the_alternative() {
    let answers: [(&str, &'static [u8]); 4] = [
        ("garbled status line", b"HTTP/1.1 2O1 Created\r\nContent-Length: 0\r\n\r\n"),
        ("bad chunk after 201", b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"id\": 42}"),
        ("two content-lengths", b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n{\"id\": 42}"),
        ("HTTP/0.9 body", b"{\"id\": 42}\n"),
    ];
    let mut broken = Vec::new();
    for (name, bytes) in answers {
        let main = raw(vec![bytes]).await;
        let backup = FaultServer::start([("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#)))]).await.unwrap();
        let alt = format!(
            "[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", json = {{ sku = \"A-1\" }} }}\n",
            backup.url("/orders")
        );
        let dir = tempfile::tempdir().unwrap();
        let ran = run_job(dir.path(), &post_step(&format!("{}/orders", main.url), &alt), abort()).await;
        let sends = main.hits() + backup.hits("/orders");
        if sends != 1 {
            let code = ran.report.steps[0].failure.as_ref().map(|f| f.code.clone());
            broken.push(format!("{name}: {sends} POSTs ({code:?}, {:?})", ran.actions(0)));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

// ---------------------------------------------------------------------------
// exec: a command killed part-way, as a shell reports it.
// ---------------------------------------------------------------------------

/// A script whose command is killed by a signal (the OOM killer, `timeout`,
/// a `kill`) exits 128+N, 124 from `timeout(1)`, or curl's 18 (the answer
/// broke off): `NON_ZERO_EXIT`, not `KILLED_BY_SIGNAL`/`TIMEOUT`/
/// `CONNECTION_RESET`. The step is not in doubt and the declared
/// alternative — the same work — runs.
#[tokio::test]
async fn a_command_killed_part_way_inside_a_shell_is_not_run_again() {
    let broke = raw(vec![b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"id\":"]).await;
    let scripts = [
        // The child killed by SIGKILL, as the OOM killer does: the shell exits 137.
        ("child SIGKILL (exit 137)", "set -e; echo sent >> sent.log; timeout -s KILL 0.1 sleep 5; echo done".to_owned()),
        ("child SIGTERM (exit 143)", "echo sent >> sent.log; timeout --preserve-status 0.1 sleep 5".to_owned()),
        ("timeout(1)", "echo sent >> sent.log; timeout 0.1 sleep 5".to_owned()),
        ("curl answer broke off (18)", format!("echo sent >> sent.log; curl -sS -X POST -d sku=A-1 {}/orders", broke.url)),
    ];
    let mut broken = Vec::new();
    for (name, script) in scripts {
        let dir = tempfile::tempdir().unwrap();
        let job = format!(
            "name = \"t\"\n[[steps]]\nname = \"ship\"\ntool = \"exec\"\nargs = {{ shell = \"{}\" }}\n\
             [[steps.alternatives]]\ntool = \"exec\"\nargs = {{ shell = \"echo sent >> sent.log\" }}\n",
            script.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let ran = run_job(dir.path(), &job, abort()).await;
        let sent = std::fs::read_to_string(dir.path().join("sent.log")).unwrap_or_default().lines().count();
        if sent != 1 {
            let code = ran.report.steps[0].failure.as_ref().map(|f| f.code.clone());
            broken.push(format!("{name}: ran {sent} times ({code:?}, {:?})", ran.actions(0)));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// A command that ran to its end and failed says why: by default its
/// transient causes are retried like any call's (the issue's EAGAIN and
/// `curl --fail` 503 heal). A step whose command can fail *after* doing its
/// work says `idempotent = false`: then no failure of a command that ran is
/// retried or replaced by an alternative without its verify call or a
/// person (docs/job-format.md). A `curl --fail -X POST` answered 504, a
/// script that did its work and then could not reach a notifier, a script
/// whose stdout says "rate limit": each runs once.
#[tokio::test]
async fn a_command_that_did_its_work_is_not_run_again_because_its_output_names_a_transient_cause() {
    let server = FaultServer::start([("/orders", Script::new().always(Reply::status(504, "upstream timed out")))]).await.unwrap();
    let dead = format!("http://127.0.0.1:{}/notify", closed_port());
    let scripts = [
        ("curl --fail POST answered 504", format!("echo sent >> sent.log; curl -sS --fail -X POST -d sku=A-1 {}", server.url("/orders"))),
        ("work done, then the notifier refused", format!("echo sent >> sent.log; curl -sS {dead}")),
        ("work done, stdout says rate limit", "echo sent >> sent.log; echo 'warehouse: rate limit near'; exit 1".to_owned()),
    ];
    let mut broken = Vec::new();
    for (name, script) in scripts {
        let dir = tempfile::tempdir().unwrap();
        let job = format!(
            "name = \"t\"\n[[steps]]\nname = \"ship\"\ntool = \"exec\"\nargs = {{ shell = \"{}\" }}\nretry = {{ base = \"10ms\" }}\nidempotent = false\n\
             [[steps.alternatives]]\ntool = \"exec\"\nargs = {{ shell = \"echo sent >> sent.log\" }}\n",
            script.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let ran = run_job(dir.path(), &job, abort()).await;
        let sent = std::fs::read_to_string(dir.path().join("sent.log")).unwrap_or_default().lines().count();
        if sent != 1 {
            let code = ran.report.steps[0].failure.as_ref().map(|f| f.code.clone());
            broken.push(format!("{name}: ran {sent} times ({code:?}, {:?})", ran.actions(0)));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

// ---------------------------------------------------------------------------
// The idempotency key: the same value on every attempt.
// ---------------------------------------------------------------------------

/// A layer (a model, a lesson) that proposes the failed call with a header
/// changed: here, a fresh `Idempotency-Key`.
struct FreshKey;

#[async_trait]
impl Diagnoser for FreshKey {
    fn layer(&self) -> &str {
        "llm"
    }
    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let mut args = cx.args.clone();
        args["headers"] = json!({"Idempotency-Key": "fresh-key-from-the-model"});
        vec![Diagnosis::new("llm", Action::RetryModified { args }, "the old key may be burnt: use a new one")]
    }
}

/// The engine sends the step's key "unless the call sets that header
/// itself" — and a healing proposal may set it. The POST goes out again
/// under a key the server never saw, so its dedup cannot help.
#[tokio::test]
async fn a_healing_proposal_cannot_change_the_steps_idempotency_key() {
    let server = FaultServer::start([(
        "/orders",
        Script::new().then(1, Reply::json(201, r#"{"id": 42}"#).after_ms(400)).always(Reply::json(201, r#"{"id": 42}"#)),
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", timeout_ms = 150 }}\nidempotency_key = true\n",
        server.url("/orders")
    );
    let mut setup = abort();
    setup.layers.push(Arc::new(FreshKey));
    let ran = run_job(dir.path(), &job, setup).await;
    let keys: Vec<Option<String>> = server.requests("/orders").iter().map(|s| s.header("idempotency-key").map(str::to_owned)).collect();
    assert!(keys.len() >= 2, "the keyed POST is retried: {:?}", ran.actions(0));
    assert!(keys.iter().all(|k| k == &keys[0]), "every attempt of a keyed step carries the same key: {keys:?}");
}

/// The same through a lesson written by hand in MEMORY.md (the lesson
/// layer, through `mend_agent::Agent`, as `mend run --memory` runs it).
#[tokio::test]
async fn a_lesson_cannot_change_the_steps_idempotency_key() {
    let server = FaultServer::start([(
        "/orders",
        Script::new().then(1, Reply::json(201, r#"{"id": 42}"#).after_ms(400)).always(Reply::json(201, r#"{"id": 42}"#)),
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let memory = dir.path().join("MEMORY.md");
    std::fs::write(
        &memory,
        "# lessons\n\n## shop API\n\n- When the order API times out, send it with a new key.\n  \
         - when: `http` `TIMEOUT` \"127.0.0.1\"\n  \
         - fix: retry_modified `{\"headers\": {\"Idempotency-Key\": \"fresh-key-from-a-lesson\"}, \"timeout_ms\": 2000}`\n  \
         - id: fresh-key\n",
    )
    .unwrap();
    let text = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", timeout_ms = 150 }}\nidempotency_key = true\n",
        server.url("/orders")
    );
    let job = mend_core::job::Job::parse(&text, "job.toml", dir.path()).unwrap();
    let agent = mend_agent::Agent::open_with(&dir.path().join("data"), Some(&memory)).unwrap();
    let spec = mend_agent::RunSpec::new(&job, std::env::vars().collect());
    let ended = agent.execute(spec, Arc::new(StandingApprover::Abort), None, std::future::pending::<String>()).await.unwrap();
    agent.close();
    let mend_agent::Ended::Finished(report) = ended else { panic!("interrupted") };
    let keys: Vec<Option<String>> = server.requests("/orders").iter().map(|s| s.header("idempotency-key").map(str::to_owned)).collect();
    let layers: Vec<&str> = report.steps[0].attempts.iter().map(|a| a.layer.as_str()).collect();
    assert!(keys.len() >= 2, "the keyed POST is retried: {layers:?}");
    assert!(keys.iter().all(|k| k == &keys[0]), "every attempt of a keyed step carries the same key ({layers:?}): {keys:?}");
}

// ---------------------------------------------------------------------------
// Guards: what holds today.
// ---------------------------------------------------------------------------

/// A body that breaks off after `201 Created` headers (short of its
/// Content-Length, or mid-chunk) is a `CONNECTION_RESET` of unknown fate:
/// neither the policy nor the alternative sends the POST again.
#[tokio::test]
async fn a_body_that_breaks_off_after_the_headers_leaves_the_post_in_doubt() {
    let answers: [&'static [u8]; 3] = [
        b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"id\":",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"id\"",
        b"HTTP/1.1 201 Created\r\nContent-Le",
    ];
    for bytes in answers {
        let main = raw(vec![bytes]).await;
        let backup = FaultServer::start([("/orders", Script::new().always(Reply::json(201, "{}")))]).await.unwrap();
        let alt = format!("[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\" }}\n", backup.url("/orders"));
        let dir = tempfile::tempdir().unwrap();
        let ran = run_job(dir.path(), &post_step(&format!("{}/orders", main.url), &alt), abort()).await;
        assert_eq!(main.hits() + backup.hits("/orders"), 1, "{:?}", ran.actions(0));
        assert!(ran.report.steps[0].failure.as_ref().is_some_and(|f| f.in_doubt), "{:?}", ran.report.steps[0].failure);
    }
}

/// `--approve recommended` on a call in doubt takes "It happened: go on",
/// never "Send it again"; a POST that timed out is sent once.
#[tokio::test]
async fn a_standing_recommended_answer_does_not_resend_a_call_in_doubt() {
    let server = FaultServer::start([("/orders", Script::new().always(Reply::json(201, "{}").after_ms(400)))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", timeout_ms = 100 }}\n",
        server.url("/orders")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Recommended))).await;
    assert_eq!(server.hits("/orders"), 1);
    assert_eq!(ran.report.steps[0].status, StepStatus::Skipped);
}

/// The step's key never goes to its verify call, and a lower-case method
/// (which `Tool::effect` would read as neither GET nor POST) is refused
/// when the job is checked.
#[tokio::test]
async fn the_key_stays_off_the_verify_call_and_odd_method_spellings_are_refused() {
    let server = FaultServer::start([
        ("/orders", Script::new().always(Reply::status(409, "order already exists"))),
        ("/orders/42", Script::new().always(Reply::json(200, r#"{"id": 42}"#))),
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\" }}\nidempotency_key = true\n\
         verify = {{ tool = \"http\", args = {{ url = \"{}\" }} }}\n",
        server.url("/orders"),
        server.url("/orders/42")
    );
    let ran = run_job(dir.path(), &job, abort()).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Verified, "{:?}", ran.report.steps[0]);
    assert!(server.requests("/orders").iter().all(|s| s.header("idempotency-key").is_some()));
    assert_eq!(server.hits("/orders/42"), 1);
    assert!(server.requests("/orders/42").iter().all(|s| s.header("idempotency-key").is_none()));
    let registry = mend_tools::default_registry();
    for m in ["post", "Post", "POST ", "TRACE", "CONNECT"] {
        let text = format!("name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:9/o\", method = \"{m}\" }}\n");
        let job = mend_core::job::Job::parse(&text, "job.toml", dir.path()).unwrap();
        assert!(job.check("job.toml", &registry, &[]).is_err(), "method {m:?} passes the check");
    }
}
