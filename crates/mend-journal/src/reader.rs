//! Reading the journal: logs, metrics (every call's from the hourly
//! rollups, one agent's from its events), the policy's success rates, and
//! pending approvals. Each [`Reader`] has its own connection.

use std::collections::BTreeMap;
use std::path::Path;

use mend_core::approval::{ApprovalRequest, Decision, DecisionRule};
use mend_core::event::{Event, EventKind, Level, Stats};
use mend_core::payload::Body;
use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as Sql};
use serde::Serialize;
use serde_json::Value;

use crate::Error;

const HOUR_MS: i64 = 3_600_000;

/// A read connection.
pub struct Reader {
    conn: Connection,
    path: String,
}

/// What `mend logs` filters by. Every field is optional.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// At least this level.
    pub min_level: Option<Level>,
    /// At or after this time (ms since epoch).
    pub since_ms: Option<i64>,
    /// Before this time (ms since epoch).
    pub until_ms: Option<i64>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this error code.
    pub code: Option<String>,
    /// Only this run.
    pub run_id: Option<String>,
    /// Only this job.
    pub job: Option<String>,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// The message or data contains this text (case-insensitive).
    pub text: Option<String>,
    /// Only this agent's runs (issue 17; `clientInfo.name` of an MCP host).
    pub agent: Option<String>,
    /// The newest this many (in time order).
    pub limit: usize,
}

/// Success of one (error code × action).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionRate {
    /// The error code being fixed.
    pub code: String,
    /// The action.
    pub action: String,
    /// Attempts.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub attempts: i64,
    /// Attempts that fixed it.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub successes: i64,
    /// successes / attempts.
    pub rate: f64,
    /// Mean duration of the attempt's call.
    pub avg_ms: f64,
}

/// Recoveries and how long they took.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Recovery {
    /// Failures healed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub recovered: i64,
    /// Mean healing attempts per recovery.
    pub attempts_avg: f64,
    /// Time to recover, median.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ttr_p50_ms: i64,
    /// Time to recover, 95th percentile.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ttr_p95_ms: i64,
    /// Time to recover, worst.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ttr_max_ms: i64,
}

/// Steps whose first call failed, and how they ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Healing {
    /// Steps run.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub steps: i64,
    /// Steps whose first call failed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub failed_first: i64,
    /// Of those, healed (or verified) without a person.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub autonomous: i64,
    /// Of those, healed or finished after a person decided.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub with_person: i64,
    /// autonomous / failed_first.
    pub autonomous_rate: f64,
}

/// Escalations and their answers.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Escalations {
    /// Requests raised.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub raised: i64,
    /// Requests still pending now.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending: i64,
    /// Decisions by option id.
    #[cfg_attr(feature = "ts", ts(type = "[string, number][]"))]
    pub by_option: Vec<(String, i64)>,
    /// Decisions by who decided (person, policy, timeout).
    #[cfg_attr(feature = "ts", ts(type = "[string, number][]"))]
    pub by_decider: Vec<(String, i64)>,
    /// Decisions that took the recommended option.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub took_recommended: i64,
    /// Median time to a decision.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub decide_p50_ms: i64,
}

/// Failing calls by tool and code.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failing {
    /// Tool.
    pub tool: String,
    /// Code.
    pub code: String,
    /// Failed calls.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub calls: i64,
}

/// One run, as `mend runs` lists it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// Job name.
    pub job: String,
    /// When it started (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub started_ms: i64,
    /// When it ended, if it did.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub finished_ms: Option<i64>,
    /// succeeded, failed, aborted, waiting, interrupted, or running.
    pub status: String,
    /// Healing attempts.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub attempts: i64,
    /// The job file.
    pub job_path: Option<String>,
    /// The agent whose call the run is (issue 17), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub agent: Option<String>,
    /// Requests of this run still waiting for a person.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending_approvals: i64,
    /// Decisions made from outside the run that no run has gone on with
    /// yet (`mend approvals decide --no-resume`, a decide whose resume
    /// failed): `mend runs resume` goes on with them.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub decided: i64,
    /// Why it ended, when the journal says (an interrupted run: by what).
    pub reason: Option<String>,
    /// When the run was last heard of (its last step or call, ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_ms: Option<i64>,
    /// The step last started, while it has not finished.
    pub step: Option<String>,
    /// The call that changes the world started in that step with no
    /// outcome in the journal (as shown, redacted): it may have run.
    pub in_flight: Option<String>,
}

/// Where a run is, as the journal knows it (schema 5, issue 12): what a
/// process that takes over a run whose owner died goes on from.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// The run.
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// `None` while the run has not ended (its owner may be alive or dead:
    /// only the run's lease tells); else succeeded, failed, aborted,
    /// waiting or interrupted.
    pub status: Option<String>,
    /// The job file.
    pub job_path: Option<String>,
    /// The step last started.
    pub step: Option<String>,
    /// Whether that step was still going on.
    pub step_open: bool,
    /// The call that changes the world which was started and has no outcome
    /// in the journal: the `call_started` event's data plus `step`, `tool`,
    /// `started_ms` and `message`. It may or may not have run.
    pub in_flight: Option<serde_json::Value>,
    /// When the run was last heard of (ms since epoch).
    pub last_ms: Option<i64>,
    /// Why it ended.
    pub reason: Option<String>,
}

/// Everything `mend metrics` shows.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Metrics {
    /// Window start (ms since epoch), rounded down to the hour for rollups.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub since_ms: Option<i64>,
    /// Runs by status.
    #[cfg_attr(feature = "ts", ts(type = "[string, number][]"))]
    pub runs: Vec<(String, i64)>,
    /// Tool calls made.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub calls: i64,
    /// Tool calls that failed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub failed_calls: i64,
    /// Steps and healing.
    pub healing: Healing,
    /// Success per code × action, most attempts first.
    pub by_code_action: Vec<ActionRate>,
    /// Recoveries.
    pub recovery: Recovery,
    /// Escalations.
    pub escalations: Escalations,
    /// Top failing tools and codes.
    pub top_failing: Vec<Failing>,
    /// LLM tokens spent.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub tokens: i64,
}

