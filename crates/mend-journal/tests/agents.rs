//! The dashboard's numbers per agent (issue 17) on a real SQLite file: an
//! agent's numbers count only its events, the unfiltered numbers do not
//! change with agents, and an agent that is the only caller has the
//! unfiltered numbers.

use mend_core::approval::{ApprovalKind, ApprovalOption, ApprovalRequest, Choice, DecidedBy, Decision, OnTimeout};
use mend_core::event::{Event, Journal, Level};
use mend_core::payload::{Body, CallMade, DecisionMade, Recovered, RunEnd, RunFinished, RunStarted, StepFinished, StepStarted};
use mend_core::report::StepStatus;
use mend_journal::{Metrics, Reader, Series, SqliteJournal};

const HOUR: i64 = 3_600_000;

/// How a run went.
#[derive(Clone, Copy)]
enum Shape {
    /// Its call failed with the code; a retry fixed it.
    Healed(&'static str),
    /// Its call failed with the code; a retry did not fix it; a person was asked and chose `skip`.
    Asked(&'static str),
    /// Its call succeeded.
    Clean,
}

/// One run's events as the engine journals them, `agent`'s (None: Mend's own job).
fn run(j: &SqliteJournal, id: &str, agent: Option<&str>, shape: Shape, t: i64) {
    let ev = |dt: i64, step: bool, body: Body, level: Level| Event {
        step: step.then(|| "fetch".to_owned()),
        agent: agent.map(str::to_owned),
        ..Event::new(t + dt, id, "nightly", body, level, format!("{id} +{dt}"))
    };
    let call = |dt: i64, code: Option<&str>| Event {
        tool: Some("http".into()),
        code: code.map(str::to_owned),
        ok: Some(code.is_none()),
        duration_ms: Some(30),
        ..ev(dt, true, Body::Call(CallMade::default()), if code.is_some() { Level::Warn } else { Level::Info })
    };
    let attempt = |dt: i64, code: &str, ok: bool| Event {
        tool: Some("http".into()),
        code: Some(code.into()),
        action: Some("retry_same".into()),
        ok: Some(ok),
        duration_ms: Some(25),
        // A model's diagnosis spent tokens.
        tokens: Some(7),
        ..ev(dt, true, Body::Attempt(Box::default()), Level::Info)
    };
    let step_end = |dt: i64, status: StepStatus, failed_first: bool, person: bool| {
        ev(dt, true, Body::StepFinished(StepFinished { status, attempts: 1, failed_first, person }), Level::Info)
    };
    j.record(ev(0, false, Body::RunStarted(RunStarted::default()), Level::Info));
    j.record(ev(1, true, Body::StepStarted(StepStarted::default()), Level::Info));
    match shape {
        Shape::Healed(code) => {
            j.record(call(2, Some(code)));
            j.record(attempt(400, code, true));
            j.record(call(401, None));
            j.record(Event {
                code: Some(code.into()),
                ok: Some(true),
                duration_ms: Some(400 + t.rem_euclid(1_000) as u64),
                ..ev(402, true, Body::Recovery(Recovered { attempts: 1, ttr_ms: 400, ..Default::default() }), Level::Info)
            });
            j.record(step_end(403, StepStatus::Healed, true, false));
        }
        Shape::Asked(code) => {
            j.record(call(2, Some(code)));
            j.record(attempt(400, code, false));
            let request = ApprovalRequest { run_id: id.into(), agent: agent.map(str::to_owned), ..request(&format!("q-{id}")) };
            j.record(Event { code: Some(code.into()), ..ev(401, true, Body::Escalation(Box::new(request)), Level::Warn) });
            let decision =
                Decision { option: "skip".into(), instructions: None, decided_by: DecidedBy::Person { who: String::new() }, decided_ms: t };
            let made = DecisionMade { request: format!("q-{id}"), decision, recommended: "skip".into(), kind: None };
            j.record(Event {
                action: Some("skip".into()),
                duration_ms: Some(5_000 + t.rem_euclid(3_000) as u64),
                ..ev(9_000, true, Body::Decision(Box::new(made)), Level::Info)
            });
            j.record(step_end(9_001, StepStatus::Skipped, true, true));
        }
        Shape::Clean => {
            j.record(call(2, None));
            j.record(step_end(3, StepStatus::Succeeded, false, false));
        }
    }
    j.record(ev(9_500, false, Body::RunFinished(RunFinished { status: RunEnd::Succeeded, ..Default::default() }), Level::Info));
}

fn request(id: &str) -> ApprovalRequest {
    ApprovalRequest {
        id: id.into(),
        run_id: "run".into(),
        job: "nightly".into(),
        step: "fetch".into(),
        kind: ApprovalKind::Escalation,
        title: "t".into(),
        what_happened: "w".into(),
        diagnosis: "d".into(),
        recommended: "skip".into(),
        recommendation: "r".into(),
        options: vec![ApprovalOption { id: "skip".into(), label: "Skip".into(), choice: Choice::Skip, detail: String::new() }],
        attempts: vec![],
        created_ms: 5,
        timeout_ms: None,
        on_timeout: OnTimeout::Wait,
        call: None,
        tool: None,
        code: None,
        subject: None,
        danger: None,
        call_digest: None,
        call_source: None,
        agent: None,
    }
}

/// The runs of the tests: goose's, Claude Code's and Mend's own, spread
/// over the last few hours (and one goose run before the window).
fn table(now: i64) -> Vec<(Option<&'static str>, Shape, i64)> {
    let goose = Some("goose");
    let claude = Some("claude-code");
    vec![
        (goose, Shape::Healed("TIMEOUT"), now - 5 * HOUR),
        (goose, Shape::Healed("TIMEOUT"), now - 3 * HOUR + 17),
        (goose, Shape::Healed("SERVER_ERROR"), now - HOUR),
        (goose, Shape::Asked("TIMEOUT"), now - 2 * HOUR),
        (claude, Shape::Asked("RATE_LIMITED"), now - 4 * HOUR),
        (claude, Shape::Asked("RATE_LIMITED"), now - 90_000),
        (claude, Shape::Clean, now - 60_000),
        (None, Shape::Healed("SERVER_ERROR"), now - 4 * HOUR + 5),
        (None, Shape::Healed("SERVER_ERROR"), now - 2 * HOUR + 9),
        (None, Shape::Asked("NOT_FOUND"), now - HOUR + 3),
        (None, Shape::Clean, now - 30_000),
        // Before the window: counted in no number of it.
        (goose, Shape::Healed("TIMEOUT"), now - 40 * HOUR),
    ]
}

/// A journal of the table's runs, each as `agent_of` says, with one request
/// still waiting for goose and one for Mend's own job (as `agent_of` says).
async fn journal(dir: &std::path::Path, name: &str, now: i64, agent_of: impl Fn(Option<&'static str>) -> Option<&'static str>) -> Reader {
    let path = dir.join(name);
    let j = SqliteJournal::open(&path).unwrap();
    for (i, (agent, shape, t)) in table(now).into_iter().enumerate() {
        run(&j, &format!("run-{i}"), agent_of(agent), shape, t);
    }
    j.save_approval(&ApprovalRequest { agent: agent_of(Some("goose")).map(str::to_owned), ..request("waiting-goose") }).await.unwrap();
    j.save_approval(&ApprovalRequest { agent: agent_of(None).map(str::to_owned), ..request("waiting-own") }).await.unwrap();
    j.flush().await.unwrap();
    Reader::open(&path).unwrap()
}

/// Metrics and series of a window, read twice if the hour turned between
/// the two (the series' last bucket is the current hour).
fn both(r: &Reader, f: impl Fn(&Reader) -> (Metrics, Series), g: impl Fn(&Reader) -> (Metrics, Series)) -> [(Metrics, Series); 2] {
    loop {
        let (a, b) = (f(r), g(r));
        if a.1.buckets_ms == b.1.buckets_ms {
            return [a, b];
        }
    }
}

#[tokio::test]
async fn an_agents_numbers_count_only_its_events() {
    let d = tempfile::tempdir().unwrap();
    let now = mend_core::clock::now_ms();
    let r = journal(d.path(), "j.sqlite3", now, |a| a).await;
    let since = now - 24 * HOUR;

    assert_eq!(r.agents(Some(since)).unwrap(), vec![("goose".to_owned(), 7), ("claude-code".to_owned(), 3)], "calls in the window");
    assert_eq!(r.agents(None).unwrap(), vec![("goose".to_owned(), 9), ("claude-code".to_owned(), 3)], "calls of all time");

    let m = r.agent_metrics("goose", Some(since)).unwrap();
    assert_eq!(m.since_ms, Some(since));
    assert_eq!(m.runs, vec![("succeeded".to_owned(), 4)]);
    assert_eq!((m.calls, m.failed_calls), (7, 4));
    assert_eq!((m.healing.steps, m.healing.failed_first, m.healing.autonomous, m.healing.with_person), (4, 4, 3, 1));
    assert_eq!(m.healing.autonomous_rate, 0.75);
    let rates: Vec<(&str, &str, i64, i64)> =
        m.by_code_action.iter().map(|a| (a.code.as_str(), a.action.as_str(), a.attempts, a.successes)).collect();
    assert_eq!(rates, vec![("TIMEOUT", "retry_same", 3, 2), ("SERVER_ERROR", "retry_same", 1, 1)]);
    let failing: Vec<(&str, &str, i64)> = m.top_failing.iter().map(|f| (f.tool.as_str(), f.code.as_str(), f.calls)).collect();
    assert_eq!(failing, vec![("http", "TIMEOUT", 3), ("http", "SERVER_ERROR", 1)]);
    assert_eq!((m.recovery.recovered, m.recovery.attempts_avg), (3, 1.0));
    assert_eq!(m.escalations.raised, 1);
    assert_eq!(m.escalations.pending, 1, "goose's waiting request, not Mend's own");
    assert_eq!(m.escalations.by_option, vec![("skip".to_owned(), 1)]);
    assert_eq!(m.escalations.by_decider, vec![("person".to_owned(), 1)]);
    assert_eq!(m.escalations.took_recommended, 1);
    assert_eq!(m.tokens, 4 * 7);

    let c = r.agent_metrics("claude-code", Some(since)).unwrap();
    assert_eq!((c.calls, c.failed_calls, c.recovery.recovered, c.escalations.raised, c.escalations.pending), (3, 2, 0, 2, 0));
    assert_eq!((c.healing.steps, c.healing.failed_first, c.healing.with_person), (3, 2, 2));
    assert_eq!(c.top_failing.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), vec!["RATE_LIMITED"]);

    let s = r.agent_series("goose", since, HOUR).unwrap();
    assert_eq!(s.calls.iter().sum::<i64>(), 7);
    assert_eq!(s.failed_calls.iter().sum::<i64>(), 4);
    assert_eq!((s.failed_first.iter().sum::<i64>(), s.autonomous.iter().sum::<i64>(), s.with_person.iter().sum::<i64>()), (4, 3, 1));
    assert_eq!(s.escalations.iter().sum::<i64>(), 1);
    assert_eq!((s.ttr_ms.len(), s.recovery_attempts.len(), s.decide_ms.len()), (3, 3, 1));
    let lines: Vec<(&str, i64)> = s.by_code_action.iter().map(|l| (l.code.as_str(), l.attempts.iter().sum())).collect();
    assert_eq!(lines, vec![("SERVER_ERROR", 1), ("TIMEOUT", 3)]);
    // Each number in the hour it happened: 25 hours, goose's first failed call 5 hours ago.
    assert_eq!(s.buckets_ms.len(), 25);
    assert!(s.failed_calls[..19].iter().all(|&n| n == 0), "{:?}", s.failed_calls);

    // An agent never seen: nothing, in the same shapes.
    let none = r.agent_metrics("cursor", Some(since)).unwrap();
    assert_eq!(none, Metrics { since_ms: Some(since), ..Default::default() });
    let none = r.agent_series("cursor", since, HOUR).unwrap();
    assert_eq!(none.buckets_ms, s.buckets_ms);
    assert!(none.calls.iter().all(|&n| n == 0) && none.by_code_action.is_empty());
}

#[tokio::test]
async fn the_unfiltered_numbers_are_the_same_with_agents_or_without() {
    let d = tempfile::tempdir().unwrap();
    // The same runs at the same times, with their agents and without.
    let now = mend_core::clock::now_ms();
    let with = journal(d.path(), "with.sqlite3", now, |a| a).await;
    let without = journal(d.path(), "without.sqlite3", now, |_| None).await;
    assert!(without.agents(None).unwrap().is_empty());
    let since = now - 24 * HOUR;
    let full = |r: &Reader| (r.metrics(Some(since)).unwrap(), r.series(since, HOUR).unwrap());
    let [a, b] = both(&with, full, |_| full(&without));
    assert_eq!(a, b);
    assert_eq!(a.0.calls, 7 + 3 + 6, "goose's, Claude Code's and Mend's own");
    // Every agent's share plus Mend's own is the whole.
    let shares: i64 = with.agents(Some(since)).unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(shares + 6, a.0.calls);
}

#[tokio::test]
async fn an_agent_that_is_the_only_caller_has_the_unfiltered_numbers() {
    let d = tempfile::tempdir().unwrap();
    let now = mend_core::clock::now_ms();
    let r = journal(d.path(), "j.sqlite3", now, |_| Some("goose")).await;
    for (since, bucket) in [(now - 24 * HOUR, HOUR), (now - 7 * 24 * HOUR, 6 * HOUR)] {
        let full = |r: &Reader| (r.metrics(Some(since)).unwrap(), r.series(since, bucket).unwrap());
        let agent = |r: &Reader| (r.agent_metrics("goose", Some(since)).unwrap(), r.agent_series("goose", since, bucket).unwrap());
        let [a, b] = both(&r, full, agent);
        assert_eq!(a.0, b.0, "metrics since {since}");
        assert_eq!(a.1, b.1, "series since {since} by {bucket}");
        // Both from one read, as the dashboard asks.
        let [c, b] = both(&r, |r| r.agent_dashboard("goose", since, bucket).unwrap(), agent);
        assert_eq!(c, b);
    }
    // All time too (the window has no start).
    assert_eq!(r.metrics(None).unwrap(), r.agent_metrics("goose", None).unwrap());
}
