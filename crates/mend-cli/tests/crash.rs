//! The crash harness (issue 12): the real `mend` binary killed with
//! `kill -9` at seeded random moments — a headless run, a run at a terminal
//! prompt (a pseudo-terminal), and `mend approvals decide` itself — then
//! driven to its end by what a person would do (`mend approvals decide` on
//! what waits, `mend runs resume` on what was interrupted). Each time:
//!
//! - no request is lost: the run always reaches a final status;
//! - the destructive step runs exactly once (a marker file counts runs) and
//!   no step runs twice;
//! - every call that ran has a `call_started` record in the journal.
//!
//! `MEND_CRASH_SEED` replays a seed (printed by every run);
//! `MEND_CRASH_KILLS` sets the kills per scenario (default 20).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mend_core::event::EventKind;
use mend_journal::{LogFilter, Reader};
use serde_json::Value;

/// Steps: two ordinary ones, a destructive one with a verify call that
/// tells whether it ran, one after. Each appends its name to `calls.log`
/// when it runs.
const JOB: &str = r#"
name = "crash"
[approval]
timeout = "1h"
[[steps]]
name = "one"
tool = "exec"
args = { shell = "echo one >> calls.log; sleep 0.05" }
[[steps]]
name = "two"
tool = "exec"
args = { shell = "echo two >> calls.log; sleep 0.1" }
[[steps]]
name = "clean"
tool = "exec"
args = { shell = "echo clean >> calls.log; sleep 0.1; rm -rf target" }
verify = { tool = "exec", args = { program = "grep", args = ["-qx", "clean", "calls.log"] } }
[[steps]]
name = "after"
tool = "exec"
args = { shell = "echo after >> calls.log" }
"#;

const STEPS: [&str; 4] = ["one", "two", "clean", "after"];

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    c.env("MEND_DATA_DIR", data)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("MEND_MEMORY", data.join("MEMORY.md"))
        .env_remove("MEND_CONFIG")
        .arg("--no-llm");
    c
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

