//! Memory benchmarks (BENCHMARKS.md): file load, index build at 10k and
//! 50k lessons, search latency at 50k (median, p99), and the time from an
//! edit to the lesson being searchable. `cargo bench -p mend-memory`;
//! under `cargo test` it runs small as a smoke test.

use std::time::{Duration, Instant};

use mend_memory::edit::Edit;
use mend_memory::index::{Filter, LessonIndex};
use mend_memory::store::Store;
use mend_memory::{NewLesson, synth};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if bench { &[10_000, 50_000] } else { &[500] };
    println!("| measure | result |\n| --- | --- |");
    for &n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("MEMORY.md"));
        let text = synth::memory_file(n);
        store.replace_all("", &text).unwrap();
        let t0 = Instant::now();
        let (m, text, v) = store.load().unwrap();
        let load = t0.elapsed();
        assert_eq!(m.lessons().count(), n);
        let t0 = Instant::now();
        let (mut idx, rebuilt) = LessonIndex::open(&dir.path().join("index"), &m, v.0).unwrap();
        let build = t0.elapsed();
        assert!(rebuilt);
        println!("| {n} lessons: load and parse the file ({} KB) | {:.1} ms |", text.len() / 1024, ms(load));
        println!("| {n} lessons: build the index | {:.0} ms |", ms(build));
        if n != *sizes.last().unwrap() {
            continue;
        }
        let queries = ["nightly deploy", "lesson 4242", "warehouse token quota", "certificat", "backup mirror busy", "RATE_LIMITED"];
        let mut times = Vec::new();
        for round in 0..if bench { 200 } else { 5 } {
            for q in queries {
                let filter = if round % 2 == 0 { Filter::default() } else { Filter { tool: Some("http".into()), code: None } };
                let t0 = Instant::now();
                let hits = idx.search(q, &filter, 10).unwrap();
                times.push(ms(t0.elapsed()));
                assert!(round % 2 == 1 || !hits.is_empty(), "{q}");
            }
        }
        println!("| {n} lessons: search, median of {} | {:.2} ms |", times.len(), pct(&mut times, 0.5));
        println!("| {n} lessons: search, p99 | {:.2} ms |", pct(&mut times, 0.99));
        // The diagnosis' lookup: lessons for a failure's code, ranked by its words.
        let mut looks = Vec::new();
        for round in 0..if bench { 200 } else { 5 } {
            for (code, words) in [
                ("RATE_LIMITED", "429 slow down host12.example"),
                ("TIMEOUT", "deadline exceeded host3.example backup"),
                ("NOT_FOUND", "no such file report.csv"),
            ] {
                let t0 = Instant::now();
                let found = idx.lookup(words, &Filter { tool: None, code: Some(code.into()) }, 64).unwrap();
                looks.push(ms(t0.elapsed()));
                assert!(round > 0 || !found.is_empty(), "{code}");
            }
        }
        println!(
            "| {n} lessons: diagnosis lookup (by code, ranked by the error's words, 64 candidates), median of {} | {:.2} ms |",
            looks.len(),
            pct(&mut looks, 0.5)
        );
        println!("| {n} lessons: diagnosis lookup, p99 | {:.2} ms |", pct(&mut looks, 0.99));
        // Edit → searchable: write the file, re-read, sync the index, search.
        let mut edits = Vec::new();
        let mut cur = text;
        let mut cur_m = m;
        for k in 0..if bench { 10 } else { 2 } {
            let id = format!("L{}", 100 + k * 7);
            let word = format!("zebra{k}");
            let lesson = NewLesson { text: format!("edited {word}"), ..NewLesson::from(cur_m.lesson(&id).unwrap()) };
            // What the agent's memory handle does: splice, parse the edited
            // section only, write atomically, re-index the touched lessons.
            let t0 = Instant::now();
            let (written, patched) = store.apply_parsed(&cur, &cur_m, &Edit::Replace { id: id.clone(), lesson }).unwrap();
            let touched = patched.touched.clone().expect("the edit stays in its section");
            let set: std::collections::HashSet<&str> = touched.iter().map(String::as_str).collect();
            let changed: Vec<_> = patched.memory.lessons().filter(|l| set.contains(l.id.as_str())).collect();
            idx.update(&touched, changed, written.version().0).unwrap();
            let hits = idx.search(&word, &Filter::default(), 1).unwrap();
            edits.push(ms(t0.elapsed()));
            assert_eq!(hits[0].id, id);
            cur = patched.text;
            cur_m = patched.memory;
        }
        println!(
            "| {n} lessons: edit → searchable (splice, parse the edited section, atomic write, re-index its lessons, search), median of {} | {:.0} ms |",
            edits.len(),
            pct(&mut edits, 0.5)
        );
    }
}