/// One code × action over time (the dashboard's success-rate lines).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SeriesLine {
    /// The error code being fixed.
    pub code: String,
    /// The action.
    pub action: String,
    /// Attempts per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub attempts: Vec<i64>,
    /// Attempts that fixed it, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub successes: Vec<i64>,
}

/// Metrics over time (see [`Reader::series`]).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Series {
    /// Each bucket's start (ms since epoch).
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub buckets_ms: Vec<i64>,
    /// The bucket's length.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bucket_ms: i64,
    /// Success per code × action.
    pub by_code_action: Vec<SeriesLine>,
    /// Steps whose first call failed, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub failed_first: Vec<i64>,
    /// Of those, healed without a person.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub autonomous: Vec<i64>,
    /// Of those, a person decided.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub with_person: Vec<i64>,
    /// Tool calls, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub calls: Vec<i64>,
    /// Failed tool calls, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub failed_calls: Vec<i64>,
    /// Requests to a person, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub escalations: Vec<i64>,
    /// LLM tokens, per bucket.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub tokens: Vec<i64>,
    /// Every time to recover in the window, sorted.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub ttr_ms: Vec<i64>,
    /// Attempts of every recovery in the window, sorted.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub recovery_attempts: Vec<i64>,
    /// How long every decision took, sorted.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub decide_ms: Vec<i64>,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One agent's events in a window, for the dashboard's numbers of that
/// agent (issue 17). The rollups have no agent column, so these are counted
/// from the events; the partial index `events_agent` is used only when the
/// query repeats its `agent IS NOT NULL`. The payload is read only for the
/// kinds whose numbers are in it.
const AGENT_EVENTS: &str = "SELECT ts_ms, kind, tool, code, action, ok, duration_ms, tokens,
        CASE WHEN kind IN ('step_finished', 'recovery', 'decision') THEN data END
     FROM events WHERE agent = ?1 AND agent IS NOT NULL AND ts_ms >= ?2";

/// Each agent seen since `?1`, with its tool calls (see [`Reader::agents`]).
const AGENTS: &str = "SELECT agent, SUM(kind = 'call') AS n FROM events WHERE agent IS NOT NULL AND ts_ms >= ?1
     GROUP BY agent ORDER BY n DESC, agent";

/// One row of [`AGENT_EVENTS`], as the rollups would have counted it.
struct Counted {
    ts_ms: i64,
    kind: Option<EventKind>,
    tool: String,
    /// `""` when the event has none (a successful call), as in the rollups.
    code: String,
    action: String,
    ok: bool,
    duration_ms: i64,
    tokens: i64,
    /// The typed payload of a step_finished, recovery or decision event.
    body: Option<Body>,
}

impl Counted {
    /// A finished step as `rollup_steps` is read: `(failed_first,
    /// autonomous, with_person)` — its first call failed; then it was fixed
    /// without a person; or a person decided in it.
    fn step(&self) -> Option<(bool, bool, bool)> {
        let Some(Body::StepFinished(s)) = &self.body else { return None };
        let fixed = matches!(s.status.as_str(), "healed" | "verified" | "partial");
        Some((s.failed_first, s.failed_first && fixed && !s.person, s.failed_first && s.person))
    }
}

/// [`Metrics`] folded from one agent's events, as [`Reader::metrics`]
/// reads them from the rollups: what the rollups count from the hour of
/// the window's start, the raw values (percentiles, escalations raised)
/// from its exact start.
struct MetricsFold {
    since: i64,
    m: Metrics,
    /// (code, action) → (attempts, successes, total ms).
    rates: BTreeMap<(String, String), (i64, i64, i64)>,
    /// (tool, code) → failed calls.
    failing: BTreeMap<(String, String), i64>,
    by_option: BTreeMap<String, i64>,
    by_decider: BTreeMap<String, i64>,
    ttr: Vec<i64>,
    decide: Vec<i64>,
    recovery_attempts: i64,
}

impl MetricsFold {
    fn new(since_ms: Option<i64>) -> MetricsFold {
        MetricsFold {
            since: since_ms.unwrap_or(i64::MIN),
            m: Metrics { since_ms, ..Default::default() },
            rates: BTreeMap::new(),
            failing: BTreeMap::new(),
            by_option: BTreeMap::new(),
            by_decider: BTreeMap::new(),
            ttr: Vec::new(),
            decide: Vec::new(),
            recovery_attempts: 0,
        }
    }

    /// Where the events it counts start: the hour of the window's start.
    fn start_ms(&self) -> i64 {
        self.since.div_euclid(HOUR_MS).saturating_mul(HOUR_MS)
    }

