//! The gate's cost per call (issue 11, BENCHMARKS.md): every case of the
//! corpus (`tests/safety/corpus.toml`) through `Gate::check` many times,
//! each call timed alone (parse + classify; the policy is compiled once, as
//! the engine does per job). Prints p50 and p99 in µs, overall and for
//! `/bin/sh -c` scripts, argv calls and the other tools' calls.
//!
//! `cargo bench -p mend-safety --bench gate`; `GATE_BENCH_ROUNDS=N` sets
//! how many times each case runs (default 200).

use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mend_safety::{Context, Gate, Intent, Level, Probe, SafetyConfig};
use serde::Deserialize;

/// The fields of a corpus case the bench needs (the corpus test checks
/// the rest).
#[derive(Deserialize)]
struct Case {
    script: Option<String>,
    argv: Option<Vec<String>>,
    http: Option<Http>,
    fs: Option<Fs>,
    stdin: Option<String>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    destructive: Vec<String>,
    delete_hosts: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    exists: Vec<String>,
    cwd: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Http {
    method: String,
    url: String,
}

#[derive(Deserialize)]
struct Fs {
    op: String,
    path: PathBuf,
    #[serde(default)]
    overwrite: bool,
}

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

struct Files(HashSet<PathBuf>);

impl Probe for Files {
    fn exists(&self, path: &Path) -> bool {
        self.0.contains(path) || self.0.iter().any(|p| p.starts_with(path))
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.iter().any(|p| p != path && p.starts_with(path))
    }
}

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
    let cfg = SafetyConfig { level: c.level.unwrap_or_default(), destructive: c.destructive, allow: c.allow, delete_hosts: c.delete_hosts };
    let gate = Gate::new(&cfg).expect("corpus policies compile");
    let files = Files(c.exists.iter().map(|p| Path::new("/work").join(p)).collect());
    let (kind, intent, rendered) = if let Some(h) = c.http {
        let rendered = format!("{} {}", h.method, h.url);
        (Kind::Other, Intent::Http { method: h.method, url: h.url }, rendered)
    } else if let Some(f) = c.fs {
        let rendered = format!("fs {} {}", f.op, f.path.display());
        (Kind::Other, Intent::Fs { op: f.op, path: f.path, overwrite: f.overwrite }, rendered)
    } else {
        let kind = if c.script.is_some() { Kind::Script } else { Kind::Argv };
        let rendered = c.script.clone().unwrap_or_else(|| c.argv.clone().unwrap_or_default().join(" "));
        let intent = Intent::Exec {
            argv: c.argv,
            script: c.script,
            stdin: c.stdin,
            cwd: Some(c.cwd.unwrap_or_else(|| PathBuf::from("/work"))),
            env: vec![],
            clear_env: false,
        };
        (kind, intent, rendered)
    };
    Prepared { kind, gate, intent, rendered, env: c.env, files }
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/safety/corpus.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let corpus: Corpus = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<Prepared> = corpus.case.into_iter().map(prepare).collect();
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