struct Case {
    _dir: tempfile::TempDir,
    data: PathBuf,
    work: PathBuf,
    job: PathBuf,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("target")).unwrap();
        let job = work.join("crash.toml");
        std::fs::write(&job, JOB).unwrap();
        Case { data: dir.path().join("data"), work, job, _dir: dir }
    }

    fn marks(&self) -> Vec<String> {
        std::fs::read_to_string(self.work.join("calls.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn runs(&self) -> Vec<Value> {
        let (code, out, err) = output(mend(&self.data).args(["runs", "--json", "--limit", "0"]));
        assert_eq!(code, 0, "mend runs: {err}");
        serde_json::from_str::<Value>(&out).unwrap().as_array().cloned().unwrap_or_default()
    }

    fn pending(&self) -> Vec<Value> {
        let (code, out, err) = output(mend(&self.data).args(["approvals", "list", "--json"]));
        assert_eq!(code, 0, "mend approvals list: {err}");
        serde_json::from_str::<Value>(&out).unwrap().as_array().cloned().unwrap_or_default()
    }

    /// What a person does until the run ends: decide what waits (the
    /// recommended option; `run` before the destructive call), resume
    /// what was interrupted. Returns the run's final status and the log of
    /// what was done.
    fn drive(&self, log: &mut Vec<String>) -> Option<String> {
        for _ in 0..12 {
            let runs = self.runs();
            let run = runs.first()?;
            let status = run["status"].as_str().unwrap_or("").to_owned();
            let run_id = run["run_id"].as_str().unwrap().to_owned();
            if matches!(status.as_str(), "succeeded" | "failed" | "aborted") {
                return Some(status);
            }
            let pending = self.pending();
            let (code, _, err) = if let Some(req) = pending.iter().find(|r| r["run_id"] == run_id.as_str()) {
                let option = req["recommended"].as_str().unwrap().to_owned();
                log.push(format!("decide {} ({}) {option}", req["id"], req["kind"]));
                output(mend(&self.data).args(["approvals", "decide", req["id"].as_str().unwrap(), &option, "--approve", "wait"]))
            } else {
                log.push(format!("resume {run_id} ({status})"));
                output(mend(&self.data).args(["runs", "resume", &run_id, "--approve", "wait"]))
            };
            log.push(format!(
                "  → exit {code}: {}",
                err.lines()
                    .filter(|l| l.starts_with("mend") || l.contains("Resum") || l.contains("Going on"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
        panic!("the run did not end after 12 decisions and resumes:\n{}", log.join("\n"));
    }

    /// Like [`drive`](Self::drive), but every decide and resume may itself
    /// be killed at a random moment (half of them are), until the run ends.
    fn drive_killing(&self, rng: &mut fastrand::Rng, log: &mut Vec<String>) -> Option<String> {
        for _ in 0..40 {
            let runs = self.runs();
            let run = runs.first()?;
            let status = run["status"].as_str().unwrap_or("").to_owned();
            let run_id = run["run_id"].as_str().unwrap().to_owned();
            if matches!(status.as_str(), "succeeded" | "failed" | "aborted") {
                return Some(status);
            }
            let pending = self.pending();
            let mut cmd = mend(&self.data);
            if let Some(req) = pending.iter().find(|r| r["run_id"] == run_id.as_str()) {
                let option = req["recommended"].as_str().unwrap().to_owned();
                log.push(format!("decide {} ({}) {option}", req["id"], req["kind"]));
                cmd.args(["approvals", "decide", req["id"].as_str().unwrap(), &option, "--approve", "wait"]);
            } else {
                log.push(format!("resume {run_id} ({status})"));
                cmd.args(["runs", "resume", &run_id, "--approve", "wait"]);
            }
            let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            if rng.bool() {
                let ms = rng.u64(0..300);
                std::thread::sleep(Duration::from_millis(ms));
                kill9(&mut child);
                log.push(format!("  → killed at {ms} ms"));
            } else {
                let code = child.wait().unwrap().code().unwrap_or(-1);
                log.push(format!("  → exit {code}"));
            }
        }
        panic!("the run did not end after 40 decisions and resumes:\n{}", log.join("\n"));
    }

    /// Asserts the promises after a kill and the person's follow-up.
    fn check(&self, what: &str, seed: u64, kill_ms: u64, log: &mut Vec<String>) {
        let status = self.drive(log);
        self.assert_promises(what, seed, kill_ms, status, log);
    }

    fn assert_promises(&self, what: &str, seed: u64, kill_ms: u64, status: Option<String>, log: &[String]) {
        let marks = self.marks();
        let ctx = || format!("{what}, seed {seed}, kill at {kill_ms} ms; marks {marks:?}; what was done:\n{}", log.join("\n"));
        eprintln!("{}", log.join("\n"));
        let Some(status) = status else {
            // Killed before the run was journaled: then nothing ran.
            assert!(marks.is_empty(), "a call ran with no run in the journal: {}", ctx());
            return;
        };
        assert_eq!(status, "succeeded", "{}", ctx());
        for step in STEPS {
            let n = marks.iter().filter(|m| *m == step).count();
            assert!(n <= 1, "step `{step}` ran {n} times: {}", ctx());
        }
        assert_eq!(marks.iter().filter(|m| *m == "clean").count(), 1, "the destructive step ran exactly once: {}", ctx());
        // Every call that ran has its record, written before it ran.
        let reader = Reader::open(&self.data.join("journal.sqlite3")).unwrap();
        let started = reader.logs(&LogFilter { kind: Some(EventKind::CallStarted), limit: 0, ..Default::default() }).unwrap();
        for step in STEPS {
            if marks.iter().any(|m| m == step) {
                assert!(
                    started.iter().any(|e| e.step.as_deref() == Some(step)),
                    "step `{step}` ran with no call_started record: {}",
                    ctx()
                );
            }
        }
    }
}

fn seed() -> u64 {
    let seed = std::env::var("MEND_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash harness seed: {seed} (MEND_CRASH_SEED={seed} replays it)");
    seed
}

fn kills() -> usize {
    std::env::var("MEND_CRASH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills a headless `mend run` anywhere between its start and its end
/// (it ends waiting before the destructive step).
#[test]
fn kill_9_a_headless_run_at_random_points() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    // Kill points spread over the time a whole run takes here.
    let whole = {
        let case = Case::new();
        let t0 = Instant::now();
        let (code, _, err) = output(mend(&case.data).args(["run", "--approve", "wait"]).arg(&case.job));
        assert_eq!(code, 3, "the run waits before the destructive step: {err}");
        t0.elapsed().as_millis() as u64
    };
    eprintln!("a headless run takes {whole} ms here");
    for i in 0..kills() {
        let case = Case::new();
        let kill_ms = rng.u64(0..whole + 20);
        let mut child = mend(&case.data)
            .args(["run", "--approve", "wait"])
            .arg(&case.job)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_ms));
        kill9(&mut child);
        let mut log = vec![format!("#{i}: mend run killed at {kill_ms} ms")];
        case.check("headless run", seed, kill_ms, &mut log);
    }
}

/// Kills `mend run` at a terminal (a pseudo-terminal: the approval prompt
/// is shown there) at random points, most of them while the prompt waits.
#[test]
fn kill_9_a_run_at_a_terminal_prompt() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7e57);
    let mut at_prompt = 0;
    for i in 0..kills() {
        let case = Case::new();
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        let mut child = mend(&case.data)
            .arg("run")
            .arg(&case.job)
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        // Read the terminal so the child never blocks writing to it.
        let mut master = std::fs::File::from(pty.master);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                    break;
                }
            }
        });
        let kill_ms = rng.u64(0..1500);
        let t0 = Instant::now();
        let mut screen = String::new();
        while t0.elapsed() < Duration::from_millis(kill_ms) {
            if let Ok(s) = rx.recv_timeout(Duration::from_millis(10)) {
                screen.push_str(&s);
            }
        }
        kill9(&mut child);
        if screen.contains("APPROVAL NEEDED") {
            at_prompt += 1;
        }
        let mut log =
            vec![format!("#{i}: mend run at a terminal killed at {kill_ms} ms (prompt shown: {})", screen.contains("APPROVAL NEEDED"))];
        case.check("run at a terminal prompt", seed, kill_ms, &mut log);
    }
    assert!(at_prompt * 2 >= kills(), "most kills should hit the prompt: {at_prompt} of {}", kills());
}

