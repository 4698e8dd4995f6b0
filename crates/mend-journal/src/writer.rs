//! The writer thread: owns the write connection, commits in batches and
//! keeps the rollups current.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, mpsc};

use mend_core::approval::Decision;
use mend_core::event::{Event, JournalError};
use mend_core::payload::Body;
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params, params_from_iter};

use crate::Cmd;

/// Largest batch committed at once.
const BATCH: usize = 8192;
/// How long trickling events wait to share a commit.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// Fewer queued commands than this is a trickle, worth waiting for company.
const TRICKLE: usize = 256;
const HOUR_MS: i64 = 3_600_000;

#[derive(Default)]
struct Rollups<'a> {
    /// (hour, code, action) → (attempts, successes, total_ms)
    attempts: HashMap<(i64, &'a str, &'a str), (i64, i64, i64)>,
    /// (hour, tool, code) → (calls, total_ms)
    calls: HashMap<(i64, &'a str, &'a str), (i64, i64)>,
    /// (hour, status, failed_first, person) → steps
    steps: HashMap<(i64, &'a str, bool, bool), i64>,
    /// (hour, code) → (recoveries, attempts)
    recoveries: HashMap<(i64, &'a str), (i64, i64)>,
    /// (hour, option, decider, took the recommendation) → decisions
    decisions: HashMap<(i64, &'a str, &'a str, bool), i64>,
    /// hour → tokens
    tokens: HashMap<i64, i64>,
}

impl<'a> Rollups<'a> {
    fn add(&mut self, e: &'a Event) {
        let hour = e.ts_ms.div_euclid(HOUR_MS);
        let ms = e.duration_ms.unwrap_or(0) as i64;
        match &e.body {
            Body::Attempt(_) => {
                let k = (hour, e.code.as_deref().unwrap_or(""), e.action.as_deref().unwrap_or(""));
                let v = self.attempts.entry(k).or_default();
                v.0 += 1;
                v.1 += i64::from(e.ok == Some(true));
                v.2 += ms;
            }
            Body::Call(_) => {
                let k = (hour, e.tool.as_deref().unwrap_or(""), e.code.as_deref().unwrap_or(""));
                let v = self.calls.entry(k).or_default();
                v.0 += 1;
                v.1 += ms;
            }
            Body::Recovery(r) => {
                let v = self.recoveries.entry((hour, e.code.as_deref().unwrap_or(""))).or_default();
                v.0 += 1;
                v.1 += r.attempts as i64;
            }
            Body::Decision(d) => {
                let option = e.action.as_deref().unwrap_or("");
                let rec = d.recommended == option;
                *self.decisions.entry((hour, option, d.decision.decided_by.as_str(), rec)).or_default() += 1;
            }
            Body::StepFinished(s) => {
                *self.steps.entry((hour, s.status.as_str(), s.failed_first, s.person)).or_default() += 1;
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
            "INSERT INTO rollup_recoveries (hour, code, recoveries, attempts) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (hour, code) DO UPDATE SET recoveries = recoveries + ?3, attempts = attempts + ?4",
        )?;
        for ((h, c), (n, a)) in &self.recoveries {
            st.execute(params![h, c, n, a])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_decisions (hour, option, decider, recommended, decisions) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hour, option, decider, recommended) DO UPDATE SET decisions = decisions + ?5",
        )?;
        for ((h, o, d, r), n) in &self.decisions {
            st.execute(params![h, o, d, r, n])?;
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

/// Rows per multi-row INSERT: one statement step per 16 events instead of 16.
const ROWS: usize = 16;

fn insert_sql(rows: usize) -> String {
    let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT INTO events (ts_ms, run_id, job, step, kind, level, tool, code, action, ok, duration_ms, tokens, message, data, agent) VALUES {}",
        vec![one; rows].join(", ")
    )
}

static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS));
static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));

