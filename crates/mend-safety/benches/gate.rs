//! The gate's cost per call (issue 11, BENCHMARKS.md): every case of the
//! corpus (`tests/safety/corpus.toml`) through `Gate::check` many times,
//! each call timed alone (parse + classify; the policy is compiled once, as
//! the engine does per job). Prints p50 and p99 in µs, overall and for
//! `/bin/sh -c` scripts, argv calls and the other tools' calls.
//!
//! `cargo bench -p mend-safety --bench gate`; `GATE_BENCH_ROUNDS=N` sets
//! how many times each case runs (default 200).

#[allow(dead_code)]
#[path = "../tests/support/corpus.rs"]
mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use mend_safety::{Context, Gate, Intent};
use support::{Case, Files};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Script,
    Argv,
    Other,
}

/// One case, ready to check: the compiled policy, the call and its inputs.
struct Prepared {
    kind: Kind,
    gate: Gate,
    intent: Intent,
    rendered: String,
    env: BTreeMap<String, String>,
    files: Files,
}

fn prepare(c: Case) -> Prepared {
    let gate = Gate::new(&support::config(&c)).expect("corpus policies compile");
    let kind = match (&c.script, &c.argv) {
        (Some(_), _) => Kind::Script,
        (None, Some(_)) => Kind::Argv,
        _ => Kind::Other,
    };
    let (intent, rendered) = support::intent(&c);
    Prepared { kind, gate, intent, rendered, files: support::files(&c), env: c.env }
}

fn check(p: &Prepared) -> usize {
    let env = |n: &str| p.env.get(n).cloned();
    let v = p.gate.check(black_box(&p.intent), black_box(&p.rendered), false, &Context { env: &env, probe: Some(&p.files) });
    v.asks.len() + v.allowed.len()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, times: &mut [Duration]) {
    if times.is_empty() {
        return;
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{name:<8} {:>8} calls   p50 {:>7.1} µs   p99 {:>7.1} µs   mean {:>7.1} µs   max {:>8.1} µs",
        times.len(),
        micros(at(0.50)),
        micros(at(0.99)),
        micros(mean),
        micros(at(1.0)),
    );
}

fn main() {
    let cases: Vec<Prepared> = support::load().into_iter().map(prepare).collect();
    let rounds: usize = std::env::var("GATE_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(200);

    // Warm up: caches, lazily compiled regexes, the allocator.
    for p in &cases {
        black_box(check(p));
    }
    let mut by_kind: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..rounds {
        for p in &cases {
            let t = Instant::now();
            black_box(check(p));
            by_kind.entry(p.kind).or_default().push(t.elapsed());
        }
    }
    let wall = started.elapsed();

    let count = |k: Kind| cases.iter().filter(|p| p.kind == k).count();
    println!(
        "gate: {} corpus cases ({} scripts, {} argv, {} http/fs), {rounds} rounds, {:.2} s",
        cases.len(),
        count(Kind::Script),
        count(Kind::Argv),
        count(Kind::Other),
        wall.as_secs_f64()
    );
    let mut all: Vec<Duration> = by_kind.values().flatten().copied().collect();
    report("all", &mut all);
    for (kind, name) in [(Kind::Script, "script"), (Kind::Argv, "argv"), (Kind::Other, "http/fs")] {
        report(name, by_kind.entry(kind).or_default());
    }
}
