//! Issue 14 as a new user meets it: a fresh data folder (the starter
//! MEMORY.md, whose `http-timeout-longer` lesson goes first for any HTTP
//! timeout), a POST whose server stores the request and answers after the
//! call's timeout. The POST reaches the server once unless the verify call
//! says it did not happen or a person says "send it again"; no lesson
//! learned from it sends it again. Real loopback server, real journal, real
//! memory file and index.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mend_agent::{Agent, Ended, RunSpec, load};
use mend_core::approval::{Answer, ApprovalKind, ApprovalRequest, Approver, DecidedBy, Decision};
use mend_core::config::Config;
use mend_core::payload::{Body, Guardrail};
use mend_core::report::{RunReport, StepStatus};
use mend_faults::{FaultServer, Reply, Script};
use mend_journal::LogFilter;

/// Answers requests in order, as a person would, and keeps them.
struct Person {
    answers: Mutex<VecDeque<&'static str>>,
    seen: Mutex<Vec<ApprovalRequest>>,
}

#[async_trait]
impl Approver for Person {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        self.seen.lock().unwrap().push(req.clone());
        let option = self.answers.lock().unwrap().pop_front().unwrap_or("abort");
        Answer::Decided(Decision {
            option: option.into(),
            instructions: None,
            decided_by: DecidedBy::Person { who: "ana".into() },
            decided_ms: 0,
        })
    }
}

fn person(answers: &[&'static str]) -> Arc<Person> {
    Arc::new(Person { answers: Mutex::new(answers.iter().copied().collect()), seen: Mutex::new(Vec::new()) })
}

async fn run(agent: &Agent, dir: &Path, toml: &str, approver: Arc<Person>) -> RunReport {
    let path = dir.join("job.toml");
    std::fs::write(&path, toml).unwrap();
    let job = load::job(&path, &Config::default(), &[]).unwrap();
    let spec = RunSpec { job_path: Some(&path), ..RunSpec::new(&job, vec![]) };
    match agent.execute(spec, approver, None, std::future::pending::<String>()).await.unwrap() {
        Ended::Finished(r) => *r,
        Ended::Interrupted { .. } => panic!("interrupted"),
    }
}

/// `/orders` stores every POST and answers after 1.5 s; `/orders/42` says
/// whether one arrived.
async fn shop() -> FaultServer {
    FaultServer::start([
        ("/orders", Script::new().always(Reply::json(201, r#"{"id": 42}"#).after_ms(1500))),
        (
            "/orders/42",
            Script::new().always(Reply::if_hit("/orders", Reply::json(200, r#"{"id": 42}"#), Reply::status(404, "no such order"))),
        ),
    ])
    .await
    .unwrap()
}

fn job(server: &FaultServer, verify: bool) -> String {
    let mut t = format!(
        "name = \"order\"\n[[steps]]\nname = \"place\"\ntool = \"http\"\nargs = {{ url = \"{}\", method = \"POST\", json = {{ sku = \"A-1\" }}, timeout_ms = 300 }}\n",
        server.url("/orders")
    );
    if verify {
        t.push_str(&format!("verify = {{ tool = \"http\", args = {{ url = \"{}\" }} }}\n", server.url("/orders/42")));
    }
    t
}

#[tokio::test]
async fn with_the_starter_memory_a_timed_out_post_is_verified_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let server = shop().await;

    let r = run(&agent, dir.path(), &job(&server, true), person(&[])).await;
    let memory = std::fs::read_to_string(dir.path().join("data/MEMORY.md")).unwrap();
    assert!(memory.contains("id: http-timeout-longer"), "the starter lessons are there");
    assert_eq!(server.hits("/orders"), 1, "one POST: {:#?}", r.steps[0].attempts);
    assert_eq!(r.steps[0].status, StepStatus::Verified);
    let actions: Vec<&str> = r.steps[0].attempts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["verify_state"]);
    // The lesson was found and proposed, and the engine refused it with the reason.
    let events = agent.reader().unwrap().logs(&LogFilter::default()).unwrap();
    let Some(Body::Diagnosis(diagnosis)) = events.iter().map(|e| &e.body).find(|b| matches!(b, Body::Diagnosis(_))) else {
        panic!("a diagnosis")
    };
    assert!(diagnosis.rejected.iter().any(|r| r.layer == "lesson" && r.reason.contains("not safe to repeat")), "{:?}", diagnosis.rejected);
    assert!(events.iter().any(|e| matches!(e.body, Body::Guardrail(Guardrail::InDoubt { .. }))), "journaled as in doubt");
}

#[tokio::test]
async fn without_a_verify_a_person_decides_and_only_their_send_again_resends() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let server = shop().await;

    // "It happened": one POST, the step counted as done without a resend.
    let ana = person(&["ran"]);
    let r = run(&agent, dir.path(), &job(&server, false), ana.clone()).await;
    assert_eq!(server.hits("/orders"), 1);
    assert_eq!(r.steps[0].status, StepStatus::Skipped);
    let seen = ana.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].kind, ApprovalKind::InDoubt);
    assert!(seen[0].title.contains("may already have happened"), "{}", seen[0].title);
    assert!(seen[0].diagnosis.contains("POST is not idempotent"), "{}", seen[0].diagnosis);
    assert_eq!(seen[0].recommended, "ran", "not sending twice is the recommendation");
    let send = seen[0].option("run").expect("a send-it-again option");
    assert!(send.detail.contains("may already have happened"), "the person is told: {}", send.detail);

    // "Send it again", then "it happened": exactly one more POST.
    let bo = person(&["run", "ran"]);
    let r = run(&agent, dir.path(), &job(&server, false), bo.clone()).await;
    assert_eq!(server.hits("/orders"), 3, "one POST, and one the person asked for");
    assert_eq!(r.steps[0].status, StepStatus::Skipped);
    assert_eq!(bo.seen.lock().unwrap().len(), 2, "the resent POST timed out too: asked again");

    // Nothing learned sends a timed-out POST again.
    let memory = std::fs::read_to_string(dir.path().join("data/MEMORY.md")).unwrap();
    let timeout_lessons = memory.matches("`http` `TIMEOUT`").count();
    assert_eq!(timeout_lessons, 1, "only the starter lesson: {memory}");
}
