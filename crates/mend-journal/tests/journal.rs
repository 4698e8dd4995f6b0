//! The journal on a real SQLite file: order, durability, filters.

use mend_core::approval::{ApprovalKind, ApprovalOption, ApprovalRequest, Choice, DecidedBy, Decision, OnTimeout};
use mend_core::event::{Event, EventKind, Journal, Level};
use mend_core::payload::Body;
use mend_journal::{LogFilter, Reader, SqliteJournal};

fn ev(i: usize, kind: EventKind, level: Level) -> Event {
    Event {
        tool: Some(if i.is_multiple_of(2) { "http" } else { "exec" }.into()),
        code: (level == Level::Warn).then(|| "TIMEOUT".into()),
        ..Event::new(
            1_000 + i as i64,
            if i < 30 { "run-a" } else { "run-b" },
            "job",
            // The needle is in each payload's own field (the text filter reads data).
            match kind {
                EventKind::Attempt => {
                    Body::Attempt(Box::new(mend_core::payload::Attempted { layer: format!("needle-{i}"), ..Default::default() }))
                }
                _ => Body::from_parts(kind, serde_json::json!({"args": {"i": i, "note": format!("needle-{i}")}})),
            },
            level,
            format!("e{i}"),
        )
    }
}

fn request(id: &str) -> ApprovalRequest {
    ApprovalRequest {
        id: id.into(),
        run_id: "run-a".into(),
        job: "job".into(),
        step: "s".into(),
        kind: ApprovalKind::Escalation,
        title: "t".into(),
        what_happened: "w".into(),
        diagnosis: "d".into(),
        recommended: "abort".into(),
        recommendation: "r".into(),
        options: vec![ApprovalOption { id: "abort".into(), label: "Abort".into(), choice: Choice::Abort, detail: String::new() }],
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

#[tokio::test]
async fn events_keep_their_order_around_approvals_and_survive_reopening() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("j.sqlite3");
    {
        let j = SqliteJournal::open(&path).unwrap();
        for i in 0..20 {
            j.record(ev(i, EventKind::Call, Level::Info));
        }
        j.save_approval(&request("q1")).await.unwrap();
        j.save_approval(&request("q2")).await.unwrap();
        for i in 20..37 {
            j.record(ev(i, EventKind::Call, if i.is_multiple_of(5) { Level::Warn } else { Level::Info }));
        }
        let decision = Decision { option: "abort".into(), instructions: None, decided_by: DecidedBy::Timeout, decided_ms: 9 };
        j.resolve_approval("q2", &decision).await.unwrap();
        assert!(j.resolve_approval("nope", &decision).await.is_err(), "an unknown request is an error");
        // Dropped without a flush: close() still writes everything queued.
    }
    let r = Reader::open(&path).unwrap();
    let all = r.logs(&LogFilter::default()).unwrap();
    let names: Vec<String> = all.iter().map(|e| e.message.clone()).collect();
    assert_eq!(names, (0..37).map(|i| format!("e{i}")).collect::<Vec<_>>());
    let pending = r.pending_approvals().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "q1");
    let (_, decided) = r.approval("q2").unwrap().unwrap();
    assert_eq!(decided.unwrap().decided_by, DecidedBy::Timeout);
}

