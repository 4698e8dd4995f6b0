//! Learning end to end: real HTTP over loopback, real child processes, a
//! real memory file and tantivy index, a real journal.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mend_agent::{Agent, Ended, RunSpec, load};
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, Decision};
use mend_core::config::Config;
use mend_core::report::{RunReport, RunStatus};
use mend_faults::{FaultServer, Reply, Script, closed_port};
use mend_memory::index::Filter;

/// Answers every request with one option, as a person would, and keeps
/// the requests it saw.
struct Person {
    option: &'static str,
    seen: Mutex<Vec<ApprovalRequest>>,
}

#[async_trait]
impl Approver for Person {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        self.seen.lock().unwrap().push(req.clone());
        Answer::Decided(Decision {
            option: self.option.into(),
            instructions: Some("the primary is being migrated".into()),
            decided_by: DecidedBy::Person { who: "ana".into() },
            decided_ms: 0,
        })
    }
}

fn person(option: &'static str) -> Arc<Person> {
    Arc::new(Person { option, seen: Mutex::new(Vec::new()) })
}

async fn run(agent: &Agent, dir: &Path, toml: &str, approver: Arc<Person>, env: Vec<(String, String)>) -> RunReport {
    let path = dir.join("job.toml");
    std::fs::write(&path, toml).unwrap();
    let job = load::job(&path, &Config::default(), &env).unwrap();
    let spec = RunSpec { job_path: Some(&path), ..RunSpec::new(&job, env) };
    match agent.execute(spec, approver, None, std::future::pending::<String>()).await.unwrap() {
        Ended::Finished(r) => *r,
        Ended::Interrupted { .. } => panic!("interrupted"),
    }
}