/// Kills `mend approvals decide` (which records the decision and resumes
/// the run) at random points.
#[test]
fn kill_9_approvals_decide_at_random_points() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xdec1de);
    let waiting = || {
        let case = Case::new();
        let (code, _, err) = output(mend(&case.data).args(["run", "--approve", "wait"]).arg(&case.job));
        assert_eq!(code, 3, "the run waits before the destructive step: {err}");
        let req = case.pending().first().cloned().expect("a pending request");
        (case, req["id"].as_str().unwrap().to_owned())
    };
    // Kill points spread over the time a whole decide-and-resume takes here.
    let whole = {
        let (case, id) = waiting();
        let t0 = Instant::now();
        let (code, _, err) = output(mend(&case.data).args(["approvals", "decide", &id, "run"]));
        assert_eq!(code, 0, "{err}");
        t0.elapsed().as_millis() as u64
    };
    eprintln!("a decide and its resumed run take {whole} ms here");
    for i in 0..kills() {
        let (case, id) = waiting();
        let kill_ms = rng.u64(0..whole + 20);
        let mut child = mend(&case.data)
            .args(["approvals", "decide", &id, "run", "--approve", "wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_ms));
        kill9(&mut child);
        let mut log = vec![format!("#{i}: mend approvals decide killed at {kill_ms} ms")];
        case.check("approvals decide", seed, kill_ms, &mut log);
    }
}

/// A chain of kills: the run, then any of the decides and resumes that go
/// on with it, each killed at a random moment, until it ends.
#[test]
fn kill_9_every_process_that_goes_on_with_the_run() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xc4a1);
    for i in 0..kills() {
        let case = Case::new();
        let kill_ms = rng.u64(0..300);
        let mut child = mend(&case.data)
            .args(["run", "--approve", "wait"])
            .arg(&case.job)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_ms));
        kill9(&mut child);
        let mut log = vec![format!("#{i}: mend run killed at {kill_ms} ms")];
        let status = case.drive_killing(&mut rng, &mut log);
        case.assert_promises("a chain of kills", seed, kill_ms, status, &log);
    }
}