/// Inserts events in order, `ROWS` at a time, and keeps `runs` current.
fn insert_events(tx: &Transaction, events: &[&Event]) -> rusqlite::Result<()> {
    for chunk in events.chunks(ROWS) {
        let data: Vec<Option<String>> = chunk
            .iter()
            .map(|e| {
                let d = e.body.data();
                (!d.is_null()).then(|| d.to_string())
            })
            .collect();
        let nums: Vec<(Option<i64>, Option<i64>)> =
            chunk.iter().map(|e| (e.duration_ms.map(|d| d as i64), e.tokens.map(|t| t as i64))).collect();
        let labels: Vec<(&str, &str)> = chunk.iter().map(|e| (e.kind().as_str(), e.level.as_str())).collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 15);
        for (i, e) in chunk.iter().enumerate() {
            values.extend_from_slice(&[
                &e.ts_ms as &dyn ToSql,
                &e.run_id,
                &e.job,
                &e.step,
                &labels[i].0,
                &labels[i].1,
                &e.tool,
                &e.code,
                &e.action,
                &e.ok,
                &nums[i].0,
                &nums[i].1,
                &e.message,
                &data[i],
                &e.agent,
            ]);
        }
        if chunk.len() == ROWS {
            tx.prepare_cached(&INSERT_MANY)?.execute(params_from_iter(values))?;
        } else {
            let mut st = tx.prepare_cached(&INSERT_ONE)?;
            for row in values.chunks(15) {
                st.execute(params_from_iter(row.iter()))?;
            }
        }
    }
    for e in events {
        match &e.body {
            Body::RunStarted(r) => {
                // A resumed run keeps its first start; a job path is kept once known.
                let path = r.job_path.as_deref();
                tx.prepare_cached(
                    "INSERT INTO runs (run_id, job, started_ms, job_path, last_ms, agent) VALUES (?1, ?2, ?3, ?4, ?3, ?5)
                     ON CONFLICT (run_id) DO UPDATE SET job_path = COALESCE(?4, job_path), finished_ms = NULL, status = NULL,
                         reason = NULL, last_ms = ?3, agent = COALESCE(?5, agent)",
                )?
                .execute(params![e.run_id, e.job, e.ts_ms, path, e.agent])?;
                // The decision a resumed run goes on with has been acted on.
                if let Some(id) = &r.resumed_from {
                    tx.prepare_cached("UPDATE approvals SET applied = 1 WHERE id = ?1")?.execute([id])?;
                }
            }
            Body::RunFinished(r) => {
                let status = r.status.as_str();
                let attempts = r.attempts.map(i64::from);
                let reason = r.reason.as_deref();
                tx.prepare_cached(
                    "INSERT INTO runs (run_id, job, started_ms, finished_ms, status, attempts, tokens, reason) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (run_id) DO UPDATE SET finished_ms = ?3, status = ?4, attempts = COALESCE(?5, attempts),
                         tokens = COALESCE(?6, tokens), reason = ?7",
                )?
                .execute(params![e.run_id, e.job, e.ts_ms, status, attempts, e.tokens.map(|t| t as i64), reason])?;
                // A call its dead owner left running, stopped by whoever found it.
                if let Some(s) = &r.stopped {
                    tx.prepare_cached(
                        "UPDATE runs SET in_flight = json_set(in_flight, '$.stopped', ?2) WHERE run_id = ?1 AND in_flight IS NOT NULL",
                    )?
                    .execute(params![e.run_id, s])?;
                }
            }
            // Where each run is (schema 5, issue 12). A call in flight stays
            // until its own outcome or the end of its step: a restarted
            // step's verify call, or a step started again, never hides a
            // call that may have run.
            Body::StepStarted(_) => {
                tx.prepare_cached("UPDATE runs SET step = ?2, step_open = 1, last_ms = MAX(COALESCE(last_ms, 0), ?3) WHERE run_id = ?1")?
                    .execute(params![e.run_id, e.step, e.ts_ms])?;
            }
            Body::StepFinished(_) => {
                tx.prepare_cached(
                    "UPDATE runs SET step_open = 0, in_flight = NULL, last_ms = MAX(COALESCE(last_ms, 0), ?2) WHERE run_id = ?1",
                )?
                .execute(params![e.run_id, e.ts_ms])?;
            }
            Body::CallStarted(_) => {
                let mut v = e.body.data();
                if let Some(o) = v.as_object_mut() {
                    o.insert("step".into(), e.step.clone().into());
                    o.insert("tool".into(), e.tool.clone().into());
                    o.insert("started_ms".into(), e.ts_ms.into());
                    o.insert("message".into(), e.message.clone().into());
                }
                tx.prepare_cached(
                    "UPDATE runs SET in_flight = COALESCE(in_flight, ?2), last_ms = MAX(COALESCE(last_ms, 0), ?3) WHERE run_id = ?1",
                )?
                .execute(params![e.run_id, v.to_string(), e.ts_ms])?;
            }
            Body::Call(c) => {
                if let Some(id) = &c.call {
                    tx.prepare_cached(
                        "UPDATE runs SET in_flight = CASE WHEN json_extract(in_flight, '$.call') = ?2 THEN NULL ELSE in_flight END,
                             last_ms = MAX(COALESCE(last_ms, 0), ?3)
                         WHERE run_id = ?1",
                    )?
                    .execute(params![e.run_id, id, e.ts_ms])?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies one batch in one transaction and answers whoever waits on it.
fn apply(conn: &mut Connection, batch: &mut Vec<Cmd>, path: &str) -> Result<(), String> {
    let durable = batch
        .iter()
        .any(|c| matches!(c, Cmd::Durable(..) | Cmd::SaveApproval(..) | Cmd::Resolve(..) | Cmd::SaveRule(..) | Cmd::DeleteRule(..)));
    let mut unknown: Vec<usize> = Vec::new();
    // Resolve commands that found the request already decided: the decision that holds.
    let mut earlier: HashMap<usize, Decision> = HashMap::new();
    let result = (|| {
        if durable {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let tx = conn.transaction()?;
        let mut rollups = Rollups::default();
        // Events go in runs between the other commands, so ids keep the order.
        let mut pending: Vec<&Event> = Vec::new();
        for (i, cmd) in batch.iter().enumerate() {
            if !matches!(cmd, Cmd::Event(_) | Cmd::Durable(..)) && !pending.is_empty() {
                insert_events(&tx, &pending)?;
                pending.clear();
            }
            match cmd {
                Cmd::Event(e) | Cmd::Durable(e, _) => {
                    pending.push(e);
                    rollups.add(e);
                }
                Cmd::SaveApproval(r, _) => {
                    let json = serde_json::to_string(&**r).unwrap_or_default();
                    tx.prepare_cached(
                        "INSERT INTO approvals (id, run_id, job, step, created_ms, state, request) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)
                         ON CONFLICT (id) DO UPDATE SET request = ?6",
                    )?
                    .execute(params![r.id, r.run_id, r.job, r.step, r.created_ms, json])?;
                }
                Cmd::Resolve(id, d, applied, _) => {
                    // Only a pending request takes a decision: two deciders at
                    // once (the desktop app and a terminal) yield one.
                    let json = serde_json::to_string(&**d).unwrap_or_default();
                    let n = tx
                        .prepare_cached(
                            "UPDATE approvals SET state = 'decided', decision = ?2, decided_ms = ?3, applied = ?4
                             WHERE id = ?1 AND state = 'pending'",
                        )?
                        .execute(params![id, json, d.decided_ms, applied])?;
                    if n == 0 {
                        let held: Option<Option<String>> =
                            tx.prepare_cached("SELECT decision FROM approvals WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()?;
                        match held.flatten().and_then(|j| serde_json::from_str::<Decision>(&j).ok()) {
                            Some(first) => {
                                // The caller acts on the decision that holds.
                                if *applied {
                                    tx.prepare_cached("UPDATE approvals SET applied = 1 WHERE id = ?1")?.execute([id])?;
                                }
                                earlier.insert(i, first);
                            }
                            None => unknown.push(i),
                        }
                    }
                }
                Cmd::Flush(_) => {}
                Cmd::SaveRule(r, _) => {
                    let json = serde_json::to_string(&**r).unwrap_or_default();
                    tx.prepare_cached(
                        "INSERT INTO rules (id, created_ms, rule) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET rule = ?3",
                    )?
                    .execute(params![r.id, r.created_ms, json])?;
                }
                Cmd::DeleteRule(id, _) => {
                    if tx.prepare_cached("DELETE FROM rules WHERE id = ?1")?.execute([id])? == 0 {
                        unknown.push(i);
                    }
                }
            }
        }
        insert_events(&tx, &pending)?;
        rollups.write(&tx)?;
        tx.commit()?;
        if durable {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok::<(), rusqlite::Error>(())
    })();
    let reply = result.map_err(|e| format!("{path}: {e}"));
    let stored = reply.clone().map_err(JournalError::Storage);
    for (i, cmd) in batch.drain(..).enumerate() {
        let ack = match cmd {
            Cmd::Event(_) => continue,
            Cmd::Durable(_, ack) | Cmd::SaveApproval(_, ack) | Cmd::Flush(ack) | Cmd::SaveRule(_, ack) => ack,
            Cmd::Resolve(id, d, _, ack) => {
                let r = match (&stored, earlier.remove(&i)) {
                    (Err(e), _) => Err(e.clone()),
                    (Ok(()), _) if unknown.contains(&i) => Err(JournalError::NotFound(format!("no approval request {id}"))),
                    (Ok(()), Some(first)) => Ok(first),
                    (Ok(()), None) => Ok(*d),
                };
                let _ = ack.send(r);
                continue;
            }
            Cmd::DeleteRule(id, ack) if unknown.contains(&i) => {
                let _ = ack.send(Err(JournalError::NotFound(format!("no remembered decision {id}"))));
                continue;
            }
            Cmd::DeleteRule(_, ack) => ack,
        };
        let _ = ack.send(stored.clone());
    }
    reply
}

pub(crate) fn run(mut conn: Connection, rx: mpsc::Receiver<Cmd>, failed: Arc<Mutex<Option<String>>>, path: String) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        // Group commit: when events trickle in (a run in progress), the
        // writer parks for LINGER so a few milliseconds of events share one
        // commit; it parks rather than waiting on the channel so plain
        // events never pay for waking it. Under load the queue is already
        // full and nothing waits. A flush or an approval unparks it.
        let mut urgent = !matches!(first, Cmd::Event(_));
        let mut lingered = false;
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => {
                    urgent |= !matches!(c, Cmd::Event(_));
                    batch.push(c);
                }
                Err(mpsc::TryRecvError::Empty) if !urgent && !lingered && batch.len() < TRICKLE => {
                    // Woken early (unpark) by a flush or an approval.
                    std::thread::park_timeout(LINGER);
                    lingered = true;
                }
                Err(_) => break,
            }
        }
        if let Err(e) = apply(&mut conn, &mut batch, &path) {
            eprintln!("mend: journal write failed: {e}");
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert(e);
            }
        }
    }
    // Channel closed: everything queued was written above.
    let _ = conn.pragma_update(None, "wal_checkpoint", "PASSIVE");
}