#[tokio::test]
async fn log_filters_narrow_the_events() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("j.sqlite3");
    let j = SqliteJournal::open(&path).unwrap();
    for i in 0..40 {
        j.record(ev(
            i,
            if i.is_multiple_of(4) { EventKind::Attempt } else { EventKind::Call },
            if i.is_multiple_of(5) { Level::Warn } else { Level::Info },
        ));
    }
    j.flush().await.unwrap();
    let r = Reader::open(&path).unwrap();
    let count = |f: LogFilter| r.logs(&f).unwrap().len();
    assert_eq!(count(LogFilter::default()), 40);
    assert_eq!(count(LogFilter { min_level: Some(Level::Warn), ..Default::default() }), 8);
    assert_eq!(count(LogFilter { code: Some("TIMEOUT".into()), ..Default::default() }), 8);
    assert_eq!(count(LogFilter { tool: Some("exec".into()), ..Default::default() }), 20);
    assert_eq!(count(LogFilter { kind: Some(EventKind::Attempt), ..Default::default() }), 10);
    assert_eq!(count(LogFilter { text: Some("needle-1".into()), ..Default::default() }), 11, "needle-1 and needle-10..19");
    assert_eq!(count(LogFilter { text: Some("100%_".into()), ..Default::default() }), 0, "LIKE wildcards are literal");
    assert_eq!(count(LogFilter { since_ms: Some(1_035), ..Default::default() }), 5);
    assert_eq!(count(LogFilter { run_id: Some("run-b".into()), ..Default::default() }), 10);
    let newest = r.logs(&LogFilter { limit: 3, ..Default::default() }).unwrap();
    assert_eq!(newest.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["e37", "e38", "e39"]);
    assert_eq!(r.event_count().unwrap(), 40);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    // Regression: a `mend run` and a `mend approvals list` opening a fresh
    // journal at the same moment both applied migration 2 and one failed.
    for round in 0..5 {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(format!("j{round}.sqlite3"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    mend_journal::open(&path).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    }
}

fn decision(option: &str, who: &str, ms: i64) -> Decision {
    Decision { option: option.into(), instructions: None, decided_by: DecidedBy::Person { who: who.into() }, decided_ms: ms }
}

fn two_options(id: &str) -> ApprovalRequest {
    let mut r = request(id);
    r.options.push(ApprovalOption { id: "skip".into(), label: "Skip".into(), choice: Choice::Skip, detail: String::new() });
    r
}

/// Issue 12: a request takes one decision however many writers decide it at
/// once — here two journals (two processes' writers) on one file, 40 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_deciding_at_once_yield_one_decision() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("j.sqlite3");
    let a = std::sync::Arc::new(SqliteJournal::open(&path).unwrap());
    let b = std::sync::Arc::new(SqliteJournal::open(&path).unwrap());
    for i in 0..40 {
        let id = format!("q{i}");
        a.save_approval(&two_options(&id)).await.unwrap();
        let (da, db) = (decision("abort", "terminal", i), decision("skip", "desktop", i));
        let (ra, rb) = tokio::join!(
            {
                let (a, id, da) = (a.clone(), id.clone(), da.clone());
                async move { a.resolve(&id, &da, false).await }
            },
            {
                let (b, id, db) = (b.clone(), id.clone(), db.clone());
                async move { b.resolve_approval(&id, &db).await }
            }
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra, rb, "both deciders are told the same decision");
        let stored = Reader::open(&path).unwrap().approval(&id).unwrap().unwrap().1.unwrap();
        assert_eq!(stored, ra, "the stored decision is the one both were told");
        assert!(stored == da || stored == db);
    }
    // Deciding again with the decision that holds is harmless; the journal keeps the first.
    let held = Reader::open(&path).unwrap().approval("q0").unwrap().unwrap().1.unwrap();
    assert_eq!(a.resolve("q0", &decision("skip", "late", 99), false).await.unwrap(), held);
}

/// Issue 12: a decision made outside the run is marked not acted on until a
/// run resumes from it (or the live run that waited reads it).
#[tokio::test]
async fn a_decision_made_outside_the_run_is_applied_once_a_run_goes_on_with_it() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("j.sqlite3");
    let j = SqliteJournal::open(&path).unwrap();
    j.record(Event::new(1, "run-a", "job", Body::from_parts(EventKind::RunStarted, serde_json::Value::Null), Level::Info, "start"));
    j.save_approval(&request("q1")).await.unwrap();
    j.resolve("q1", &decision("abort", "cli", 7), false).await.unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(!r.approval_applied("q1").unwrap());
    let (req, dec) = r.unapplied_decision("run-a").unwrap().expect("waiting to be applied");
    assert_eq!((req.id.as_str(), dec.option.as_str()), ("q1", "abort"));
    let resumed = Event {
        ..Event::new(
            9,
            "run-a",
            "job",
            Body::from_parts(EventKind::RunStarted, serde_json::json!({"resumed_from": "q1"})),
            Level::Info,
            "again",
        )
    };
    j.record(resumed);
    j.flush().await.unwrap();
    assert!(r.approval_applied("q1").unwrap());
    assert!(r.unapplied_decision("run-a").unwrap().is_none());
    // A live run that reads someone else's decision marks it acted on too.
    j.save_approval(&request("q2")).await.unwrap();
    j.resolve("q2", &decision("abort", "cli", 8), false).await.unwrap();
    j.resolve_approval("q2", &decision("abort", "cli", 8)).await.unwrap();
    assert!(r.approval_applied("q2").unwrap());
}

