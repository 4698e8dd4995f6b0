//! `cargo bench -p mend-tests --bench healing`: the numbers in BENCHMARKS.md.
//!
//! - loop overhead on a successful in-process call, and on `exec true`
//!   against spawning it directly (ratio);
//! - journal ingest rate (events/s) into a real SQLite file;
//! - the metrics query over a million events.
//!
//! Prints a markdown table. Sizes shrink with `MEND_BENCH_QUICK=1`, and when
//! run by `cargo test` (no `--bench` flag) as a smoke test of the harness.
//! `MEND_BENCH_ONLY=call,exec,gate,ahead,ingest` runs only those sections
//! (ingest includes the metrics query).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use mend_core::Outcome;
use mend_core::approval::StandingApprover;
use mend_core::engine::{Engine, RunOptions};
use mend_core::event::{Event, EventKind, Journal, Level};
use mend_core::job::Job;
use mend_core::tool::{CallContext, Effect, Tool, ToolRegistry};
use mend_journal::{Reader, SqliteJournal};
use serde_json::{Value, json};

struct Noop;

#[async_trait]
impl Tool for Noop {
    fn name(&self) -> &str {
        "noop"
    }
    fn description(&self) -> &str {
        "does nothing"
    }
    fn schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn render(&self, _: &Value) -> String {
        "noop".into()
    }
    fn effect(&self, _: &Value) -> Effect {
        Effect::ReadOnly
    }
    async fn call(&self, _: &Value, _: &CallContext) -> Outcome {
        Outcome::success(json!({"ok": true}))
    }
}

/// The `exec` tool without its intent: the gate sees an opaque call and
/// parses nothing. The same tool otherwise, so a side-by-side run measures
/// what reading a command costs a step (issue 11).
struct Ungated(Arc<dyn Tool>);

