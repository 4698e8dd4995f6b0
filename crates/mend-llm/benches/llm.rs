//! The LLM layer's own cost (BENCHMARKS.md): building the prompt with 10
//! lessons, parsing replies, and a whole diagnosis against a local server
//! that answers at once (so what is measured is Mend's side: prompt,
//! HTTP over loopback, parsing, mapping — not a model's latency).
//! `cargo bench -p mend-llm`; under `cargo test` it runs a few rounds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mend_core::ErrorCode;
use mend_core::config::{LlmModel, LlmProvider};
use mend_core::diagnose::{Diagnoser, DiagnosisContext};
use mend_core::event::Stats;
use mend_core::job::Job;
use mend_core::lesson::{LessonFix, LessonMatch};
use mend_core::outcome::ToolError;
use mend_core::redact::Redactor;
use mend_core::tool::Effect;
use mend_faults::{FaultServer, Reply, Script};
use serde_json::json;

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            us(t.elapsed())
        })
        .collect()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 5_000 } else { 20 };
    let job = Job::parse(
        "version = 1\nname = \"sync\"\n[[steps]]\nname = \"read\"\ntool = \"fs\"\nargs = { op = \"read\", path = \"/srv/data/input.txt\" }\n[[steps.alternatives]]\ntool = \"fs\"\nargs = { op = \"read\", path = \"/srv/backup/input.txt\" }\n",
        "job.toml",
        std::path::Path::new("."),
    )
    .unwrap();
    let args = json!({"op": "read", "path": "/srv/data/input.txt"});
    let err = ToolError::new(ErrorCode::NOT_FOUND, "no such file or directory: /srv/data/input.txt");
    let lessons: Vec<LessonMatch> = (0..10)
        .map(|i| LessonMatch {
            id: format!("l{i}"),
            section: "Files".into(),
            text: format!("Lesson {i}: exports land in /srv/data with a date in their name; look for the newest one and read it."),
            fix: Some(LessonFix { action: "retry_modified".into(), args: Some(json!({"path": format!("/srv/data/export-{i}.csv")})) }),
            applies: i < 3,
            specificity: 1,
            seen: i,
            failures: 0,
            score: 1.0,
        })
        .collect();
    let registry = mend_tools::default_registry();
    let redactor = Redactor::new([("TOKEN", "secret-value-123")]);
    let (tried, stats) = (HashSet::new(), Stats::default());
    let cx = DiagnosisContext {
        job: &job,
        step: &job.steps[0],
        tool: "fs",
        args: &args,
        effect: Effect::ReadOnly,
        error: &err,
        attempts: &[],
        retries_for_code: 0,
        untried_alternatives: vec![0],
        verify_tried: false,
        in_doubt: None,
        repairs: &[],
        tried: &tried,
        stats: &stats,
        tokens_left: 100_000,
        lessons: &lessons,
        redactor: &redactor,
        registry: &registry,
        history: None,
    };
    println!("| measure | median | p99 |\n| --- | --- | --- |");
    let mut t = timed(n, || {
        std::hint::black_box(mend_llm::prompt::user(&cx));
    });
    println!("| build the prompt (10 lessons, the tool's schema), {n} times | {:.1} µs | {:.1} µs |", pct(&mut t, 0.5), pct(&mut t, 0.99));
    let json_reply = "```json\n{\"action\": \"retry_modified\", \"root_cause\": \"the export has a date in its name\", \"modified_args\": {\"path\": \"/srv/data/export-2.csv\"}, \"user_message\": \"Read the dated export.\"}\n```";
    let text_reply = "ACTION: retry_modified\nROOT_CAUSE: the export has a date in its name\nMODIFIED_ARGS: {\"path\": \"/srv/data/export-2.csv\"}\nUSER_MESSAGE: Read the dated export.";
    for (name, reply) in [("JSON in a code fence", json_reply), ("ACTION: text", text_reply)] {
        let mut t = timed(n, || {
            std::hint::black_box(mend_llm::parse::parse(reply).unwrap());
        });
        println!("| parse a reply ({name}) | {:.1} µs | {:.1} µs |", pct(&mut t, 0.5), pct(&mut t, 0.99));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let body = json!({"choices": [{"message": {"content": json_reply}}], "usage": {"prompt_tokens": 900, "completion_tokens": 60}});
        let server = FaultServer::start([("/v1/chat/completions", Script::new().always(Reply::json(200, &body.to_string())))]).await.unwrap();
        let model = LlmModel {
            name: "local".into(),
            provider: LlmProvider::Openai,
            base_url: server.url("/v1"),
            model: "m".into(),
            api_key_env: None,
            api_key_file: None,
            timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            max_tokens: 300,
        };
        let layer = mend_llm::LlmDiagnoser::new(mend_llm::Chain::new(&[model]).unwrap());
        let rounds = if bench { 500 } else { 5 };
        let mut t = Vec::new();
        for _ in 0..rounds {
            let t0 = Instant::now();
            let d = layer.diagnose(&cx).await;
            t.push(us(t0.elapsed()));
            assert_eq!(d[0].action.kind(), "retry_modified");
        }
        println!(
            "| a whole diagnosis against a server that answers at once (prompt, loopback HTTP, parse, map), {rounds} times | {:.0} µs | {:.0} µs |",
            pct(&mut t, 0.5),
            pct(&mut t, 0.99)
        );
    });
}
