//! Issue 14, the kind and not the example: every combination of method,
//! failure, verify answer, idempotency marking, a diagnosis layer that
//! pushes every kind of resend, and who answers the request, through the
//! real engine, tools, journal and a loopback server. The invariant, read
//! from the journal: a call that is not safe to repeat and whose outcome is
//! unknown is sent again only after a verify call answered "not there" or a
//! person chose "send it again" — never because of a layer, a lesson, a
//! standing answer or an alternative.

use std::sync::Arc;

use async_trait::async_trait;
use mend_core::action::{Action, Diagnosis};
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, Decision, StandingApprover};
use mend_core::diagnose::{Diagnoser, DiagnosisContext};
use mend_core::engine::says_not_done;
use mend_core::payload::{Body, CallPurpose};
use mend_core::report::StepStatus;
use mend_faults::{FaultServer, Reply, Script};
use mend_tests::{Setup, run_job};
use serde_json::json;

/// A layer that proposes every resend there is, before the policy.
struct Pushy;

#[async_trait]
impl Diagnoser for Pushy {
    fn layer(&self) -> &str {
        "pushy"
    }
    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let mut longer = cx.args.clone();
        longer["timeout_ms"] = json!(5_000);
        vec![
            Diagnosis::new("pushy", Action::RetrySame { delay_ms: 0 }, "send it again"),
            Diagnosis::new("pushy", Action::RetryModified { args: longer }, "longer timeout"),
            Diagnosis::new("pushy", Action::UseAlternative { index: 0 }, "the backup"),
        ]
    }
}

/// A person who says "send it again" once, then "it happened".
struct SendOnce(std::sync::Mutex<u32>);