#[async_trait]
impl Tool for Ungated {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn description(&self) -> &str {
        self.0.description()
    }
    fn schema(&self) -> Value {
        self.0.schema()
    }
    fn render(&self, a: &Value) -> String {
        self.0.render(a)
    }
    fn effect(&self, a: &Value) -> Effect {
        self.0.effect(a)
    }
    async fn call(&self, a: &Value, cx: &CallContext) -> Outcome {
        self.0.call(a, cx).await
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn job_of(steps: usize, tool: &str, args: &str) -> String {
    let mut s = String::from("name = \"bench\"\n[budget]\nwall_clock = \"1h\"\n");
    for i in 0..steps {
        s.push_str(&format!("[[steps]]\nname = \"s{i}\"\ntool = \"{tool}\"\nargs = {args}\n"));
    }
    s
}

async fn engine_per_step(dir: &Path, registry: Arc<ToolRegistry>, text: &str, steps: usize, sqlite: bool) -> f64 {
    let job = Job::parse(text, "bench.toml", dir).unwrap();
    let sq = sqlite.then(|| Arc::new(SqliteJournal::open(&dir.join("bench.sqlite3")).unwrap()));
    let journal: Arc<dyn Journal> = match &sq {
        Some(j) => j.clone(),
        None => Arc::new(mend_core::event::MemoryJournal::default()),
    };
    let engine = Engine::new(registry, journal, Arc::new(StandingApprover::Abort));
    let t0 = Instant::now();
    let r = engine.run(&job, RunOptions::default()).await.unwrap();
    let dt = t0.elapsed();
    assert_eq!(r.exit_code, 0);
    if let Some(j) = sq {
        j.close();
    }
    dt.as_secs_f64() * 1e6 / steps as f64
}

/// The journal as it was before issue 12: `call_started` queued with the
/// other events (group commit, 20 ms linger) instead of durable first.
struct Batched(Arc<SqliteJournal>);

#[async_trait]
impl Journal for Batched {
    fn record(&self, e: Event) {
        self.0.record(e);
    }
    async fn flush(&self) -> Result<(), mend_core::event::JournalError> {
        self.0.flush().await
    }
    async fn save_approval(&self, r: &mend_core::approval::ApprovalRequest) -> Result<(), mend_core::event::JournalError> {
        self.0.save_approval(r).await
    }
    async fn resolve_approval(
        &self,
        id: &str,
        d: &mend_core::approval::Decision,
    ) -> Result<mend_core::approval::Decision, mend_core::event::JournalError> {
        self.0.resolve_approval(id, d).await
    }
    async fn record_durable(&self, e: Event) -> Result<(), mend_core::event::JournalError> {
        self.0.record(e);
        Ok(())
    }
}

/// µs per step of `text` through the loop with the SQLite journal, the
/// "call started" record written ahead (`ahead`) or batched as before.
async fn per_step_ahead(dir: &Path, registry: Arc<ToolRegistry>, text: &str, steps: usize, ahead: bool) -> f64 {
    let job = Job::parse(text, "bench.toml", dir).unwrap();
    let sq = Arc::new(SqliteJournal::open(&dir.join(if ahead { "ahead.sqlite3" } else { "batched.sqlite3" })).unwrap());
    let journal: Arc<dyn Journal> = if ahead { sq.clone() } else { Arc::new(Batched(sq.clone())) };
    let engine = Engine::new(registry, journal, Arc::new(StandingApprover::Abort));
    let t0 = Instant::now();
    let r = engine.run(&job, RunOptions::default()).await.unwrap();
    let dt = t0.elapsed();
    assert_eq!(r.exit_code, 0);
    sq.close();
    dt.as_secs_f64() * 1e6 / steps as f64
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn synthetic(i: u64, t0: i64) -> Event {
    // A realistic mix: mostly calls, some diagnoses, attempts, recoveries,
    // a few escalations and decisions, over 30 days.
    let codes = ["CONNECTION_REFUSED", "TIMEOUT", "RATE_LIMITED", "SERVER_ERROR", "NOT_FOUND", "ALREADY_EXISTS"];
    let actions = ["retry_same", "retry_modified", "use_alternative", "verify_state"];
    let tools = ["http", "exec", "fs"];
    let ts = t0 + (i as i64 * 2_592_000_000 / 1_000_000);
    let r = i % 20;
    let (kind, ok) = match r {
        0..=9 => (EventKind::Call, r != 0),
        10 | 11 => (EventKind::Diagnosis, true),
        12 | 13 => (EventKind::Attempt, r == 12),
        14 => (EventKind::Recovery, true),
        15 | 16 => (EventKind::StepFinished, true),
        17 => (EventKind::StepStarted, true),
        18 => (if i % 200 == 18 { EventKind::Escalation } else { EventKind::Call }, true),
        _ => (if i % 200 == 19 { EventKind::Decision } else { EventKind::Call }, true),
    };
    let code = codes[(i / 20) as usize % codes.len()];
    let data = match kind {
        EventKind::StepFinished => {
            json!({"status": if ok { "healed" } else { "failed" }, "attempts": 1, "failed_first": i.is_multiple_of(3), "person": false})
        }
        EventKind::Recovery => json!({"attempts": 1 + i % 3, "ttr_ms": i % 900}),
        EventKind::Decision => {
            json!({"request": "q", "decision": {"option": "retry", "decided_by": {"by": "person", "who": "ada"}, "decided_ms": 0}, "recommended": "retry"})
        }
        _ => json!({"args": {"url": "http://127.0.0.1:8080/x"}, "outcome": {"status": if ok {"success"} else {"error"}}}),
    };
    Event {
        ts_ms: ts,
        run_id: format!("run{}", i / 50),
        job: "sync".into(),
        step: Some(format!("s{}", i % 7)),
        body: mend_core::payload::Body::from_parts(kind, data),
        level: if ok { Level::Info } else { Level::Warn },
        tool: Some(tools[(i % 3) as usize].into()),
        code: (!ok || matches!(kind, EventKind::Attempt | EventKind::Recovery | EventKind::Diagnosis)).then(|| code.into()),
        action: matches!(kind, EventKind::Attempt | EventKind::Recovery | EventKind::Decision)
            .then(|| actions[(i / 7) as usize % actions.len()].into()),
        ok: Some(ok),
        duration_ms: Some(i % 900),
        tokens: None,
        message: format!("event {i}"),
        agent: None,
    }
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = smoke || std::env::var_os("MEND_BENCH_QUICK").is_some();
    let only = std::env::var("MEND_BENCH_ONLY").unwrap_or_default();
    let run = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. In-process call: direct vs through the loop (journal included).
    if run("call") {
        let n = if smoke {
            300
        } else if quick {
            2_000
        } else {
            20_000
        };
        let mut reg = ToolRegistry::new();
        reg.register(Arc::new(Noop)).unwrap();
        let reg = Arc::new(reg);
        let direct = rt.block_on(async {
            let cx = CallContext::default();
            let mut v = Vec::new();
            for _ in 0..5 {
                let t0 = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(Noop.call(&json!({}), &cx).await);
                }
                v.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
            median(v)
        });
        let text = job_of(n, "noop", "{}");
        let looped = rt.block_on(async {
            let mut v = Vec::new();
            for i in 0..3 {
                let d = dir.path().join(format!("noop{i}"));
                std::fs::create_dir_all(&d).unwrap();
                v.push(engine_per_step(&d, reg.clone(), &text, n, true).await);
            }
            median(v)
        });
        rows.push(("in-process call, direct".into(), format!("{direct:.2} µs"), format!("{n} calls, median of 5")));
        rows.push((
            "in-process call through the loop".into(),
            format!("{looped:.1} µs"),
            format!("one step each, 3 events journaled per step; overhead {:.1} µs/step", looped - direct),
        ));
    }

    // 2. exec true: spawned directly vs through the loop. The four ways run
    // in rounds, interleaved, and each round gives ratios to its own
    // baseline, so drift in a noisy machine hits all four alike.
    if run("exec") {
        let n = if smoke {
            10
        } else if quick {
            50
        } else {
            100
        };
        let rounds = if smoke {
            1
        } else if quick {
            3
        } else {
            7
        };
        let registry = Arc::new(mend_tools::default_registry());
        let text = job_of(n, "exec", "{ program = \"true\" }");
        let mut spawn_us = Vec::new();
        let mut ratios: [Vec<f64>; 3] = Default::default();
        rt.block_on(async {
            let exec = registry.get("exec").unwrap().clone();
            let cx = CallContext::default();
            let args = json!({"program": "true"});
            for round in 0..rounds {
                // The fair baseline captures the output, as the tool must.
                let t0 = Instant::now();
                for _ in 0..n {
                    let o = tokio::process::Command::new("true").stdin(std::process::Stdio::null()).output().await.unwrap();
                    assert!(o.status.success());
                }
                let base = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
                let t0 = Instant::now();
                for _ in 0..n {
                    assert!(exec.call(&args, &cx).await.is_ok());
                }
                let tool = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
                let d = dir.path().join(format!("exec{round}"));
                std::fs::create_dir_all(&d).unwrap();
                let mem = engine_per_step(&d, registry.clone(), &text, n, false).await;
                let sql = engine_per_step(&d, registry.clone(), &text, n, true).await;
                spawn_us.push(base);
                ratios[0].push(tool / base);
                ratios[1].push(mem / base);
                ratios[2].push(sql / base);
            }
        });
        let [tool, mem, sql] = ratios.clone().map(median);
        let spread = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::MAX, f64::min);
            let hi = v.iter().cloned().fold(0.0, f64::max);
            format!("rounds {lo:.3}–{hi:.3}")
        };
        let what = format!("{rounds} interleaved rounds of {n}");
        rows.push(("`true` spawned directly, output captured".into(), format!("{:.0} µs", median(spawn_us)), what));
        rows.push(("`exec` tool called directly".into(), format!("ratio {tool:.3}"), "own process group, capped pipes".into()));
        rows.push(("`exec true` through the loop, in-memory journal".into(), format!("ratio {mem:.3}"), "the loop without SQLite".into()));
        rows.push((
            "`exec true` through the loop, SQLite journal".into(),
            format!("ratio {sql:.3}"),
            format!("median of per-round ratios ({}); target ≤ 1.05", spread(&ratios[2])),
        ));
    }

    // 2b. The safety gate's share of a step: the same `exec` script
    // through the loop, with the gate reading it and with an opaque intent,
    // interleaved rounds (issue 11: within 5 %).
    if run("gate") {
        let (n, rounds) = if smoke {
            (10, 1)
        } else if quick {
            (50, 3)
        } else {
            (100, 9)
        };
        let gated = Arc::new(mend_tools::default_registry());
        let mut plain = ToolRegistry::new();
        plain.register(Arc::new(Ungated(gated.get("exec").unwrap().clone()))).unwrap();
        let plain = Arc::new(plain);
        let text = job_of(n, "exec", r#"{ shell = "cd . && echo ok | tr a-z A-Z > /dev/null; test -d . || exit 1" }"#);
        let mut ratios = Vec::new();
        rt.block_on(async {
            for round in 0..rounds {
                let d = dir.path().join(format!("gate{round}"));
                std::fs::create_dir_all(&d).unwrap();
                let (a, b) = if round % 2 == 0 {
                    let a = engine_per_step(&d, gated.clone(), &text, n, false).await;
                    (a, engine_per_step(&d, plain.clone(), &text, n, false).await)
                } else {
                    let b = engine_per_step(&d, plain.clone(), &text, n, false).await;
                    (engine_per_step(&d, gated.clone(), &text, n, false).await, b)
                };
                ratios.push(a / b);
            }
        });
        let lo = ratios.iter().cloned().fold(f64::MAX, f64::min);
        let hi = ratios.iter().cloned().fold(0.0, f64::max);
        rows.push((
            "`exec` script through the loop, gate reading it vs not".into(),
            format!("ratio {:.3}", median(ratios.clone())),
            format!("{rounds} interleaved rounds of {n} (rounds {lo:.3}–{hi:.3}); target ≤ 1.05"),
        ));
    }

    // 2c. The journal ahead of side effects (issue 12): what one durable
    // "call started" record costs (commit + fsync), alone and with several
    // runs writing at once (group commit), and its share of an `exec` step
    // through the loop against the batched journal of before, interleaved.
    if run("ahead") {
        let (n, rounds) = if smoke {
            (20, 1)
        } else if quick {
            (100, 3)
        } else {
            (400, 7)
        };
        let started = |i: usize, run: &str| Event {
            tool: Some("exec".into()),
            ..Event::new(
                mend_core::clock::now_ms(),
                run,
                "bench",
                mend_core::payload::Body::CallStarted(mend_core::payload::CallStarted {
                    call: format!("c{i}"),
                    call_text: "rm -rf build".into(),
                    ..Default::default()
                }),
                Level::Debug,
                "call `rm -rf build` started",
            )
        };
        let (alone, grouped, grouped_wall) = rt.block_on(async {
            let j = Arc::new(SqliteJournal::open(&dir.path().join("ahead-cost.sqlite3")).unwrap());
            let mut alone = Vec::new();
            for i in 0..n {
                let t0 = Instant::now();
                j.record_durable(started(i, "r0")).await.unwrap();
                alone.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            // Four runs at once, each writing its records ahead.
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..4)
                .map(|w| {
                    let j = j.clone();
                    tokio::spawn(async move {
                        let mut v = Vec::new();
                        for i in 0..n / 4 {
                            let t0 = Instant::now();
                            j.record_durable(started(i, &format!("r{}", w + 1))).await.unwrap();
                            v.push(t0.elapsed().as_secs_f64() * 1e6);
                        }
                        v
                    })
                })
                .collect();
            let mut grouped = Vec::new();
            for t in tasks {
                grouped.extend(t.await.unwrap());
            }
            let wall = t0.elapsed().as_secs_f64() * 1e6 / (n / 4 * 4) as f64;
            j.close();
            (alone, grouped, wall)
        });
        rows.push((
            "durable `call_started` record, one run".into(),
            format!("p50 {:.0} µs, p99 {:.0} µs", percentile(alone.clone(), 0.5), percentile(alone, 0.99)),
            format!("{n} records, each committed and fsynced before the call"),
        ));
        rows.push((
            "durable `call_started` record, 4 runs at once".into(),
            format!("p50 {:.0} µs, p99 {:.0} µs", percentile(grouped.clone(), 0.5), percentile(grouped, 0.99)),
            format!("{grouped_wall:.0} µs of wall time per record: commits are grouped"),
        ));
        let registry = Arc::new(mend_tools::default_registry());
        let steps = n / 4;
        let text = job_of(steps, "exec", "{ program = \"true\" }");
        let (mut before, mut after, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        rt.block_on(async {
            for round in 0..rounds {
                let d = dir.path().join(format!("ahead{round}"));
                std::fs::create_dir_all(&d).unwrap();
                let (b, a) = if round % 2 == 0 {
                    let b = per_step_ahead(&d, registry.clone(), &text, steps, false).await;
                    (b, per_step_ahead(&d, registry.clone(), &text, steps, true).await)
                } else {
                    let a = per_step_ahead(&d, registry.clone(), &text, steps, true).await;
                    (per_step_ahead(&d, registry.clone(), &text, steps, false).await, a)
                };
                before.push(b);
                after.push(a);
                ratios.push(a / b);
            }
        });
        let lo = ratios.iter().cloned().fold(f64::MAX, f64::min);
        let hi = ratios.iter().cloned().fold(0.0, f64::max);
        rows.push((
            "`exec true` step through the loop, written ahead vs batched (before)".into(),
            format!("ratio {:.3}", median(ratios.clone())),
            format!(
                "{:.0} µs vs {:.0} µs per step; {rounds} interleaved rounds of {steps} (rounds {lo:.3}–{hi:.3})",
                median(after),
                median(before)
            ),
        ));
    }

    // 3. Journal ingest.
    if run("ingest") {
        let total: u64 = if smoke {
            20_000
        } else if quick {
            100_000
        } else {
            1_000_000
        };
        let t0_ms = mend_core::clock::now_ms() - 2_592_000_000;
        let path = dir.path().join("million.sqlite3");
        let events: Vec<Event> = (0..total).map(|i| synthetic(i, t0_ms)).collect();
        let ingest = rt.block_on(async {
            let j = SqliteJournal::open(&path).unwrap();
            let t0 = Instant::now();
            for e in events {
                j.record(e);
            }
            j.flush().await.unwrap();
            let dt = t0.elapsed();
            j.close();
            dt
        });
        let rate = total as f64 / ingest.as_secs_f64();
        rows.push((
            "journal ingest".into(),
            format!("{:.0}k events/s", rate / 1000.0),
            format!("{total} events in {:.2} s, WAL, batched", ingest.as_secs_f64()),
        ));

        // 4. Metrics over the million.
        let reader = Reader::open(&path).unwrap();
        assert_eq!(reader.event_count().unwrap() as u64, total);
        let mut times = Vec::new();
        for _ in 0..9 {
            let t0 = Instant::now();
            let m = reader.metrics(None).unwrap();
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(m);
        }
        let all = median(times.clone());
        let max = times.iter().cloned().fold(0.0, f64::max);
        let mut times = Vec::new();
        for _ in 0..9 {
            let t0 = Instant::now();
            std::hint::black_box(reader.metrics(Some(mend_core::clock::now_ms() - 7 * 86_400_000)).unwrap());
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let week = median(times);
        rows.push((
            "metrics, all time".into(),
            format!("{all:.1} ms"),
            format!("{total} events; median of 9, worst {max:.1} ms (target < 100 ms)"),
        ));
        rows.push(("metrics, last 7 days".into(), format!("{week:.1} ms"), "median of 9".into()));
    }

    println!("| measure | result | notes |\n| --- | --- | --- |");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
