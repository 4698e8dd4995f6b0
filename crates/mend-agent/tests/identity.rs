//! Issue 17, per-agent identity: a run made for an agent (an MCP host
//! through the gateway) carries the agent on every journaled event, on its
//! run row and in its requests' titles; the audit filter finds it; a
//! decision remembered on its request holds for that agent only. Real
//! journal, real memory, a real destructive command held by the gate.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mend_agent::{Agent, Ended, Remember, RunSpec, load, rule_for};
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, Decision};
use mend_core::config::Config;
use mend_journal::LogFilter;

/// Says "skip" to everything, and keeps what it was asked.
#[derive(Default)]
struct Skip(Mutex<Vec<ApprovalRequest>>);

#[async_trait]
impl Approver for Skip {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        self.0.lock().unwrap().push(req.clone());
        Answer::Decided(Decision {
            option: "skip".into(),
            instructions: None,
            decided_by: DecidedBy::Person { who: "ana".into() },
            decided_ms: 0,
        })
    }
}

#[tokio::test]
async fn an_agents_run_is_journaled_as_its_own_and_its_remembered_decisions_are_its_own() {
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::open_with(&d.path().join("data"), None).unwrap();
    std::fs::create_dir_all(d.path().join("target")).unwrap();
    let path = d.path().join("job.toml");
    std::fs::write(&path, "name = \"clean\"\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { shell = \"rm -rf target\" }\n").unwrap();
    let job = load::job(&path, &Config::default(), &[]).unwrap();
    let skip = Arc::new(Skip::default());
    for who in [Some("claude-code"), None] {
        let spec = RunSpec { agent: who.map(str::to_owned), ..RunSpec::new(&job, vec![]) };
        let Ended::Finished(_) = agent.execute(spec, skip.clone(), None, std::future::pending::<String>()).await.unwrap() else {
            panic!("interrupted")
        };
    }
    mend_core::event::Journal::flush(agent.journal().as_ref()).await.unwrap();
    assert!(d.path().join("target").exists(), "skipped, never run");
    let asked = skip.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    assert!(asked[0].title.starts_with("claude-code: "), "{}", asked[0].title);
    assert_eq!(asked[0].agent.as_deref(), Some("claude-code"));
    assert_eq!((asked[1].agent.as_deref(), asked[1].title.starts_with("claude-code")), (None, false));

    let r = agent.reader().unwrap();
    let mine = r.logs(&LogFilter { agent: Some("claude-code".into()), ..Default::default() }).unwrap();
    let all = r.logs(&LogFilter::default()).unwrap();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e.run_id == asked[0].run_id && e.agent.as_deref() == Some("claude-code")));
    let missing: Vec<_> =
        all.iter().filter(|e| e.run_id == asked[0].run_id && e.agent.is_none()).map(|e| (e.kind(), e.message.clone())).collect();
    assert!(missing.is_empty(), "every event of its run: {missing:?}");
    let runs = r.runs(0).unwrap();
    let row = runs.iter().find(|x| x.run_id == asked[0].run_id).unwrap();
    assert_eq!(row.agent.as_deref(), Some("claude-code"));
    assert_eq!(runs.iter().find(|x| x.run_id == asked[1].run_id).unwrap().agent, None);

    // Remembered on the agent's request: for that agent only.
    let rule = rule_for(&asked[0], "skip", Remember::Job, None).unwrap();
    assert_eq!(rule.agent.as_deref(), Some("claude-code"));
    assert!(rule.matches(&asked[0]));
    let other = ApprovalRequest { agent: Some("goose".into()), ..asked[0].clone() };
    assert!(!rule.matches(&other), "another host's call is asked");
    assert!(!rule.matches(&asked[1]), "Mend's own job is asked");
    assert!(rule.describe().contains("of claude-code"), "{}", rule.describe());
}