    fn add(&mut self, ev: &Counted) {
        let m = &mut self.m;
        let exact = ev.ts_ms >= self.since;
        m.tokens += ev.tokens.max(0);
        match ev.kind {
            Some(EventKind::Call) => {
                m.calls += 1;
                if !ev.code.is_empty() {
                    m.failed_calls += 1;
                    *self.failing.entry((ev.tool.clone(), ev.code.clone())).or_default() += 1;
                }
            }
            Some(EventKind::Attempt) => {
                let r = self.rates.entry((ev.code.clone(), ev.action.clone())).or_default();
                r.0 += 1;
                r.1 += i64::from(ev.ok);
                r.2 += ev.duration_ms;
            }
            Some(EventKind::StepFinished) => {
                if let Some((ff, auto, person)) = ev.step() {
                    m.healing.steps += 1;
                    m.healing.failed_first += i64::from(ff);
                    m.healing.autonomous += i64::from(auto);
                    m.healing.with_person += i64::from(person);
                }
            }
            Some(EventKind::Recovery) => {
                if exact {
                    self.ttr.push(ev.duration_ms);
                }
                if let Some(Body::Recovery(r)) = &ev.body {
                    m.recovery.recovered += 1;
                    self.recovery_attempts += r.attempts as i64;
                }
            }
            Some(EventKind::Escalation) if exact => m.escalations.raised += 1,
            Some(EventKind::Decision) => {
                if exact {
                    self.decide.push(ev.duration_ms);
                }
                if let Some(Body::Decision(d)) = &ev.body {
                    *self.by_decider.entry(d.decision.decided_by.as_str().to_owned()).or_default() += 1;
                    *self.by_option.entry(ev.action.clone()).or_default() += 1;
                    m.escalations.took_recommended += i64::from(d.recommended == ev.action);
                }
            }
            _ => {}
        }
    }

    /// The numbers, in `metrics`' orders; runs and waiting requests are not
    /// events and are the caller's.
    fn finish(mut self) -> Metrics {
        let mut m = self.m;
        m.by_code_action = self
            .rates
            .into_iter()
            .map(|((code, action), (n, ok, ms))| ActionRate {
                code,
                action,
                attempts: n,
                successes: ok,
                rate: if n > 0 { ok as f64 / n as f64 } else { 0.0 },
                avg_ms: if n > 0 { ms as f64 / n as f64 } else { 0.0 },
            })
            .collect();
        // Most first; ties stay in the maps' (code, action) and (tool, code) order.
        m.by_code_action.sort_by_key(|r| std::cmp::Reverse(r.attempts));
        m.top_failing = self.failing.into_iter().map(|((tool, code), calls)| Failing { tool, code, calls }).collect();
        m.top_failing.sort_by_key(|f| std::cmp::Reverse(f.calls));
        m.top_failing.truncate(10);
        if m.healing.failed_first > 0 {
            m.healing.autonomous_rate = m.healing.autonomous as f64 / m.healing.failed_first as f64;
        }
        self.ttr.sort_unstable();
        let recovered = m.recovery.recovered;
        m.recovery = Recovery {
            recovered,
            attempts_avg: if recovered == 0 { 0.0 } else { self.recovery_attempts as f64 / recovered as f64 },
            ttr_p50_ms: percentile(&self.ttr, 0.5),
            ttr_p95_ms: percentile(&self.ttr, 0.95),
            ttr_max_ms: self.ttr.last().copied().unwrap_or(0),
        };
        self.decide.sort_unstable();
        m.escalations.decide_p50_ms = percentile(&self.decide, 0.5);
        m.escalations.by_option = self.by_option.into_iter().collect();
        m.escalations.by_decider = self.by_decider.into_iter().collect();
        m
    }
}

/// A [`Series`] folded from one agent's events, as [`Reader::series`]
/// reads it from the rollups.
struct SeriesFold {
    b: Buckets,
    s: Series,
    /// (code, action) → (attempts, successes) per bucket.
    lines: BTreeMap<(String, String), (Vec<i64>, Vec<i64>)>,
}

impl SeriesFold {
    fn new(b: Buckets) -> SeriesFold {
        SeriesFold { b, s: b.empty(), lines: BTreeMap::new() }
    }

    fn add(&mut self, ev: &Counted) {
        let (s, n) = (&mut self.s, self.b.n);
        let i = self.b.of(ev.ts_ms.div_euclid(HOUR_MS));
        s.tokens[i] += ev.tokens.max(0);
        match ev.kind {
            Some(EventKind::Call) => {
                s.calls[i] += 1;
                s.failed_calls[i] += i64::from(!ev.code.is_empty());
            }
            Some(EventKind::Attempt) => {
                let l = self.lines.entry((ev.code.clone(), ev.action.clone())).or_insert_with(|| (vec![0; n], vec![0; n]));
                l.0[i] += 1;
                l.1[i] += i64::from(ev.ok);
            }
            Some(EventKind::StepFinished) => {
                if let Some((ff, auto, person)) = ev.step() {
                    s.failed_first[i] += i64::from(ff);
                    s.autonomous[i] += i64::from(auto);
                    s.with_person[i] += i64::from(person);
                }
            }
            Some(EventKind::Recovery) => {
                s.ttr_ms.push(ev.duration_ms);
                s.recovery_attempts.push(match &ev.body {
                    Some(Body::Recovery(r)) => r.attempts as i64,
                    _ => 0,
                });
            }
            Some(EventKind::Escalation) => s.escalations[i] += 1,
            Some(EventKind::Decision) => s.decide_ms.push(ev.duration_ms),
            _ => {}
        }
    }

    fn finish(self) -> Series {
        let mut s = self.s;
        s.by_code_action = self
            .lines
            .into_iter()
            .map(|((code, action), (attempts, successes))| SeriesLine { code, action, attempts, successes })
            .collect();
        s.ttr_ms.sort_unstable();
        s.recovery_attempts.sort_unstable();
        s.decide_ms.sort_unstable();
        s
    }
}

/// How the dashboard's window is cut: whole hours from the hour of
/// `since_ms` to the current one, in buckets of `bucket_ms` (at least an
/// hour; at most 1,000 buckets: a longer window gets wider ones).
#[derive(Clone, Copy)]
struct Buckets {
    first_hour: i64,
    hours: i64,
    n: usize,
}

impl Buckets {
    fn new(since_ms: i64, bucket_ms: i64) -> Buckets {
        let first_hour = since_ms.div_euclid(HOUR_MS);
        let last_hour = mend_core::clock::now_ms().div_euclid(HOUR_MS).max(first_hour);
        let hours = (bucket_ms / HOUR_MS).max(1).max((last_hour - first_hour + 1).div_euclid(1_000) + 1);
        Buckets { first_hour, hours, n: ((last_hour - first_hour) / hours + 1) as usize }
    }