/// Issue 12: the writer keeps where each run is; `call_started` is durable
/// when `record_durable` returns, with everything recorded before it.
#[tokio::test]
async fn the_run_position_follows_steps_and_calls_written_ahead() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("j.sqlite3");
    let j = SqliteJournal::open(&path).unwrap();
    let r = Reader::open(&path).unwrap();
    let step = |kind: EventKind, ts, step: &str, data: serde_json::Value| Event {
        step: Some(step.into()),
        ..Event::new(ts, "run-p", "job", Body::from_parts(kind, data), Level::Info, "m")
    };
    j.record(Event::new(1, "run-p", "job", Body::from_parts(EventKind::RunStarted, serde_json::Value::Null), Level::Info, "start"));
    j.record(step(EventKind::StepStarted, 2, "one", serde_json::Value::Null));
    j.record(step(EventKind::StepFinished, 3, "one", serde_json::Value::Null));
    j.record(step(EventKind::StepStarted, 4, "two", serde_json::Value::Null));
    let started = Event {
        tool: Some("exec".into()),
        ..step(EventKind::CallStarted, 5, "two", serde_json::json!({"call": "c1", "purpose": "call", "call_text": "rm -rf x"}))
    };
    j.record_durable(started).await.unwrap();
    // No flush: what record_durable returned on is already readable.
    let s = r.run_state("run-p").unwrap().unwrap();
    assert_eq!((s.status.as_deref(), s.step.as_deref(), s.step_open, s.last_ms), (None, Some("two"), true, Some(5)));
    let f = s.in_flight.expect("a call in flight");
    assert_eq!(
        (f["call"].as_str(), f["call_text"].as_str(), f["step"].as_str(), f["started_ms"].as_i64()),
        (Some("c1"), Some("rm -rf x"), Some("two"), Some(5))
    );
    assert_eq!(r.open_runs().unwrap(), vec!["run-p".to_owned()]);
    // The step started again (a restart) and its verify call, written ahead
    // too, do not hide the call that may have run.
    j.record(step(EventKind::StepStarted, 5, "two", serde_json::Value::Null));
    let verify = Event {
        tool: Some("exec".into()),
        ..step(EventKind::CallStarted, 5, "two", serde_json::json!({"call": "v1", "call_text": "test -e x"}))
    };
    j.record_durable(verify).await.unwrap();
    j.record(Event { ..step(EventKind::Call, 5, "two", serde_json::json!({"call": "v1"})) });
    j.flush().await.unwrap();
    let f = r.run_state("run-p").unwrap().unwrap().in_flight.expect("still in doubt");
    assert_eq!(f["call"].as_str(), Some("c1"));
    // Its outcome ends it; a read-only call (no id) does not touch it.
    j.record(Event { ..step(EventKind::Call, 6, "two", serde_json::json!({"call": "c1"})) });
    j.record(Event { ..step(EventKind::Call, 7, "two", serde_json::json!({"purpose": "verify"})) });
    j.flush().await.unwrap();
    let s = r.run_state("run-p").unwrap().unwrap();
    assert!(s.in_flight.is_none());
    assert_eq!(s.last_ms, Some(6));
    j.record(step(EventKind::StepFinished, 8, "two", serde_json::Value::Null));
    j.record(Event {
        ..Event::new(
            9,
            "run-p",
            "job",
            Body::from_parts(EventKind::RunFinished, serde_json::json!({"status": "interrupted", "reason": "killed"})),
            Level::Error,
            "end",
        )
    });
    j.flush().await.unwrap();
    let s = r.run_state("run-p").unwrap().unwrap();
    assert_eq!((s.status.as_deref(), s.reason.as_deref(), s.step_open), (Some("interrupted"), Some("killed"), false));
    assert!(r.open_runs().unwrap().is_empty());
}

/// Issue 15: a journal written before events were typed (by the version
/// at `2ae0506`: two `mend demo` runs, one headless `mend run` whose hung
/// command went to a person as a call in doubt) reads back with every
/// payload typed, and writes the same JSON again.
#[test]
fn a_journal_written_before_typed_events_reads_back_typed() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-v5.sqlite3");
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("old.sqlite3");
    std::fs::copy(fixture, &path).unwrap();
    let r = Reader::open(&path).unwrap();
    let events = r.logs(&LogFilter::default()).unwrap();
    assert_eq!(events.len(), 125, "every event of the fixture");
    let unread: Vec<String> = events
        .iter()
        .filter_map(|e| if let Body::Unread { kind, data } = &e.body { Some(format!("{kind:?}: {data}")) } else { None })
        .collect();
    assert!(unread.is_empty(), "payloads this version cannot read:\n{}", unread.join("\n"));
    let mut kinds: Vec<EventKind> = events.iter().map(|e| e.kind()).collect();
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    assert_eq!(kinds.len(), 13, "every kind is in the fixture: {kinds:?}");
    // What readers need is there, typed.
    assert!(events.iter().any(|e| matches!(&e.body, Body::Recovery(r) if r.attempts > 0)));
    assert!(events.iter().any(|e| matches!(&e.body, Body::Decision(d) if !d.request.is_empty())));
    assert!(events.iter().any(|e| matches!(&e.body, Body::Guardrail(mend_core::payload::Guardrail::InDoubt { .. }))));
    assert!(events.iter().any(|e| matches!(&e.body, Body::Call(c) if c.call.is_some())));
    assert!(events.iter().any(|e| matches!(&e.body, Body::Escalation(q) if !q.options.is_empty())));
    // Written back, each payload is the JSON the old version wrote (fields
    // an old row lacks are filled with their defaults, nothing is lost).
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut st = conn.prepare("SELECT data FROM events ORDER BY id").unwrap();
    let stored: Vec<Option<String>> = st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    for (e, old) in events.iter().zip(&stored) {
        let old: serde_json::Value = old.as_deref().map(|s| serde_json::from_str(s).unwrap()).unwrap_or_default();
        let new = e.body.data();
        if let (Some(o), Some(n)) = (old.as_object(), new.as_object()) {
            for (k, v) in o {
                assert_eq!(n.get(k), Some(v), "{:?}: field `{k}` changed", e.kind());
            }
        }
    }
}
