//! The real `mend` binary against what its children and its callers do to
//! it: a child that exits without reading its standard input (SIGPIPE is
//! not Mend's death), a pipeline that relies on the default SIGPIPE, and
//! SIGTERM / SIGHUP, which stop a run like Ctrl-C (issue 12).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    // Hermetic: no user config file from the machine running the tests.
    c.env("MEND_DATA_DIR", data).env("XDG_CONFIG_HOME", data.join("no-config")).env_remove("MEND_CONFIG").arg("--no-llm");
    c.stdin(Stdio::null());
    c
}

/// `mend runs --json`, as (job, status) rows, newest first.
fn runs(data: &Path) -> Vec<(String, String)> {
    let out = mend(data).args(["runs", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .map(|a| a.iter().map(|r| (r["job"].as_str().unwrap_or("").to_owned(), r["status"].as_str().unwrap_or("").to_owned())).collect())
        .unwrap_or_default()
}

fn alive(pid: i32) -> bool {
    // A killed child nobody reaped yet is a zombie (state Z): that is dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// The live children of `pid` running `name`.
fn children_named(pid: u32, name: &str) -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return vec![] };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // pid (comm) state ppid …
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { return false };
            let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|x| x.parse::<u32>().ok());
            &stat[open + 1..close] == name && ppid == Some(pid) && alive(p)
        })
        .collect()
}

fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if let Some(x) = f() {
            return Some(x);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    poll(within, || child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1)))
}

#[test]
fn a_child_that_exits_without_reading_its_stdin_does_not_kill_mend() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let job = d.path().join("feed.toml");
    let stdin = "x".repeat(1 << 20);
    std::fs::write(
        &job,
        format!(
            "name = \"feed\"\n\
             [[steps]]\nname = \"ignore-stdin\"\ntool = \"exec\"\nargs = {{ program = \"true\", stdin = \"{stdin}\" }}\n\
             [[steps]]\nname = \"pipeline\"\ntool = \"exec\"\nargs = {{ shell = \"yes | head -1\", timeout_ms = 20000 }}\n"
        ),
    )
    .unwrap();
    for i in 0..5 {
        let t0 = Instant::now();
        let out = mend(&data).arg("run").arg(&job).arg("--json").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), None, "run {i}: killed by a signal: {:?}\n{err}", out.status);
        assert_ne!(out.status.code(), Some(141), "run {i}: SIGPIPE\n{err}");
        assert_eq!(out.status.code(), Some(0), "run {i}\n{err}");
        // `yes` got the default SIGPIPE and ended with `head`.
        assert!(t0.elapsed() < Duration::from_secs(10), "run {i} took {:?}", t0.elapsed());
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["status"], "succeeded");
    }
    let rows = runs(&data);
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|(job, status)| job == "feed" && status == "succeeded"), "{rows:?}");
}

#[test]
fn a_closed_stdout_does_not_make_mend_run_panic() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let job = d.path().join("ok.toml");
    std::fs::write(&job, "name = \"ok\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    // Both ends read by nobody: every write Mend makes meets a broken pipe.
    let mut child = mend(&data).arg("run").arg(&job).arg("--json").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), Some(0));
    assert_eq!(runs(&data), [("ok".to_owned(), "succeeded".to_owned())]);
}

/// Starts `mend` on a job whose step is a `sleep 30`, waits until the run
/// shows as running with its sleep, sends `sig`, and checks the run was
/// closed as interrupted and the sleep ended. Returns the exit code.
fn stop_mid_run(args: &[&str], job_toml: &str, sig: Signal) -> i32 {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let jobs = d.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    let job = jobs.join("nap.toml");
    std::fs::write(&job, job_toml).unwrap();
    let mut cmd = mend(&data);
    cmd.args(args).arg(if args[0] == "run" { &job } else { &jobs }).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let sleep = poll(Duration::from_secs(15), || {
        let running = runs(&data).iter().any(|(_, s)| s == "running");
        children_named(child.id(), "sleep").first().copied().filter(|_| running)
    });
    let Some(sleep) = sleep else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("the run never showed as running: {}", String::from_utf8_lossy(&out.stderr));
    };
    let t0 = Instant::now();
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(5));
    let Some(code) = code else {
        let _ = child.kill();
        panic!("mend did not exit within 5 s of {sig}");
    };
    assert!(t0.elapsed() < Duration::from_secs(5));
    let rows = runs(&data);
    assert_eq!(rows, [("nap".to_owned(), "interrupted".to_owned())], "not a ghost `running` run");
    // Closed by Mend itself, not inferred later from a dead process.
    let out = mend(&data).args(["logs", "--json", "--kind", "run_finished"]).output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.lines().count() == 1 && logs.contains("\"interrupted\""), "{logs}");
    assert!(!alive(sleep), "the step's sleep {sleep} outlived the run");
    code
}

#[test]
fn sigterm_interrupts_mend_run_like_ctrl_c() {
    let job = "name = \"nap\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"sleep\", args = [\"30\"] }\n";
    assert_eq!(stop_mid_run(&["run"], job, Signal::SIGTERM), 143);
}

#[test]
fn sighup_and_sigterm_stop_the_daemon_mid_run() {
    let job = "name = \"nap\"\nschedule = \"every 1s\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"sleep\", args = [\"30\"] }\n";
    assert_eq!(stop_mid_run(&["daemon", "--jobs"], job, Signal::SIGHUP), 129);
    assert_eq!(stop_mid_run(&["daemon", "--jobs"], job, Signal::SIGTERM), 143);
}
