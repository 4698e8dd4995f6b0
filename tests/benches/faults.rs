//! `cargo bench -p mend-tests --bench faults`: the fault table's totals in
//! BENCHMARKS.md (issue 14) — for each failure a new user meets, through
//! the whole agent with a fresh data folder (the starter MEMORY.md), no
//! person at the desk (`--approve abort`): whether it healed without a
//! person, asked one, how many calls were made, how many were wasted (failed
//! after the first failure), and how many side effects reached the world
//! twice without a verify answer, a key or a person.
//!
//! Rows are job texts only, so the same file measures an older Mend (its
//! "before" column: run it in a checkout of that commit with this file and
//! `mend-faults` copied in). A row whose text an older version cannot parse
//! runs its `older` text instead.

use std::path::Path;
use std::sync::Arc;

use mend_agent::{Agent, Ended, RunSpec, load};
use mend_core::approval::StandingApprover;
use mend_core::config::Config;
use mend_core::event::EventKind;
use mend_faults::{FaultServer, Reply, Script};
use mend_journal::LogFilter;

struct Row {
    name: &'static str,
    /// `{url}` is the fault server.
    job: &'static str,
    /// The same job for a Mend that does not know a field of `job`.
    older: Option<&'static str>,
    /// The route whose hits are side effects (`None`: none counted).
    effect: Option<&'static str>,
    routes: Vec<(&'static str, Script)>,
    files: fn(&Path),
}

fn none(_: &Path) {}

fn rows() -> Vec<Row> {
    let late = || Reply::json(201, r#"{"id": 42}"#).after_ms(1500);
    let stored = || Reply::if_hit("/orders", Reply::json(200, r#"{"id": 42}"#), Reply::status(404, "no such order"));
    vec![
        Row {
            name: "POST answered after its timeout, verify declared",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 300 }
verify = { tool = "http", args = { url = "{url}/orders/42" } }"#,
            older: None,
            effect: Some("/orders"),
            routes: vec![("/orders", Script::new().always(late())), ("/orders/42", Script::new().always(stored()))],
            files: none,
        },
        Row {
            name: "POST answered after its timeout, no verify",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 300 }"#,
            older: None,
            effect: Some("/orders"),
            routes: vec![("/orders", Script::new().always(late()))],
            files: none,
        },
        Row {
            name: "POST dropped after it was sent, no verify",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" } }"#,
            older: None,
            effect: Some("/orders"),
            routes: vec![("/orders", Script::new().then(1, Reply::Drop).always(Reply::json(201, "{}")))],
            files: none,
        },
        Row {
            name: "POST with an idempotency key, answered late once",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 300 }
idempotency_key = true"#,
            older: Some(
                r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders", method = "POST", json = { sku = "A-1" }, timeout_ms = 300 }"#,
            ),
            effect: Some("/orders"),
            routes: vec![("/orders", Script::new().then(1, late()).always(Reply::json(201, "{}")))],
            files: none,
        },
        Row {
            name: "PUT answered late once",
            job: r#"name = "t"
[[steps]]
tool = "http"
args = { url = "{url}/orders/42", method = "PUT", json = { sku = "A-1" }, timeout_ms = 300 }"#,
            older: None,
            effect: None,
            routes: vec![("/orders/42", Script::new().then(1, late()).always(Reply::json(200, "{}")))],
            files: none,
        },
        Row {
            name: "a command that hangs, not marked idempotent",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { shell = "echo ran >> runs.log; sleep 5", timeout_ms = 200 }"#,
            older: None,
            effect: None,
            routes: vec![],
            files: none,
        },
        Row {
            name: "exec: EAGAIN once (`Resource temporarily unavailable`)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { shell = "if [ -e tried ]; then echo ok; else touch tried; echo 'fork: Resource temporarily unavailable, try again later' >&2; exit 1; fi" }
retry = { base = "10ms" }"#,
            older: None,
            effect: None,
            routes: vec![],
            files: none,
        },
        Row {
            name: "exec: `curl --fail` to a 503 once",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "curl", args = ["-sS", "--fail", "{url}/busy"] }
retry = { base = "10ms" }"#,
            older: None,
            effect: None,
            routes: vec![("/busy", Script::new().then(1, Reply::status(503, "busy")).always(Reply::ok("fine")))],
            files: none,
        },
        Row {
            name: "exec: `cat data/reprot.csv` next to data/report.csv",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "cat", args = ["data/reprot.csv"] }"#,
            older: None,
            effect: None,
            routes: vec![],
            files: |d| {
                std::fs::create_dir_all(d.join("data")).unwrap();
                std::fs::write(d.join("data/report.csv"), "a,b\n").unwrap();
            },
        },
        Row {
            name: "exec: `ls --bad-flag` (a usage error)",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "ls", args = ["--bad-flag"] }"#,
            older: None,
            effect: None,
            routes: vec![],
            files: none,
        },
        Row {
            name: "exec: `grep -c ERROR` with no match, exit 1 means none",
            job: r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "grep", args = ["-c", "ERROR", "app.log"], ok_exit = [0, 1] }"#,
            older: Some(
                r#"name = "t"
[[steps]]
tool = "exec"
args = { program = "grep", args = ["-c", "ERROR", "app.log"] }"#,
            ),
            effect: None,
            routes: vec![],
            files: |d| std::fs::write(d.join("app.log"), "all fine\n").unwrap(),
        },
    ]
}

