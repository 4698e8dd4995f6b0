//! What the memory costs the `mend` binary (issue 13), side by side in one
//! run: `mend run` of a one-step succeeding job with the starter memory and
//! with 50,000 lessons; `mend memory search` at 50,000 lessons against the
//! process start floor (`mend --version`); `mend memory check` at 10,000
//! and 100,000 lessons (time and the process's peak memory); a failing
//! call's lesson lookup at 50,000 lessons through the persisted index.
//! `cargo bench -p mend-cli --bench memory_cost` (release); under `cargo
//! test` it runs small, as a smoke test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn mend(data: &Path, memory: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    c.env("MEND_DATA_DIR", data)
        .env("MEND_MEMORY", memory)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env_remove("MEND_CONFIG")
        .arg("--no-llm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn ms(mut c: Command) -> f64 {
    let t0 = Instant::now();
    let _ = c.status().unwrap();
    t0.elapsed().as_secs_f64() * 1000.0
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

/// Peak resident memory (KiB) of the largest child waited for so far.
fn children_max_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).map(|u| u.max_rss()).unwrap_or(0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (big, rounds, checks): (usize, usize, &[usize]) = if bench { (50_000, 21, &[10_000, 100_000]) } else { (500, 3, &[200]) };
    let d = tempfile::tempdir().unwrap();
    let job = d.path().join("ok.toml");
    std::fs::write(&job, "name = \"ok\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    let small_mem = d.path().join("small.md");
    std::fs::write(&small_mem, mend_memory::STARTER).unwrap();
    let big_mem = d.path().join("big.md");
    std::fs::write(&big_mem, mend_memory::synth::memory_file(big)).unwrap();
    let (small_data, big_data) = (d.path().join("small-data"), d.path().join("big-data"));
    // Warm: the index is built once (as after the first use).
    let _ = mend(&big_data, &big_mem).args(["memory", "reindex"]).status();
    let _ = mend(&small_data, &small_mem).args(["memory", "reindex"]).status();

    println!("| measure | result | notes |\n| --- | --- | --- |");
    // 1. mend run, starter vs big memory, interleaved.
    let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let x = ms({
            let mut c = mend(&small_data, &small_mem);
            c.arg("run").arg(&job);
            c
        });
        let y = ms({
            let mut c = mend(&big_data, &big_mem);
            c.arg("run").arg(&job);
            c
        });
        a.push(x);
        b.push(y);
        ratio.push(y / x);
    }
    println!(
        "| `mend run`, one succeeding step: {big} lessons vs the starter memory | ratio {:.2} | {:.1} ms vs {:.1} ms (p50 of {rounds}, interleaved); goal ≤ 1.2 |",
        pct(&mut ratio, 0.5),
        pct(&mut b, 0.5),
        pct(&mut a, 0.5)
    );
    // 2. memory search at big vs the process start floor.
    let (mut floor, mut search) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        floor.push(ms({
            let mut c = mend(&big_data, &big_mem);
            c.arg("--version");
            c
        }));
        search.push(ms({
            let mut c = mend(&big_data, &big_mem);
            c.args(["memory", "search", "nightly backup timeout", "--limit", "5"]);
            c
        }));
    }
    println!(
        "| `mend memory search` at {big} lessons | p50 {:.1} ms, p99 {:.1} ms | process start floor p50 {:.1} ms; goal p50 ≤ 30 ms |",
        pct(&mut search, 0.5),
        pct(&mut search, 0.99),
        pct(&mut floor, 0.5)
    );
    // 3. memory check, time and peak memory.
    for &n in checks {
        let m = d.path().join(format!("check-{n}.md"));
        std::fs::write(&m, mend_memory::synth::memory_file(n)).unwrap();
        let data = d.path().join(format!("check-{n}"));
        let before = children_max_rss_kib();
        let t = ms({
            let mut c = mend(&data, &m);
            c.args(["memory", "check"]);
            c
        });
        let rss = children_max_rss_kib().max(before);
        println!(
            "| `mend memory check` at {n} lessons | {:.0} ms | peak memory of the largest process so far {} MB; goal at 100,000 ≤ 5 s and ≤ 500 MB |",
            t,
            rss / 1024
        );
    }
    // 4. a failing call's lesson lookup through the persisted index, in process.
    let text = std::fs::read_to_string(&big_mem).unwrap();
    let mut times = Vec::new();
    for i in 0..rounds {
        let t0 = Instant::now();
        let idx = mend_memory::index::LessonIndex::open_current(
            &mend_agent::memory::Lessons::index_dir(&big_data),
            mend_memory::store::Version::of(&std::fs::read_to_string(&big_mem).unwrap()).0,
        )
        .expect("the index matches the file");
        let q = mend_core::lesson::FailureQuery {
            tool: "http".into(),
            code: "TIMEOUT".into(),
            message: format!("request timed out after 30 s ({i})"),
            subject: Some("api.shop.example:443".into()),
            target: "GET https://api.shop.example/orders".into(),
        };
        let found = mend_agent::memory::find_in_index(&idx, &q, 5);
        std::hint::black_box(found);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "| a failing call's lesson lookup at {big} lessons (read + hash the file, open the index, look up) | p50 {:.1} ms | {} KB file, no parse |",
        pct(&mut times, 0.5),
        text.len() / 1024
    );
}
