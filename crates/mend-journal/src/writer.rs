//! The writer thread: owns the write connection, commits in batches and
//! keeps the rollups current.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};

use mend_core::event::{Event, EventKind};
use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use crate::Cmd;

/// Largest batch committed at once.
const BATCH: usize = 8192;
const HOUR_MS: i64 = 3_600_000;

type Ack = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Rollups {
    /// (hour, code, action) → (attempts, successes, total_ms)
    attempts: HashMap<(i64, String, String), (i64, i64, i64)>,
    /// (hour, tool, code) → (calls, total_ms)
    calls: HashMap<(i64, String, String), (i64, i64)>,
    /// (hour, status, failed_first, person) → steps
    steps: HashMap<(i64, String, bool, bool), i64>,
    /// hour → tokens
    tokens: HashMap<i64, i64>,
}

impl Rollups {
    fn add(&mut self, e: &Event) {
        let hour = e.ts_ms.div_euclid(HOUR_MS);
        let ms = e.duration_ms.unwrap_or(0) as i64;
        match e.kind {
            EventKind::Attempt => {
                let k = (hour, e.code.clone().unwrap_or_default(), e.action.clone().unwrap_or_default());
                let v = self.attempts.entry(k).or_default();
                v.0 += 1;
                v.1 += i64::from(e.ok == Some(true));
                v.2 += ms;
            }
            EventKind::Call => {
                let k = (hour, e.tool.clone().unwrap_or_default(), e.code.clone().unwrap_or_default());
                let v = self.calls.entry(k).or_default();
                v.0 += 1;
                v.1 += ms;
            }
            EventKind::StepFinished => {
                let d = &e.data;
                let status = d.get("status").and_then(|s| s.as_str()).unwrap_or("").to_owned();
                let ff = d.get("failed_first").and_then(|s| s.as_bool()).unwrap_or(false);
                let person = d.get("person").and_then(|s| s.as_bool()).unwrap_or(false);
                *self.steps.entry((hour, status, ff, person)).or_default() += 1;
            }
            _ => {}
        }
        if let Some(t) = e.tokens.filter(|&t| t > 0) {
            *self.tokens.entry(hour).or_default() += t as i64;
        }
    }

    fn write(&self, tx: &Transaction) -> rusqlite::Result<()> {
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_attempts (hour, code, action, attempts, successes, total_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (hour, code, action) DO UPDATE SET attempts = attempts + ?4, successes = successes + ?5, total_ms = total_ms + ?6",
        )?;
        for ((h, c, a), (n, ok, ms)) in &self.attempts {
            st.execute(params![h, c, a, n, ok, ms])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_calls (hour, tool, code, calls, total_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hour, tool, code) DO UPDATE SET calls = calls + ?4, total_ms = total_ms + ?5",
        )?;
        for ((h, t, c), (n, ms)) in &self.calls {
            st.execute(params![h, t, c, n, ms])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_steps (hour, status, failed_first, person, steps) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hour, status, failed_first, person) DO UPDATE SET steps = steps + ?5",
        )?;
        for ((h, s, ff, p), n) in &self.steps {
            st.execute(params![h, s, ff, p, n])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_tokens (hour, tokens) VALUES (?1, ?2) ON CONFLICT (hour) DO UPDATE SET tokens = tokens + ?2",
        )?;
        for (h, t) in &self.tokens {
            st.execute(params![h, t])?;
        }
        Ok(())
    }
}

fn insert_event(tx: &Transaction, e: &Event) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO events (ts_ms, run_id, job, step, kind, level, tool, code, action, ok, duration_ms, tokens, message, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let data = if e.data.is_null() { None } else { Some(e.data.to_string()) };
    st.execute(params![
        e.ts_ms,
        e.run_id,
        e.job,
        e.step,
        e.kind.as_str(),
        e.level.as_str(),
        e.tool,
        e.code,
        e.action,
        e.ok,
        e.duration_ms.map(|d| d as i64),
        e.tokens.map(|t| t as i64),
        e.message,
        data,
    ])?;
    match e.kind {
        EventKind::RunStarted => {
            tx.prepare_cached("INSERT OR IGNORE INTO runs (run_id, job, started_ms) VALUES (?1, ?2, ?3)")?
                .execute(params![e.run_id, e.job, e.ts_ms])?;
        }
        EventKind::RunFinished => {
            let status = e.data.get("status").and_then(|s| s.as_str()).unwrap_or("");
            let attempts = e.data.get("attempts").and_then(|s| s.as_i64());
            tx.prepare_cached(
                "INSERT INTO runs (run_id, job, started_ms, finished_ms, status, attempts, tokens) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
                 ON CONFLICT (run_id) DO UPDATE SET finished_ms = ?3, status = ?4, attempts = ?5, tokens = ?6",
            )?
            .execute(params![e.run_id, e.job, e.ts_ms, status, attempts, e.tokens.map(|t| t as i64)])?;
        }
        _ => {}
    }
    Ok(())
}

/// Applies one batch in one transaction. Returns the acks to answer.
fn apply(conn: &mut Connection, batch: &mut Vec<Cmd>) -> (rusqlite::Result<()>, Vec<Ack>) {
    let mut acks = Vec::new();
    let durable = batch.iter().any(|c| matches!(c, Cmd::SaveApproval(..) | Cmd::Resolve(..)));
    let result = (|| {
        if durable {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let tx = conn.transaction()?;
        let mut rollups = Rollups::default();
        for cmd in batch.drain(..) {
            match cmd {
                Cmd::Event(e) => {
                    insert_event(&tx, &e)?;
                    rollups.add(&e);
                }
                Cmd::SaveApproval(r, ack) => {
                    let json = serde_json::to_string(&*r).unwrap_or_default();
                    tx.prepare_cached(
                        "INSERT INTO approvals (id, run_id, job, step, created_ms, state, request) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)
                         ON CONFLICT (id) DO UPDATE SET request = ?6",
                    )?
                    .execute(params![r.id, r.run_id, r.job, r.step, r.created_ms, json])?;
                    acks.push(ack);
                }
                Cmd::Resolve(id, d, ack) => {
                    let json = serde_json::to_string(&*d).unwrap_or_default();
                    let n = tx
                        .prepare_cached("UPDATE approvals SET state = 'decided', decision = ?2, decided_ms = ?3 WHERE id = ?1")?
                        .execute(params![id, json, d.decided_ms])?;
                    if n == 0 {
                        let _ = ack.send(Err(format!("no approval request {id}")));
                    } else {
                        acks.push(ack);
                    }
                }
                Cmd::Flush(ack) => acks.push(ack),
            }
        }
        rollups.write(&tx)?;
        tx.commit()?;
        if durable {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok(())
    })();
    (result, acks)
}

pub(crate) fn run(mut conn: Connection, rx: mpsc::Receiver<Cmd>, failed: Arc<Mutex<Option<String>>>, path: String) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let (result, acks) = apply(&mut conn, &mut batch);
        let reply = result.map_err(|e| format!("{path}: {e}"));
        if let Err(e) = &reply {
            eprintln!("mend: journal write failed: {e}");
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert(e.clone());
            }
        }
        for ack in acks {
            let _ = ack.send(reply.clone());
        }
    }
    // Channel closed: everything queued was written above.
    let _ = conn.pragma_update(None, "wal_checkpoint", "PASSIVE");
}