#[derive(Default)]
struct Tally {
    healed_alone: usize,
    asked: usize,
    failed: usize,
    calls: usize,
    wasted: usize,
    twice: usize,
}

async fn run_row(row: &Row) -> (String, Tally) {
    let dir = tempfile::tempdir().unwrap();
    (row.files)(dir.path());
    let server = FaultServer::start(row.routes.clone()).await.unwrap();
    let agent = Agent::open(&dir.path().join("data")).unwrap();
    let path = dir.path().join("job.toml");
    let parse = |text: &str| {
        std::fs::write(&path, text.replace("{url}", &server.url(""))).unwrap();
        load::job(&path, &Config::default(), &[])
    };
    let job = match (parse(row.job), row.older) {
        (Ok(j), _) => j,
        (Err(_), Some(older)) => parse(older).unwrap(),
        (Err(e), None) => panic!("{}: {e}", row.name),
    };
    let spec = RunSpec { job_path: Some(&path), ..RunSpec::new(&job, vec![]) };
    let report = match agent.execute(spec, Arc::new(StandingApprover::Abort), None, std::future::pending::<String>()).await.unwrap() {
        Ended::Finished(r) => *r,
        Ended::Interrupted { .. } => panic!("interrupted"),
    };
    let events = agent.reader().unwrap().logs(&LogFilter::default()).unwrap();
    let calls: Vec<bool> = events.iter().filter(|e| e.kind() == EventKind::Call).map(|e| e.ok == Some(true)).collect();
    let step = &report.steps[0];
    let mut t = Tally { calls: calls.len(), wasted: calls.iter().skip(1).filter(|ok| !**ok).count(), ..Tally::default() };
    let ok = step.status.is_ok();
    if !step.escalations.is_empty() {
        t.asked = 1;
    } else if ok {
        t.healed_alone = 1;
    } else {
        t.failed = 1;
    }
    // Every request after the first is the work done again, unless it
    // carries a key an earlier request carried (the server answers it from
    // what it stored).
    if let Some(route) = row.effect {
        let mut keys = Vec::new();
        for (i, seen) in server.requests(route).iter().enumerate() {
            let key = seen.header("idempotency-key").map(str::to_owned);
            if i > 0 && key.as_ref().is_none_or(|k| !keys.contains(k)) {
                t.twice += 1;
            }
            keys.extend(key);
        }
    }
    let runs = std::fs::read_to_string(dir.path().join("runs.log")).map(|s| s.lines().count()).unwrap_or(0);
    t.twice += runs.saturating_sub(1);
    let how = if t.asked == 1 {
        "asked"
    } else if ok {
        "healed"
    } else {
        "failed"
    };
    let code = step.failure.as_ref().map(|f| f.code.clone()).unwrap_or_default();
    let line = format!("| {} | {code} | {how} ({:?}) | {} | {} | {} |", row.name, step.status, t.calls, t.wasted, t.twice);
    (line, t)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut total = Tally::default();
    println!("| failure | code | outcome | calls | wasted | sent twice |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in rows() {
        let (line, t) = rt.block_on(run_row(&row));
        println!("{line}");
        total.healed_alone += t.healed_alone;
        total.asked += t.asked;
        total.failed += t.failed;
        total.calls += t.calls;
        total.wasted += t.wasted;
        total.twice += t.twice;
    }
    println!(
        "\ntotals: healed without a person {}, asked a person {}, failed {}, calls {}, wasted calls {}, side effects sent twice {}",
        total.healed_alone, total.asked, total.failed, total.calls, total.wasted, total.twice
    );
}