async fn mirror() -> FaultServer {
    FaultServer::start([("/report", Script::new().always(Reply::json(200, r#"{"report": "ok"}"#)))]).await.unwrap()
}

fn dead_with_mirror(dead: u16, mirror: &FaultServer) -> String {
    format!(
        "version = 1\nname = \"nightly\"\n[[steps]]\nname = \"fetch\"\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:{dead}/report\", timeout_ms = 1000 }}\nretry = {{ max = 2, base = \"10ms\" }}\n[[steps.alternatives]]\ntool = \"http\"\nargs = {{ url = \"{}\", timeout_ms = 2000 }}\n",
        mirror.url("/report")
    )
}

#[tokio::test]
async fn the_second_run_of_a_failing_job_heals_in_fewer_attempts_because_of_a_lesson() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let server = mirror().await;
    let job = dead_with_mirror(closed_port(), &server);

    // First run: the policy retries the dead service twice, then the mirror.
    let first = run(&agent, dir.path(), &job, person("abort"), vec![]).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_eq!(first.attempts, 3, "{:#?}", first.steps[0].attempts);
    assert!(first.steps[0].attempts.iter().all(|a| a.layer == "policy"));
    let learned = first.lessons.iter().find(|n| n.change == "learned").expect("a lesson learned");
    let memory = std::fs::read_to_string(dir.path().join("data/MEMORY.md")).unwrap();
    assert!(memory.contains(&format!("id: {}", learned.id)), "{memory}");
    assert!(memory.contains("fix: use_alternative `{\"index\":0}`"), "{memory}");
    assert!(memory.contains("seen: 1"), "{memory}");
    // It is searchable at once.
    let hits = agent.lessons().unwrap().search("mirror alternative", &Filter::default(), 5).unwrap();
    assert!(hits.iter().any(|h| h.id == learned.id), "{hits:?}");

    // Second run: the lesson layer goes straight to the mirror.
    let second = run(&agent, dir.path(), &job, person("abort"), vec![]).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    assert_eq!(second.attempts, 1, "{:#?}", second.steps[0].attempts);
    let a = &second.steps[0].attempts[0];
    assert_eq!((a.layer.as_str(), a.action.as_str(), a.lesson.as_deref()), ("lesson", "use_alternative", Some(learned.id.as_str())));
    assert!(a.root_cause.contains(&learned.id), "{}", a.root_cause);
    assert_eq!(second.lessons.iter().map(|n| (n.id.as_str(), n.change.as_str())).collect::<Vec<_>>(), [(learned.id.as_str(), "confirmed")]);
    let memory = std::fs::read_to_string(dir.path().join("data/MEMORY.md")).unwrap();
    assert!(memory.contains("seen: 2"), "a repeat bumps the count, it adds no twin: {memory}");
    let starter = mend_memory::STARTER.matches("fix: use_alternative").count();
    assert_eq!(memory.matches("fix: use_alternative").count(), starter + 1, "the starter lessons and the learned one: {memory}");

    // The journal names the lesson: the diagnosis, the attempt, and the lesson events.
    agent.close();
    let reader = mend_journal::Reader::open(&dir.path().join("data").join(mend_journal::FILE_NAME)).unwrap();
    let filter = mend_journal::LogFilter { run_id: Some(second.run_id.clone()), ..Default::default() };
    let events = reader.logs(&filter).unwrap();
    use mend_core::payload::Body;
    let Some(Body::Diagnosis(diag)) = events.iter().map(|e| &e.body).find(|b| matches!(b, Body::Diagnosis(_))) else { panic!() };
    assert_eq!(diag.diagnosis.lesson.as_deref(), Some(learned.id.as_str()));
    let Some(Body::Lesson(lesson)) = events.iter().map(|e| &e.body).find(|b| matches!(b, Body::Lesson(_))) else { panic!() };
    assert_eq!(lesson.lesson, learned.id);
}

#[tokio::test]
async fn a_failing_lesson_is_marked_and_no_longer_applied_after_three_failures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dead = closed_port();
    let other_dead = closed_port();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("MEMORY.md"),
        format!(
            "# Memory\n\n## HTTP services\n\n- The report service moved to another port.\n  - when: `http` `CONNECTION_REFUSED` \"127.0.0.1:{dead}\"\n  - fix: retry_modified `{{\"url\": \"http://127.0.0.1:{other_dead}/report\"}}`\n  - id: moved\n"
        ),
    )
    .unwrap();
    let agent = Agent::open(&data).unwrap();
    let job = format!(
        "version = 1\nname = \"nightly\"\n[[steps]]\nname = \"fetch\"\noptional = true\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:{dead}/report\", timeout_ms = 1000 }}\nretry = {{ max = 0 }}\n"
    );
    for n in 1..=3 {
        let r = run(&agent, dir.path(), &job, person("skip"), vec![]).await;
        let a = &r.steps[0].attempts;
        assert_eq!(a[0].lesson.as_deref(), Some("moved"), "run {n}: {a:#?}");
        let note = r.lessons.iter().find(|x| x.id == "moved").unwrap();
        assert_eq!(note.change, "failed");
        let l = agent.lessons().unwrap().lesson("moved").unwrap();
        assert_eq!((l.provenance.failures, l.provenance.outcome.as_deref()), (n, Some("failed")));
    }
    let r = run(&agent, dir.path(), &job, person("skip"), vec![]).await;
    assert!(r.steps[0].attempts.iter().all(|a| a.lesson.is_none()), "not trusted any more: {:#?}", r.steps[0].attempts);
    let text = std::fs::read_to_string(data.join("MEMORY.md")).unwrap();
    assert!(text.contains("failures: 3"), "{text}");
    assert!(text.starts_with("# Memory\n\n## HTTP services\n\n- The report service moved"), "other bytes untouched: {text}");
}

#[tokio::test]
async fn a_persons_choice_becomes_the_next_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let dead = closed_port();
    // The alternative is dead too: after it, a person must decide.
    let job = format!(
        "version = 1\nname = \"nightly\"\n[[steps]]\nname = \"fetch\"\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:{dead}/report\", timeout_ms = 1000 }}\nretry = {{ max = 0 }}\n[[steps.alternatives]]\ntool = \"exec\"\nargs = {{ program = \"false\" }}\n"
    );
    let ana = person("skip");
    let first = run(&agent, dir.path(), &job, ana.clone(), vec![]).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let req = ana.seen.lock().unwrap()[0].clone();
    assert_ne!(req.recommended, "skip", "nothing learned yet: {req:#?}");
    let note = first.lessons.iter().find(|n| n.change == "decided").expect("the decision is learned");
    let l = agent.lessons().unwrap().lesson(&note.id).unwrap();
    assert_eq!(l.fix.as_ref().unwrap().args.as_ref().unwrap()["recommend"], "skip");
    assert!(l.text.contains("the primary is being migrated"), "{}", l.text);

    let bo = person("skip");
    let second = run(&agent, dir.path(), &job, bo.clone(), vec![]).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    let req = bo.seen.lock().unwrap()[0].clone();
    assert_eq!(req.recommended, "skip", "{req:#?}");
    assert_eq!(req.options[0].id, "skip", "the recommendation comes first");
    assert!(req.recommendation.contains(&note.id), "{}", req.recommendation);
    let l = agent.lessons().unwrap().lesson(&note.id).unwrap();
    assert_eq!(l.provenance.seen, 2, "one lesson for the failure, seen twice");
}

#[tokio::test]
async fn lessons_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let secret = "s3cr3t-value-0451";
    // The call fails; its alternative (with the secret in its arguments) works.
    let job = "version = 1\nname = \"deploy\"\nsecrets = [\"DEPLOY_KEY\"]\n[[steps]]\nname = \"push\"\ntool = \"exec\"\nargs = { program = \"sh\", args = [\"-c\", \"echo key=$DEPLOY_KEY >&2; exit 3\"] }\nretry = { max = 0 }\n[[steps.alternatives]]\ntool = \"exec\"\nargs = { program = \"echo\", args = [\"--key\", \"${env:DEPLOY_KEY}\"] }\n";
    let r = run(&agent, dir.path(), job, person("abort"), vec![("DEPLOY_KEY".into(), secret.into())]).await;
    assert_eq!(r.status, RunStatus::Succeeded, "{r:#?}");
    assert!(r.lessons.iter().any(|n| n.change == "learned"), "{:?}", r.lessons);
    let text = std::fs::read_to_string(dir.path().join("data/MEMORY.md")).unwrap();
    assert!(text.contains("Learned from job `deploy`"), "{text}");
    assert!(!text.contains(secret), "{text}");
}

#[tokio::test]
async fn learning_while_another_editor_changed_the_same_lesson_keeps_their_edit() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let server = mirror().await;
    let job = dead_with_mirror(closed_port(), &server);
    let first = run(&agent, dir.path(), &job, person("abort"), vec![]).await;
    let id = first.lessons.iter().find(|n| n.change == "learned").unwrap().id.clone();
    // A person rewrites the lesson in their editor; the agent has not read it yet.
    let path = dir.path().join("data/MEMORY.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("- `http` failed with CONNECTION_REFUSED").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let edited = format!("{}- The report service is down for a migration until Friday: use the mirror.{}", &text[..start], &text[end..]);
    std::fs::write(&path, &edited).unwrap();

    let second = run(&agent, dir.path(), &job, person("abort"), vec![]).await;
    assert_eq!(second.attempts, 1);
    assert!(second.lessons.iter().any(|n| n.id == id && n.change == "confirmed"), "{:?}", second.lessons);
    let now = std::fs::read_to_string(&path).unwrap();
    assert!(now.contains("down for a migration until Friday"), "their edit stays: {now}");
    assert!(now.contains("seen: 2"), "ours is applied on top: {now}");
}
