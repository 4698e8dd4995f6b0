//! The journal on a real SQLite file: order, durability, filters.

use mend_core::approval::{ApprovalKind, ApprovalOption, ApprovalRequest, Choice, DecidedBy, Decision, OnTimeout};
use mend_core::event::{Event, EventKind, Journal, Level};
use mend_journal::{LogFilter, Reader, SqliteJournal};

fn ev(i: usize, kind: EventKind, level: Level) -> Event {
    Event {
        tool: Some(if i.is_multiple_of(2) { "http" } else { "exec" }.into()),
        code: (level == Level::Warn).then(|| "TIMEOUT".into()),
        data: serde_json::json!({"i": i, "note": format!("needle-{i}")}),
        ..Event::new(1_000 + i as i64, if i < 30 { "run-a" } else { "run-b" }, "job", kind, level, format!("e{i}"))
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
