//! The dashboard's queries at a million events (BENCHMARKS.md): the
//! journal filled through the real writer (rollups kept as it goes) with a
//! month of runs, then `metrics` and `series` for 24 h, 7 days and 30 days.
//! `cargo bench -p mend-journal --bench dashboard`; set
//! `MEND_DASHBOARD_JSON=FILE` to also write the 7-day view for the UI's
//! render benchmark (`scripts/bench-dashboard.sh`). Under `cargo test` it
//! runs at 20,000 events as a smoke test.

use std::time::{Duration, Instant};

use mend_core::event::{Event, EventKind, Journal, Level};
use mend_core::payload::Body;
use mend_journal::{Reader, SqliteJournal};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

/// One run of ten events: a failed call, its diagnosis, attempts, a
/// recovery (or an escalation and a decision), and the steps around them.
fn run(j: &SqliteJournal, i: usize, ts: i64) {
    let id = format!("run-{i:08}");
    let codes = ["SERVER_ERROR", "RATE_LIMITED", "TIMEOUT", "CONNECTION_REFUSED", "NOT_FOUND"];
    let actions = ["retry_same", "retry_same", "retry_modified", "use_alternative", "retry_modified"];
    let k = i % codes.len();
    let (code, action) = (codes[k], actions[k]);
    let ev = |dt: i64, kind: EventKind, data: Value, level: Level| Event {
        step: Some("fetch".into()),
        ..Event::new(ts + dt, &id, "nightly", Body::from_parts(kind, data), level, format!("{kind:?}"))
    };
    j.record(ev(0, EventKind::RunStarted, Value::Null, Level::Info));
    j.record(ev(1, EventKind::StepStarted, Value::Null, Level::Info));
    j.record(Event {
        tool: Some("http".into()),
        code: Some(code.into()),
        ok: Some(false),
        duration_ms: Some(30),
        ..ev(2, EventKind::Call, Value::Null, Level::Warn)
    });
    j.record(Event { code: Some(code.into()), action: Some(action.into()), ..ev(3, EventKind::Diagnosis, Value::Null, Level::Info) });
    let fixed = !i.is_multiple_of(10);
    j.record(Event {
        tool: Some("http".into()),
        code: Some(code.into()),
        action: Some(action.into()),
        ok: Some(fixed),
        duration_ms: Some(25),
        ..ev(400, EventKind::Attempt, Value::Null, Level::Info)
    });
    if fixed {
        j.record(Event {
            tool: Some("http".into()),
            code: Some(code.into()),
            action: Some(action.into()),
            ok: Some(true),
            duration_ms: Some(400 + (i % 40) as u64 * 100),
            ..ev(401, EventKind::Recovery, json!({"attempts": 1 + i % 3}), Level::Info)
        });
    } else {
        j.record(Event { code: Some(code.into()), ..ev(401, EventKind::Escalation, Value::Null, Level::Warn) });
        j.record(Event {
            action: Some("retry".into()),
            duration_ms: Some(5_000 + (i % 7) as u64 * 1_000),
            ..ev(9_000, EventKind::Decision, json!({"request": "q", "decision": {"option": "retry", "decided_by": {"by": "person", "who": ""}, "decided_ms": 0}, "recommended": "retry"}), Level::Info)
        });
    }
    j.record(Event {
        ok: Some(true),
        ..ev(9_500, EventKind::StepFinished, json!({"status": "healed", "failed_first": true, "person": !fixed}), Level::Info)
    });
    j.record(Event {
        ok: Some(true),
        step: None,
        ..ev(9_600, EventKind::RunFinished, json!({"status": "succeeded", "attempts": 1}), Level::Info)
    });
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let events: usize = if bench { 1_000_000 } else { 20_000 };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite3");
    let j = SqliteJournal::open(&path).unwrap();
    let now = mend_core::clock::now_ms();
    let runs = events / 10;
    let span = 30 * 24 * HOUR;
    let t0 = Instant::now();
    for i in 0..runs {
        run(&j, i, now - span + (i as i64 * span / runs as i64));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(j.flush()).unwrap();
    j.close();
    let fill = t0.elapsed();
    let reader = Reader::open(&path).unwrap();
    println!("| measure | result |\n| --- | --- |");
    println!("| fill the journal through the writer: {events} events ({runs} runs over 30 days) | {:.1} s |", fill.as_secs_f64());
    for (name, window, bucket) in
        [("24 hours", 24 * HOUR, HOUR), ("7 days", 7 * 24 * HOUR, 6 * HOUR), ("30 days", 30 * 24 * HOUR, 24 * HOUR)]
    {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..if bench { 20 } else { 2 } {
            let t = Instant::now();
            let m = reader.metrics(Some(now - window)).unwrap();
            let s = reader.series(now - window, bucket).unwrap();
            times.push(ms(t.elapsed()));
            last = Some((m, s));
        }
        let (m, s) = last.unwrap();
        assert!(m.calls > 0 && m.recovery.recovered > 0 && !s.by_code_action.is_empty(), "{name}");
        println!(
            "| {events} events: dashboard queries (metrics + series), last {name}, median of {} | {:.0} ms |",
            times.len(),
            pct(&mut times, 0.5)
        );
        println!("| {events} events: the same, p99 | {:.0} ms |", pct(&mut times, 0.99));
        if name == "7 days"
            && let Some(out) = std::env::var_os("MEND_DASHBOARD_JSON")
        {
            std::fs::write(out, serde_json::to_vec(&json!({"metrics": m, "series": s})).unwrap()).unwrap();
        }
    }
}