    /// The bucket an hour falls in (the first or last one outside the window).
    fn of(self, hour: i64) -> usize {
        (((hour - self.first_hour) / self.hours).max(0) as usize).min(self.n - 1)
    }

    /// A series of these buckets with every count at zero.
    fn empty(self) -> Series {
        let n = self.n;
        Series {
            buckets_ms: (0..n as i64).map(|i| (self.first_hour + i * self.hours) * HOUR_MS).collect(),
            bucket_ms: self.hours * HOUR_MS,
            failed_first: vec![0; n],
            autonomous: vec![0; n],
            with_person: vec![0; n],
            escalations: vec![0; n],
            tokens: vec![0; n],
            calls: vec![0; n],
            failed_calls: vec![0; n],
            ..Default::default()
        }
    }
}

impl Reader {
    /// Opens a reader (creating and migrating the file if needed).
    pub fn open(path: &Path) -> Result<Reader, Error> {
        Ok(Reader { conn: crate::open(path)?, path: path.display().to_string() })
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite { path: self.path.clone(), source }
    }

    /// Events matching a filter, oldest first.
    pub fn logs(&self, f: &LogFilter) -> Result<Vec<Event>, Error> {
        let mut sql = String::from(
            "SELECT ts_ms, run_id, job, step, kind, level, tool, code, action, ok, duration_ms, tokens, message, data, agent FROM events WHERE 1=1",
        );
        let mut args: Vec<Sql> = Vec::new();
        if let Some(l) = f.min_level {
            let allowed: Vec<&str> =
                [Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().filter(|x| *x >= l).map(Level::as_str).collect();
            sql.push_str(&format!(" AND level IN ({})", allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(",")));
        }
        let mut eq = |col: &str, v: &Option<String>| {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                args.push(Sql::Text(v.clone()));
            }
        };
        eq("tool", &f.tool);
        eq("code", &f.code);
        eq("job", &f.job);
        eq("kind", &f.kind.map(|k| k.as_str().to_owned()));
        eq("agent", &f.agent);
        if let Some(run) = &f.run_id {
            // No index on run_id (it would slow every insert): the run's time
            // window from `runs` narrows the scan to the ts index.
            sql.push_str(
                " AND run_id = ? AND ts_ms >= COALESCE((SELECT started_ms FROM runs WHERE run_id = ?), 0)
                  AND ts_ms <= COALESCE((SELECT finished_ms FROM runs WHERE run_id = ?), 9223372036854775807)",
            );
            args.extend([Sql::Text(run.clone()), Sql::Text(run.clone()), Sql::Text(run.clone())]);
        }
        if let Some(s) = f.since_ms {
            sql.push_str(" AND ts_ms >= ?");
            args.push(Sql::Integer(s));
        }
        if let Some(u) = f.until_ms {
            sql.push_str(" AND ts_ms < ?");
            args.push(Sql::Integer(u));
        }
        if let Some(t) = &f.text {
            sql.push_str(" AND (message LIKE ? ESCAPE '\\' OR data LIKE ? ESCAPE '\\')");
            let like = format!("%{}%", t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            args.push(Sql::Text(like.clone()));
            args.push(Sql::Text(like));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Sql::Integer(if f.limit == 0 { i64::MAX } else { f.limit as i64 }));
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params_from_iter(args), |r| {
                let kind: String = r.get(4)?;
                let level: String = r.get(5)?;
                let data: Option<String> = r.get(13)?;
                Ok(Event {
                    ts_ms: r.get(0)?,
                    run_id: r.get(1)?,
                    job: r.get(2)?,
                    step: r.get(3)?,
                    body: Body::from_parts(
                        serde_json::from_value(Value::String(kind)).unwrap_or(EventKind::Call),
                        data.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
                    ),
                    level: Level::parse(&level).unwrap_or(Level::Info),
                    tool: r.get(6)?,
                    code: r.get(7)?,
                    action: r.get(8)?,
                    ok: r.get(9)?,
                    duration_ms: r.get::<_, Option<i64>>(10)?.map(|d| d.max(0) as u64),
                    tokens: r.get::<_, Option<i64>>(11)?.map(|d| d.max(0) as u64),
                    message: r.get(12)?,
                    agent: r.get(14)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out: Vec<Event> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        out.reverse();
        Ok(out)
    }

    /// Measured success per (code, action), for the policy's ordering.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut st = self
            .conn
            .prepare("SELECT code, action, SUM(successes), SUM(attempts) FROM rollup_attempts GROUP BY code, action")
            .map_err(|e| self.err(e))?;
        let mut stats = Stats::default();
        let rows = st
            .query_map([], |r| Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), (r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (k, (ok, n)) = row.map_err(|e| self.err(e))?;
            stats.by_code_action.insert(k, (ok.max(0) as u64, n.max(0) as u64));
        }
        Ok(stats)
    }

    /// The dashboard numbers since a time (hour resolution for rollups).
    pub fn metrics(&self, since_ms: Option<i64>) -> Result<Metrics, Error> {
        let since = since_ms.unwrap_or(i64::MIN);
        let hour = since.div_euclid(HOUR_MS);
        let c = &self.conn;
        let e = |x| self.err(x);
        let mut m = Metrics { since_ms, ..Default::default() };

        let mut st = c
            .prepare(
                "SELECT code, action, SUM(attempts), SUM(successes), SUM(total_ms) FROM rollup_attempts WHERE hour >= ?1
                 GROUP BY code, action ORDER BY SUM(attempts) DESC, code, action",
            )
            .map_err(e)?;
        m.by_code_action = st
            .query_map([hour], |r| {
                let n: i64 = r.get(2)?;
                let ok: i64 = r.get(3)?;
                let ms: i64 = r.get(4)?;
                Ok(ActionRate {
                    code: r.get(0)?,
                    action: r.get(1)?,
                    attempts: n,
                    successes: ok,
                    rate: if n > 0 { ok as f64 / n as f64 } else { 0.0 },
                    avg_ms: if n > 0 { ms as f64 / n as f64 } else { 0.0 },
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;

        let (calls, failed): (i64, i64) = c
            .query_row(
                "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(CASE WHEN code <> '' THEN calls ELSE 0 END), 0) FROM rollup_calls WHERE hour >= ?1",
                [hour],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(e)?;
        m.calls = calls;
        m.failed_calls = failed;
        let mut st = c
            .prepare(
                "SELECT tool, code, SUM(calls) AS n FROM rollup_calls WHERE hour >= ?1 AND code <> ''
                 GROUP BY tool, code ORDER BY n DESC, tool, code LIMIT 10",
            )
            .map_err(e)?;
        m.top_failing = st
            .query_map([hour], |r| Ok(Failing { tool: r.get(0)?, code: r.get(1)?, calls: r.get(2)? }))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;

        let mut st = c
            .prepare(
                "SELECT status, failed_first, person, SUM(steps) FROM rollup_steps WHERE hour >= ?1 GROUP BY status, failed_first, person",
            )
            .map_err(e)?;
        let rows: Vec<(String, bool, bool, i64)> =
            st.query_map([hour], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
        for (status, ff, person, n) in rows {
            m.healing.steps += n;
            if ff {
                m.healing.failed_first += n;
                let fixed = matches!(status.as_str(), "healed" | "verified" | "partial");
                if fixed && !person {
                    m.healing.autonomous += n;
                } else if person {
                    m.healing.with_person += n;
                }
            }
        }
        if m.healing.failed_first > 0 {
            m.healing.autonomous_rate = m.healing.autonomous as f64 / m.healing.failed_first as f64;
        }

        // Percentiles need the raw durations: an index-only scan of a partial index.
        let durations = |kind: &str| self.sorted(&format!("SELECT duration_ms FROM events WHERE kind = '{kind}' AND ts_ms >= ?1"), since);
        let ttr = durations("recovery")?;
        let (recovered, attempts_sum): (i64, i64) = c
            .query_row(
                "SELECT COALESCE(SUM(recoveries), 0), COALESCE(SUM(attempts), 0) FROM rollup_recoveries WHERE hour >= ?1",
                [hour],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(e)?;
        m.recovery = Recovery {
            recovered,
            attempts_avg: if recovered == 0 { 0.0 } else { attempts_sum as f64 / recovered as f64 },
            ttr_p50_ms: percentile(&ttr, 0.5),
            ttr_p95_ms: percentile(&ttr, 0.95),
            ttr_max_ms: ttr.last().copied().unwrap_or(0),
        };

        m.escalations.raised =
            c.query_row("SELECT COUNT(*) FROM events WHERE kind = 'escalation' AND ts_ms >= ?1", [since], |r| r.get(0)).map_err(e)?;
        m.escalations.pending = c.query_row("SELECT COUNT(*) FROM approvals WHERE state = 'pending'", [], |r| r.get(0)).map_err(e)?;
        let group = |col: &str| -> Result<Vec<(String, i64)>, Error> {
            let sql = format!("SELECT {col}, SUM(decisions) FROM rollup_decisions WHERE hour >= ?1 GROUP BY {col} ORDER BY {col}");
            let mut st = c.prepare(&sql).map_err(e)?;
            st.query_map([hour], |r| Ok((r.get(0)?, r.get(1)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)
        };
        m.escalations.by_option = group("option")?;
        m.escalations.by_decider = group("decider")?;
        m.escalations.took_recommended = c
            .query_row("SELECT COALESCE(SUM(decisions), 0) FROM rollup_decisions WHERE hour >= ?1 AND recommended = 1", [hour], |r| {
                r.get(0)
            })
            .map_err(e)?;
        m.escalations.decide_p50_ms = percentile(&durations("decision")?, 0.5);

        let mut st =
            c.prepare("SELECT COALESCE(status, 'running'), COUNT(*) FROM runs WHERE started_ms >= ?1 GROUP BY 1 ORDER BY 1").map_err(e)?;
        m.runs = st.query_map([since], |r| Ok((r.get(0)?, r.get(1)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
        m.tokens = c.query_row("SELECT COALESCE(SUM(tokens), 0) FROM rollup_tokens WHERE hour >= ?1", [hour], |r| r.get(0)).map_err(e)?;
        Ok(m)
    }

    /// One integer column of a query over `ts_ms >= ?1`, sorted (NULL as 0):
    /// the raw values percentiles and distributions need.
    fn sorted(&self, sql: &str, since: i64) -> Result<Vec<i64>, Error> {
        let e = |x| self.err(x);
        let mut st = self.conn.prepare(sql).map_err(e)?;
        let mut v: Vec<i64> = st
            .query_map([since], |r| r.get::<_, Option<i64>>(0).map(|x| x.unwrap_or(0)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        v.sort_unstable();
        Ok(v)
    }

    /// Metrics over time for the dashboard: `since_ms` to now in buckets of
    /// `bucket_ms` (whole hours: the rollups are hourly), plus the raw
    /// distributions (time to recover, attempts per recovery, time people
    /// took to decide) of the window.
    pub fn series(&self, since_ms: i64, bucket_ms: i64) -> Result<Series, Error> {
        let c = &self.conn;
        let e = |x| self.err(x);
        let b = Buckets::new(since_ms, bucket_ms);
        let (first_hour, n) = (b.first_hour, b.n);
        let idx = |hour: i64| b.of(hour);
        let mut s = b.empty();

        let mut st = c
            .prepare("SELECT hour, code, action, attempts, successes FROM rollup_attempts WHERE hour >= ?1 ORDER BY code, action")
            .map_err(e)?;
        let rows: Vec<(i64, String, String, i64, i64)> = st
            .query_map([first_hour], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        for (hour, code, action, attempts, successes) in rows {
            let line = match s.by_code_action.iter_mut().find(|l| l.code == code && l.action == action) {
                Some(l) => l,
                None => {
                    s.by_code_action.push(SeriesLine { code, action, attempts: vec![0; n], successes: vec![0; n] });
                    s.by_code_action.last_mut().expect("just pushed")
                }
            };
            line.attempts[idx(hour)] += attempts;
            line.successes[idx(hour)] += successes;
        }
        let mut st = c.prepare("SELECT hour, status, failed_first, person, steps FROM rollup_steps WHERE hour >= ?1").map_err(e)?;
        let rows: Vec<(i64, String, bool, bool, i64)> = st
            .query_map([first_hour], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        for (hour, status, ff, person, steps) in rows {
            if !ff {
                continue;
            }
            let i = idx(hour);
            s.failed_first[i] += steps;
            if person {
                s.with_person[i] += steps;
            } else if matches!(status.as_str(), "healed" | "verified" | "partial") {
                s.autonomous[i] += steps;
            }
        }
        let mut st = c.prepare("SELECT hour, code, calls FROM rollup_calls WHERE hour >= ?1").map_err(e)?;
        let rows: Vec<(i64, String, i64)> =
            st.query_map([first_hour], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
        for (hour, code, calls) in rows {
            s.calls[idx(hour)] += calls;
            if !code.is_empty() {
                s.failed_calls[idx(hour)] += calls;
            }
        }
        let mut st = c.prepare("SELECT hour, tokens FROM rollup_tokens WHERE hour >= ?1").map_err(e)?;
        let rows: Vec<(i64, i64)> =
            st.query_map([first_hour], |r| Ok((r.get(0)?, r.get(1)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
        for (hour, tokens) in rows {
            s.tokens[idx(hour)] += tokens;
        }
        let since = first_hour * HOUR_MS;
        let mut st = c.prepare("SELECT ts_ms FROM events WHERE kind = 'escalation' AND ts_ms >= ?1").map_err(e)?;
        let rows: Vec<i64> = st.query_map([since], |r| r.get(0)).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
        for ts in rows {
            s.escalations[idx(ts.div_euclid(HOUR_MS))] += 1;
        }
        let durations = |sql: &str| self.sorted(sql, since);
        s.ttr_ms = durations("SELECT duration_ms FROM events WHERE kind = 'recovery' AND ts_ms >= ?1")?;
        s.decide_ms = durations("SELECT duration_ms FROM events WHERE kind = 'decision' AND ts_ms >= ?1")?;
        s.recovery_attempts = durations("SELECT json_extract(data, '$.attempts') FROM events WHERE kind = 'recovery' AND ts_ms >= ?1")?;
        Ok(s)
    }

    /// Every agent seen since a time (all time for `None`), with its tool
    /// calls, most calls first: what the dashboard's and the audit log's
    /// agent pickers list (issue 17). An agent whose runs made no call yet
    /// is listed with 0.
    pub fn agents(&self, since_ms: Option<i64>) -> Result<Vec<(String, i64)>, Error> {
        let mut st = self.conn.prepare(AGENTS).map_err(|e| self.err(e))?;
        let rows = st.query_map([since_ms.unwrap_or(i64::MIN)], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Reads one agent's events at or after `from_ms` (see [`AGENT_EVENTS`])
    /// into `f`, one at a time: a month of a busy agent is many rows.
    fn each_agent_event(&self, agent: &str, from_ms: i64, mut f: impl FnMut(Counted)) -> Result<(), Error> {
        let e = |x| self.err(x);
        let mut st = self.conn.prepare_cached(AGENT_EVENTS).map_err(e)?;
        let mut rows = st.query(rusqlite::params![agent, from_ms]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            let kind: Option<EventKind> = serde_json::from_value(Value::String(r.get(1).map_err(e)?)).ok();
            let data: Option<String> = r.get(8).map_err(e)?;
            f(Counted {
                ts_ms: r.get(0).map_err(e)?,
                kind,
                tool: r.get::<_, Option<String>>(2).map_err(e)?.unwrap_or_default(),
                code: r.get::<_, Option<String>>(3).map_err(e)?.unwrap_or_default(),
                action: r.get::<_, Option<String>>(4).map_err(e)?.unwrap_or_default(),
                ok: r.get::<_, Option<bool>>(5).map_err(e)? == Some(true),
                duration_ms: r.get::<_, Option<i64>>(6).map_err(e)?.unwrap_or(0),
                tokens: r.get::<_, Option<i64>>(7).map_err(e)?.unwrap_or(0),
                body: kind.zip(data).map(|(k, d)| Body::from_parts(k, serde_json::from_str(&d).unwrap_or(Value::Null))),
            });
        }
        Ok(())
    }

    /// An agent's metrics with what is not in its events: its runs since
    /// the window's start, and its requests waiting now.
    fn agent_totals(&self, agent: &str, fold: MetricsFold) -> Result<Metrics, Error> {
        let since = fold.since;
        let mut m = fold.finish();
        // Waiting requests are few: read typed, not by a JSON key.
        m.escalations.pending = self.pending_approvals()?.iter().filter(|r| r.agent.as_deref() == Some(agent)).count() as i64;
        let e = |x| self.err(x);
        let mut st = self
            .conn
            .prepare("SELECT COALESCE(status, 'running'), COUNT(*) FROM runs WHERE started_ms >= ?1 AND agent = ?2 GROUP BY 1 ORDER BY 1")
            .map_err(e)?;
        m.runs = st
            .query_map(rusqlite::params![since, agent], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        Ok(m)
    }

    /// The dashboard's numbers ([`Reader::metrics`]) of one agent's calls
    /// only (issue 17): the same shape over the same window (what the
    /// rollups count starts on the hour of `since_ms` there, and so here),
    /// counted from the agent's events; its runs, and its requests waiting.
    pub fn agent_metrics(&self, agent: &str, since_ms: Option<i64>) -> Result<Metrics, Error> {
        let mut fold = MetricsFold::new(since_ms);
        self.each_agent_event(agent, fold.start_ms(), |ev| fold.add(&ev))?;
        self.agent_totals(agent, fold)
    }

    /// The dashboard's numbers over time ([`Reader::series`]) of one
    /// agent's calls only (issue 17): the same buckets, counted from the
    /// agent's events.
    pub fn agent_series(&self, agent: &str, since_ms: i64, bucket_ms: i64) -> Result<Series, Error> {
        let mut fold = SeriesFold::new(Buckets::new(since_ms, bucket_ms));
        self.each_agent_event(agent, fold.b.first_hour * HOUR_MS, |ev| fold.add(&ev))?;
        Ok(fold.finish())
    }

    /// [`Reader::agent_metrics`] and [`Reader::agent_series`] of one window
    /// from one read of the agent's events: what the dashboard draws.
    pub fn agent_dashboard(&self, agent: &str, since_ms: i64, bucket_ms: i64) -> Result<(Metrics, Series), Error> {
        let mut metrics = MetricsFold::new(Some(since_ms));
        let mut series = SeriesFold::new(Buckets::new(since_ms, bucket_ms));
        // Both start on the hour of `since_ms`.
        self.each_agent_event(agent, metrics.start_ms(), |ev| {
            metrics.add(&ev);
            series.add(&ev);
        })?;
        Ok((self.agent_totals(agent, metrics)?, series.finish()))
    }

    /// The runs that used each lesson (learned, confirmed or marked it), newest first.
    pub fn lesson_runs(&self) -> Result<std::collections::HashMap<String, Vec<String>>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT json_extract(data, '$.lesson'), run_id FROM events WHERE kind = 'lesson' AND ts_ms >= ?1 ORDER BY ts_ms DESC")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(Option<String>, String)> = st
            .query_map([i64::MIN], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for (id, run) in rows {
            let Some(id) = id.filter(|i| !i.is_empty()) else { continue };
            let runs = out.entry(id).or_default();
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
        Ok(out)
    }

    /// Approval requests waiting for a decision, oldest first.
    pub fn pending_approvals(&self) -> Result<Vec<ApprovalRequest>, Error> {
        let mut st =
            self.conn.prepare("SELECT request FROM approvals WHERE state = 'pending' ORDER BY created_ms").map_err(|e| self.err(e))?;
        let rows: Vec<String> =
            st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| Error::Decode { path: self.path.clone(), message: format!("approval request: {e}") })
            })
            .collect()
    }

    /// One approval request and its decision, if any.
    pub fn approval(&self, id: &str) -> Result<Option<(ApprovalRequest, Option<Decision>)>, Error> {
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row("SELECT request, decision FROM approvals WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((req, dec)) = row else { return Ok(None) };
        let decode = |m: String| Error::Decode { path: self.path.clone(), message: m };
        let req = serde_json::from_str(&req).map_err(|e| decode(format!("approval request {id}: {e}")))?;
        let dec = dec.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| decode(format!("decision {id}: {e}")))?;
        Ok(Some((req, dec)))
    }

    /// Whether a decided request's decision has been acted on (by the run
    /// that waited on it, or a run resumed from it). `false` for a pending
    /// or unknown request.
    pub fn approval_applied(&self, id: &str) -> Result<bool, Error> {
        self.conn
            .query_row("SELECT state = 'decided' AND applied = 1 FROM approvals WHERE id = ?1", [id], |r| r.get::<_, bool>(0))
            .optional()
            .map(|v| v.unwrap_or(false))
            .map_err(|e| self.err(e))
    }

    /// The job file a run was started from, if it was journaled.
    pub fn run_job_path(&self, run_id: &str) -> Result<Option<String>, Error> {
        self.conn
            .query_row("SELECT job_path FROM runs WHERE run_id = ?1", [run_id], |r| r.get::<_, Option<String>>(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// The id of the newest event (0 for an empty journal): a cheap stamp
    /// that changes whenever any process journals something, for screens
    /// that show other processes' runs (`mend mcp serve`, `mend run`).
    ///
    /// # Errors
    /// [`Error::Sqlite`] when the journal cannot be read.
    pub fn last_event_id(&self) -> Result<i64, Error> {
        self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// The newest runs first, with how many of their requests still wait.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, Error> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.run_id, r.job, r.started_ms, r.finished_ms, r.status, r.attempts, r.job_path,
                        (SELECT COUNT(*) FROM approvals a WHERE a.run_id = r.run_id AND a.state = 'pending'), r.reason, r.last_ms,
                        (SELECT COUNT(*) FROM approvals a WHERE a.run_id = r.run_id AND a.state = 'decided' AND a.applied = 0),
                        CASE WHEN r.step_open THEN r.step END, json_extract(r.in_flight, '$.call_text'), r.agent
                 FROM runs r ORDER BY r.started_ms DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([if limit == 0 { i64::MAX } else { limit as i64 }], |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    job: r.get(1)?,
                    started_ms: r.get(2)?,
                    finished_ms: r.get(3)?,
                    status: r.get::<_, Option<String>>(4)?.unwrap_or_else(|| "running".into()),
                    attempts: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                    job_path: r.get(6)?,
                    pending_approvals: r.get(7)?,
                    reason: r.get(8)?,
                    last_ms: r.get(9)?,
                    decided: r.get(10)?,
                    step: r.get(11)?,
                    in_flight: r.get(12)?,
                    agent: r.get(13)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One run's status (`running` until its end is journaled), if known.
    pub fn run_status(&self, run_id: &str) -> Result<Option<String>, Error> {
        let mut st = self.conn.prepare("SELECT status FROM runs WHERE run_id = ?1").map_err(|e| self.err(e))?;
        let mut rows = st.query_map([run_id], |r| r.get::<_, Option<String>>(0)).map_err(|e| self.err(e))?;
        match rows.next() {
            Some(r) => Ok(Some(r.map_err(|e| self.err(e))?.unwrap_or_else(|| "running".into()))),
            None => Ok(None),
        }
    }

    /// Where a run is (see [`RunState`]), if the journal knows the run.
    pub fn run_state(&self, run_id: &str) -> Result<Option<RunState>, Error> {
        let row = self
            .conn
            .query_row(
                "SELECT run_id, job, status, job_path, step, step_open, in_flight, last_ms, reason FROM runs WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(RunState {
                        run_id: r.get(0)?,
                        job: r.get(1)?,
                        status: r.get(2)?,
                        job_path: r.get(3)?,
                        step: r.get(4)?,
                        step_open: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                        in_flight: r.get::<_, Option<String>>(6)?.and_then(|j| serde_json::from_str(&j).ok()),
                        last_ms: r.get(7)?,
                        reason: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row)
    }

    /// How many runs started before `before_ms` wait for a person or did not
    /// end (waiting, interrupted, or still open): what a limited `mend runs`
    /// would hide.
    pub fn unfinished_before(&self, before_ms: i64) -> Result<i64, Error> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE started_ms < ?1 AND (status IS NULL OR status IN ('waiting', 'interrupted'))",
                [before_ms],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Runs whose end is not journaled (live, or their owner died), oldest first.
    pub fn open_runs(&self) -> Result<Vec<String>, Error> {
        let mut st = self.conn.prepare("SELECT run_id FROM runs WHERE status IS NULL ORDER BY started_ms").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A run's requests still waiting for a person, oldest first.
    pub fn pending_for_run(&self, run_id: &str) -> Result<Vec<ApprovalRequest>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT request FROM approvals WHERE run_id = ?1 AND state = 'pending' ORDER BY created_ms")
            .map_err(|e| self.err(e))?;
        let rows: Vec<String> =
            st.query_map([run_id], |r| r.get(0)).map_err(|e| self.err(e))?.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| Error::Decode { path: self.path.clone(), message: format!("approval request: {e}") })
            })
            .collect()
    }

    /// The newest decision on one of a run's requests that was made from
    /// outside the run (`mend approvals decide`, the desktop app after a
    /// restart) and that no run has gone on with yet.
    pub fn unapplied_decision(&self, run_id: &str) -> Result<Option<(ApprovalRequest, Decision)>, Error> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT request, decision FROM approvals WHERE run_id = ?1 AND state = 'decided' AND applied = 0
                 ORDER BY decided_ms DESC LIMIT 1",
                [run_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((req, dec)) = row else { return Ok(None) };
        let decode = |m: String| Error::Decode { path: self.path.clone(), message: m };
        let req = serde_json::from_str(&req).map_err(|e| decode(format!("approval request of run {run_id}: {e}")))?;
        let dec = serde_json::from_str(&dec).map_err(|e| decode(format!("decision of run {run_id}: {e}")))?;
        Ok(Some((req, dec)))
    }

    /// Remembered decisions, oldest first.
    pub fn rules(&self) -> Result<Vec<DecisionRule>, Error> {
        let mut st = self.conn.prepare("SELECT rule FROM rules ORDER BY created_ms, id").map_err(|e| self.err(e))?;
        let rows: Vec<String> =
            st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| Error::Decode { path: self.path.clone(), message: format!("remembered decision: {e}") })
            })
            .collect()
    }

    /// Number of events stored.
    pub fn event_count(&self) -> Result<i64, Error> {
        self.conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use mend_core::payload::{CallStarted, LessonChanged, Recovered};

    /// What SQLite plans for a query.
    fn plan(conn: &rusqlite::Connection, sql: &str, args: impl rusqlite::Params) -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st.query_map(args, |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// An agent's numbers read its events through the partial index, not
    /// every event of the window (issue 17): the queries repeat its
    /// `agent IS NOT NULL`, or SQLite would not use it.
    #[test]
    fn an_agents_events_are_read_through_the_partial_index() {
        let d = tempfile::tempdir().unwrap();
        let conn = crate::open(&d.path().join("j.sqlite3")).unwrap();
        let p = plan(&conn, super::AGENT_EVENTS, rusqlite::params!["goose", 0]);
        assert!(p.contains("USING INDEX events_agent (agent=? AND ts_ms>?)"), "{p}");
        let p = plan(&conn, super::AGENTS, [0]);
        assert!(p.contains("events_agent"), "{p}");
    }

    /// The SQL above reads a few payload fields by JSON path (issue 15): a
    /// renamed field of the typed payload fails here, not silently there.
    #[test]
    fn the_json_paths_the_sql_reads_are_fields_of_the_typed_payloads() {
        let has = |v: serde_json::Value, key: &str| v.as_object().is_some_and(|o| o.contains_key(key));
        assert!(has(serde_json::to_value(Recovered::default()).unwrap(), "attempts"), "recovery: $.attempts");
        assert!(has(serde_json::to_value(LessonChanged::default()).unwrap(), "lesson"), "lesson: $.lesson");
        // `runs.in_flight` is a `call_started` payload (writer.rs adds the step and the time).
        let started = serde_json::to_value(CallStarted::default()).unwrap();
        assert!(has(started.clone(), "call") && has(started, "call_text"), "in_flight: $.call, $.call_text");
    }
}