#[async_trait]
impl Approver for SendOnce {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        let option = match (*n, req.option("run").is_some()) {
            (1, true) => "run",
            (_, _) if req.option("ran").is_some() => "ran",
            _ => "abort",
        };
        Answer::Decided(Decision {
            option: option.into(),
            instructions: None,
            decided_by: DecidedBy::Person { who: "ana".into() },
            decided_ms: 0,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Verify {
    None,
    Holds,
    NotThere,
    CannotTell,
}

#[derive(Debug, Clone, Copy)]
enum Mark {
    Plain,
    Key,
    Idempotent,
    NotIdempotent,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Abort,
    Recommended,
    Person,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    method: &'static str,
    drop: bool,
    verify: Verify,
    mark: Mark,
    pushy: bool,
    who: Who,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for method in ["POST", "PATCH", "PUT", "GET"] {
        for drop in [false, true] {
            for verify in [Verify::None, Verify::Holds, Verify::NotThere, Verify::CannotTell] {
                for mark in [Mark::Plain, Mark::Key, Mark::Idempotent, Mark::NotIdempotent] {
                    for pushy in [false, true] {
                        for who in [Who::Abort, Who::Recommended, Who::Person] {
                            out.push(Case { method, drop, verify, mark, pushy, who });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether the case's call may be sent again with its outcome unknown.
fn repeatable(c: &Case) -> bool {
    match c.mark {
        Mark::Key | Mark::Idempotent => true,
        Mark::NotIdempotent => false,
        Mark::Plain => matches!(c.method, "PUT" | "GET"),
    }
}

/// Runs one case; returns a description of the broken promise, if any.
async fn check(c: Case) -> Result<(), String> {
    let first = if c.drop { Reply::Drop } else { Reply::json(201, r#"{"id": 42}"#).after_ms(600) };
    let verify_reply = match c.verify {
        Verify::Holds => Reply::json(200, r#"{"id": 42}"#),
        Verify::NotThere => Reply::status(404, "no such order"),
        _ => Reply::status(503, "down"),
    };
    let server = FaultServer::start([
        ("/orders", Script::new().then(1, first).always(Reply::json(201, r#"{"id": 42}"#))),
        ("/orders/42", Script::new().always(verify_reply)),
        ("/backup", Script::new().always(Reply::json(201, r#"{"id": 42}"#))),
    ])
    .await
    .map_err(|e| e.to_string())?;
    let mut job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"{}\", json = {{ sku = \"A-1\" }}, timeout_ms = 150 }}\nretry = {{ base = \"10ms\" }}\n",
        server.url("/orders"),
        c.method
    );
    match c.mark {
        Mark::Key => job.push_str("idempotency_key = true\n"),
        Mark::Idempotent => job.push_str("idempotent = true\n"),
        Mark::NotIdempotent => job.push_str("idempotent = false\n"),
        Mark::Plain => {}
    }
    if !matches!(c.verify, Verify::None) {
        job.push_str(&format!("verify = {{ tool = \"http\", args = {{ url = \"{}\" }} }}\n", server.url("/orders/42")));
    }
    job.push_str(&format!(
        "[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"{}\", json = {{ sku = \"A-1\" }} }}\n",
        server.url("/backup"),
        c.method
    ));
    let approver: Arc<dyn Approver> = match c.who {
        Who::Abort => Arc::new(StandingApprover::Abort),
        Who::Recommended => Arc::new(StandingApprover::Recommended),
        Who::Person => Arc::new(SendOnce(std::sync::Mutex::new(0))),
    };
    let mut setup = Setup::new(approver);
    if c.pushy {
        setup.layers.push(Arc::new(Pushy));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ran = run_job(dir.path(), &job, setup).await;
    let sends = server.hits("/orders") + server.hits("/backup");

    // The journal's story, in order: sends, verify answers, decisions.
    let mut sent = 0;
    let mut cleared = false;
    for e in &ran.events {
        match &e.body {
            Body::Call(call) => {
                if call.purpose == CallPurpose::Verify {
                    cleared |= says_not_done(&call.outcome);
                    continue;
                }
                if sent >= 1 && !repeatable(&c) && !cleared {
                    return Err(format!("sent again without a verify answer or a person: {sends} sends"));
                }
                sent += 1;
                if call.outcome.error.as_ref().is_some_and(mend_core::outcome::fate_unknown) {
                    cleared = false;
                }
            }
            Body::Decision(d) if d.decision.option == "run" => cleared = true,
            _ => {}
        }
    }
    // Nothing reaches the server that the journal does not hold. (A call
    // the journal holds may not have reached it: under load a short
    // timeout can end a retry before the server read it.)
    if sends > sent {
        return Err(format!("the server saw {sends} requests, the journal holds {sent} sends"));
    }
    let status = ran.report.steps[0].status;
    let person_resent = matches!(c.who, Who::Person);
    let expect_ok = repeatable(&c) || matches!(c.verify, Verify::Holds | Verify::NotThere) || person_resent;
    if expect_ok != status.is_ok() && !(matches!(c.who, Who::Recommended) && status == StepStatus::Skipped) {
        return Err(format!("step ended {status:?}"));
    }
    if !repeatable(&c) && matches!(c.verify, Verify::Holds) && (sends > 1 || status != StepStatus::Verified) {
        return Err(format!("the verify call said it happened: {sends} sends, {status:?}"));
    }
    if !repeatable(&c) && matches!(c.verify, Verify::None | Verify::CannotTell) && !person_resent && sends > 1 {
        return Err(format!("{sends} sends with no verify answer and no person"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_of_unknown_fate_is_never_sent_again_unless_a_check_or_a_person_says_so() {
    let all = cases();
    let mut failures = Vec::new();
    for chunk in all.chunks(12) {
        let mut set = tokio::task::JoinSet::new();
        for &c in chunk {
            set.spawn(async move { (c, check(c).await) });
        }
        while let Some(r) = set.join_next().await {
            let (c, r) = r.expect("a case panicked");
            if let Err(why) = r {
                failures.push(format!("{c:?}: {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases broke the promise:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[tokio::test]
async fn every_attempt_of_a_step_carries_the_same_idempotency_key() {
    let server = FaultServer::start([(
        "/orders",
        Script::new().then(1, Reply::Drop).then(1, Reply::status(503, "busy")).always(Reply::json(201, r#"{"id": 42}"#)),
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", json = {{ sku = \"A-1\" }} }}\nidempotency_key = true\nretry = {{ base = \"10ms\" }}\n\
         [[steps]]\nname = \"again\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\" }}\nidempotency_key = \"X-Request-Id\"\n",
        server.url("/orders"),
        server.url("/orders")
    );
    let ran = run_job(dir.path(), &job, Setup::new(Arc::new(StandingApprover::Abort))).await;
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed, "{:#?}", ran.report.steps[0]);
    let seen = server.requests("/orders");
    assert_eq!(seen.len(), 4, "three attempts of the first step, one of the second");
    let keys: Vec<Option<&str>> = seen[..3].iter().map(|s| s.header("idempotency-key")).collect();
    let key = keys[0].expect("the key is sent");
    assert!(keys.iter().all(|k| *k == Some(key)), "the same key on every attempt: {keys:?}");
    // A UUID (RFC 9562 version 8).
    assert_eq!(key.len(), 36, "{key}");
    assert_eq!(&key[14..15], "8", "{key}");
    // The other step's key goes in the header it names, and differs.
    let other = seen[3].header("x-request-id").expect("the named header");
    assert_ne!(other, key);
    assert_eq!(seen[3].header("idempotency-key"), None);
    // The journal keeps it with each call.
    let journaled: Vec<&str> = ran
        .events
        .iter()
        .filter_map(|e| if let Body::Call(c) = &e.body { c.idempotency_key.as_ref().map(|k| k.value.as_str()) } else { None })
        .collect();
    assert_eq!(journaled, [key, key, key, other]);
}

#[tokio::test]
async fn a_remembered_decision_never_answers_a_call_in_doubt() {
    use mend_core::approval::{ApprovalKind, DecisionRule, RuleScope};
    use mend_core::clock::RecordingClock;
    use mend_core::engine::{Engine, RunOptions};
    use mend_core::job::Job;
    let server = FaultServer::start([("/orders", Script::new().always(Reply::json(201, "{}").after_ms(600)))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", timeout_ms = 150 }}\n",
        server.url("/orders")
    );
    let job = Job::parse(&text, "job.toml", dir.path()).unwrap();
    let journal = Arc::new(mend_journal::SqliteJournal::open(&dir.path().join("j.sqlite3")).unwrap());
    // Rules that would answer "send it again" (or "retry") for anything.
    let mut rules = Vec::new();
    for kind in [ApprovalKind::InDoubt, ApprovalKind::Escalation] {
        for option in ["run", "retry"] {
            let id = format!("r-{option}-{kind:?}");
            rules.push(DecisionRule { id, scope: RuleScope::Always, kind, option: option.into(), created_ms: 0, note: None, agent: None });
        }
    }
    let engine = Engine::new(Arc::new(mend_tools::default_registry()), journal.clone(), Arc::new(StandingApprover::Abort))
        .with_clock(Arc::new(RecordingClock::new(20)))
        .with_rules(rules);
    let report = engine.run(&job, RunOptions::default()).await.unwrap();
    journal.close();
    assert_eq!(server.hits("/orders"), 1, "the remembered rule did not resend it");
    let decision = report.steps[0].escalations[0].decision.as_ref().unwrap();
    assert!(matches!(&decision.decided_by, DecidedBy::Policy { rule } if rule == "--approve abort"), "{decision:?}");
}

#[test]
fn a_verify_call_that_changes_something_or_a_key_a_tool_cannot_send_is_refused_with_its_place() {
    let registry = mend_tools::default_registry();
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let job = mend_core::job::Job::parse(text, "job.toml", dir.path()).unwrap();
        job.check("job.toml", &registry, &[]).map_err(|e| e.to_string())
    };
    let post_verify = "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = { url = \"http://127.0.0.1:9/o\", method = \"POST\" }\n\
                       verify = { tool = \"http\", args = { url = \"http://127.0.0.1:9/o\", method = \"POST\" } }\n";
    let e = check(post_verify).unwrap_err();
    assert!(e.contains("steps[0].verify") && e.contains("only reads"), "{e}");
    let fs_key =
        "name = \"t\"\n[[steps]]\ntool = \"fs\"\nargs = { op = \"write\", path = \"x\", content = \"y\" }\nidempotency_key = true\n";
    let e = check(fs_key).unwrap_err();
    assert!(e.contains("steps[0].idempotency_key") && e.contains("cannot send an idempotency key"), "{e}");
    let bad_header =
        "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = { url = \"http://127.0.0.1:9/o\" }\nidempotency_key = \"bad header\"\n";
    let e = mend_core::job::Job::parse(bad_header, "job.toml", dir.path()).unwrap_err().to_string();
    assert!(e.contains("job.toml:5") && e.contains("steps[0].idempotency_key"), "{e}");
    // A GET verify and a command verify are fine.
    let ok = "name = \"t\"\n[[steps]]\ntool = \"http\"\nargs = { url = \"http://127.0.0.1:9/o\", method = \"POST\" }\n\
              verify = { tool = \"exec\", args = { program = \"test\", args = [\"-e\", \"done\"] } }\nidempotency_key = \"X-Request-Id\"\n";
    check(ok).unwrap();
}

#[tokio::test]
async fn send_it_again_sends_the_call_in_doubt_not_the_alternative_tried_since() {
    let server = FaultServer::start([
        ("/orders", Script::new().then(1, Reply::json(201, "{}").after_ms(600)).always(Reply::json(201, "{}"))),
        ("/mirror", Script::new().always(Reply::status(404, "nothing here"))),
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "name = \"t\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", timeout_ms = 150 }}\n\
         [[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\" }}\n",
        server.url("/orders"),
        server.url("/mirror")
    );
    let person = Arc::new(SendOnce(std::sync::Mutex::new(0)));
    let mut setup = Setup::new(person);
    setup.layers.push(Arc::new(Pushy));
    let ran = run_job(dir.path(), &job, setup).await;
    // The read-only alternative (proposed by the layer) ran while the POST was in doubt, and failed.
    assert_eq!(server.hits("/mirror"), 1);
    let asked = ran.requests();
    assert!(asked[0].call.as_deref().is_some_and(|c| c.starts_with("POST")), "the question names the POST: {:?}", asked[0].call);
    assert_eq!(server.requests("/orders").iter().filter(|r| r.method == "POST").count(), 2, "the person's resend went to the POST");
    assert_eq!(ran.report.steps[0].status, StepStatus::Healed);
}
