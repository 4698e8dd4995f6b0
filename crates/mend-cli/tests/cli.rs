//! The real `mend` binary, end to end: runs job files against a loopback
//! fault server, reads the journal back, survives a crash while a request
//! waits, and reports bad input with its place.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mend_faults::{FaultServer, Reply, Script};
use serde_json::Value;

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    // Hermetic: no user config file from the machine running the tests.
    c.env("MEND_DATA_DIR", data).env("XDG_CONFIG_HOME", data.join("no-config")).env_remove("MEND_CONFIG");
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

#[tokio::test]
async fn run_heals_and_reports_json() {
    let server =
        FaultServer::start([("/flaky", Script::new().then(2, Reply::status(503, "busy")).always(Reply::json(200, r#"{"n": 1}"#)))])
            .await
            .unwrap();
    let d = tempfile::tempdir().unwrap();
    let job = d.path().join("sync.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"sync\"\n[[steps]]\nname = \"pull\"\ntool = \"http\"\nargs = {{ url = \"{}\" }}\nretry = {{ base = \"20ms\" }}\n",
            server.url("/flaky")
        ),
    )
    .unwrap();
    let (code, out, err) = tokio::task::spawn_blocking({
        let d = d.path().to_path_buf();
        let job = job.clone();
        move || run(mend(&d.join("data")).arg("run").arg(&job).arg("--json"))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["steps"][0]["status"], "healed");
    let attempts = report["steps"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["action"], "retry_same");
    assert_eq!(attempts[0]["fixing"], "SERVER_ERROR");
    assert!(attempts[1]["duration_ms"].is_u64());
    assert!(err.contains("▶") && err.contains("healed SERVER_ERROR"), "progress lines on stderr: {err}");

    // The journal has it all, and the readers agree with the report.
    let data = d.path().join("data");
    let (code, out, _) = run(mend(&data).args(["logs", "--json", "--kind", "attempt"]));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2);
    let (code, out, _) = run(mend(&data).args(["metrics", "--json"]));
    assert_eq!(code, 0);
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["by_code_action"][0]["attempts"], 2);
    assert_eq!(m["by_code_action"][0]["successes"], 1);
    assert_eq!(m["recovery"]["recovered"], 1);
    let (code, out, _) = run(mend(&data).args(["logs", "--code", "SERVER_ERROR", "--level", "warn"]));
    assert_eq!(code, 0);
    assert!(out.lines().count() >= 2, "{out}");
    let (code, out, _) = run(mend(&data).args(["metrics"]));
    assert_eq!(code, 0);
    assert!(out.contains("SERVER_ERROR") && out.contains("retry_same"), "{out}");
}

#[test]
fn bad_job_files_name_file_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("syntax.toml", "name = \"x\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" \n", "syntax.toml:4:"),
        ("field.toml", "name = \"x\"\n[[steps]]\ntool = \"exec\"\nargz = {}\n", "field.toml:4:1: unknown field `argz`"),
        ("schema.toml", "name = \"x\"\n\n[[steps]]\ntool = \"http\"\nargs = { url = \"ftp://x\" }\n", "schema.toml:5:1: steps[0].args.url"),
        ("tool.toml", "name = \"x\"\n[[steps]]\ntool = \"teleport\"\n", "steps[0].tool: no tool named `teleport`"),
        (
            "env.toml",
            "name = \"x\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"${env:MEND_NOT_SET_ANYWHERE}\" }\n",
            "MEND_NOT_SET_ANYWHERE",
        ),
    ];
    for (file, text, want) in cases {
        std::fs::write(d.path().join(file), text).unwrap();
        let (code, _, err) = run(mend(&d.path().join("data")).arg("run").arg(d.path().join(file)));
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.contains(want), "{file}: want `{want}` in: {err}");
    }
    std::fs::write(d.path().join("bin.toml"), [0xffu8, 0xfe, 0x00, 0x41]).unwrap();
    let (code, _, err) = run(mend(&d.path().join("data")).arg("check").arg(d.path().join("bin.toml")));
    assert_eq!(code, 2);
    assert!(err.contains("bin.toml:1:1: the file is not UTF-8"), "{err}");
    let (code, _, err) = run(mend(&d.path().join("data")).arg("run").arg(d.path().join("missing.toml")));
    assert_eq!(code, 2);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn waiting_requests_survive_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(d.path().join("precious")).unwrap();
    let job = d.path().join("wipe.toml");
    std::fs::write(&job, "name = \"wipe\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"precious\"] }\n")
        .unwrap();
    // Asked on stdin, which nobody answers; then the process dies hard.
    let mut child = mend(&data)
        .arg("run")
        .arg(&job)
        .args(["--approve", "ask"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let pending = loop {
        let (_, out, _) = run(mend(&data).args(["approvals", "list", "--json"]));
        let list: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if list.as_array().is_some_and(|a| !a.is_empty()) {
            break list;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no pending request appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(d.path().join("precious").exists(), "nothing ran before approval");
    let (_, out, _) = run(mend(&data).args(["approvals", "list", "--json"]));
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after, pending, "the pending request is intact after the crash");
    assert_eq!(after[0]["options"][0]["id"], "run");
    assert_eq!(after[0]["recommended"], "run");
    let id = after[0]["id"].as_str().unwrap();
    let (code, out, _) = run(mend(&data).args(["approvals", "show", id]));
    assert_eq!(code, 0);
    assert!(out.contains("rm -rf precious"), "{out}");
}

#[test]
fn approvals_are_answered_on_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("precious")).unwrap();
    let job = d.path().join("wipe.toml");
    std::fs::write(&job, "name = \"wipe\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"precious\"] }\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    let mut child = mend(&d.path().join("data"))
        .arg("run")
        .arg(&job)
        .args(["--approve", "ask", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Option 2 is "skip", with instructions after it.
    child.stdin.take().unwrap().write_all(b"2 not during business hours\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("APPROVAL NEEDED") && err.contains("← recommended"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"][0]["status"], "skipped");
    assert_eq!(report["steps"][1]["status"], "succeeded");
    let decision = &report["steps"][0]["escalations"][0]["decision"];
    assert_eq!(decision["option"], "skip");
    assert_eq!(decision["instructions"], "not during business hours");
    assert_eq!(decision["decided_by"]["by"], "person");
    assert!(d.path().join("precious").exists());
}

#[test]
fn no_terminal_means_wait_and_exit_3() {
    let d = tempfile::tempdir().unwrap();
    let job = d.path().join("j.toml");
    std::fs::write(&job, "name = \"j\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"exit 1\" }\n").unwrap();
    let (code, _, err) = run(mend(&d.path().join("data")).arg("run").arg(&job).stdin(Stdio::null()));
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run(mend(&d.path().join("data")).arg("run").arg(&job).args(["--approve", "abort"]));
    assert_eq!(code, 1, "a standing abort is a failure, not a person's refusal: {err}");
}

#[test]
fn permission_denied_as_nobody() {
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("secret.txt");
    std::fs::write(&secret, "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let job = d.path().join("j.toml");
    std::fs::write(&job, "name = \"j\"\n[[steps]]\ntool = \"fs\"\nargs = { op = \"read\", path = \"secret.txt\" }\n").unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for p in [d.path(), &data, &job] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        // Root reads everything: drop to `nobody` for this run.
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        // `nobody` may not reach the build folder (a checkout under /root):
        // run a copy of the binary from the world-readable temp folder.
        let bin = d.path().join("mend");
        std::fs::copy(env!("CARGO_BIN_EXE_mend"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .env("MEND_DATA_DIR", &data)
            .env("XDG_CONFIG_HOME", d.path().join("no-config"))
            .env_remove("MEND_CONFIG");
        c
    } else {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
        mend(&data)
    };
    let (code, out, err) = run(cmd.arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["steps"][0]["final_outcome"]["code"], "PERMISSION_DENIED", "{out}");
    assert_eq!(report["steps"][0]["attempts"].as_array().unwrap().len(), 0, "not retried");
}

#[test]
fn the_demo_heals_every_step() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) =
        run(mend(&d.path().join("data")).args(["demo", "--json", "--approve", "recommended", "--workdir"]).arg(d.path().join("w")));
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<&str> = report["steps"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["healed", "healed", "healed", "healed", "verified", "succeeded"]);
    assert!(!d.path().join("w/staging").exists(), "the approved cleanup ran");
    let report_step = |r: &Value| r["steps"][2]["attempts"].as_array().unwrap().clone();
    let first = report_step(&report);
    assert_eq!(first.len(), 3, "the dead service: retry, retry, mirror: {first:#?}");
    let learned = report["lessons"].as_array().unwrap().iter().find(|n| n["change"] == "learned").expect("a lesson learned").clone();
    assert!(err.contains("✎ learned lesson"), "{err}");

    // The same demo again: the lesson sends the dead service's step straight to the mirror.
    let (code, out, err) =
        run(mend(&d.path().join("data")).args(["demo", "--json", "--approve", "recommended", "--workdir"]).arg(d.path().join("w2")));
    assert_eq!(code, 0, "{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    let second = report_step(&again);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!((second[0]["layer"].as_str(), second[0]["lesson"].as_str()), (Some("lesson"), learned["id"].as_str()));
    assert!(again["attempts"].as_u64() < report["attempts"].as_u64(), "{} then {}", report["attempts"], again["attempts"]);
    // The journal has every lesson event of both runs.
    let (code, out, _) = run(mend(&d.path().join("data")).args(["logs", "--kind", "lesson", "--json"]));
    assert_eq!(code, 0);
    let ids: Vec<Value> = out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["data"]["lesson"].clone()).collect();
    assert_eq!(ids.iter().filter(|id| **id == learned["id"]).count(), 2, "learned, then confirmed: {out}");
}

#[test]
fn output_into_a_closed_pipe_does_not_panic() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    // Another test's child may hold the read end for an instant (between
    // its fork and exec), letting the small output through: try a few times.
    let mut sigpipe = false;
    for _ in 0..10 {
        let mut child = mend(&d.path().join("data")).arg("codes").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // like `mend codes | head -0`
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        if out.status.signal() == Some(13) {
            sigpipe = true;
            break;
        }
    }
    assert!(sigpipe, "ended by SIGPIPE like any Unix tool");
}

#[test]
fn ctrl_c_ends_the_run_its_processes_and_keeps_the_journal() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let job = d.path().join("slow.toml");
    std::fs::write(&job, "name = \"slow\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"sleep 60 & echo $! > bg.pid; sleep 60\" }\n")
        .unwrap();
    let child = mend(&data).arg("run").arg(&job).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let pidfile = d.path().join("bg.pid");
    let t0 = Instant::now();
    while std::fs::read_to_string(&pidfile).map(|s| s.trim().is_empty()).unwrap_or(true) {
        assert!(t0.elapsed() < Duration::from_secs(20), "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let bg: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let state = std::fs::read_to_string(format!("/proc/{bg}/stat")).unwrap_or_default();
    assert!(state.is_empty() || state.rsplit(')').next().unwrap().trim_start().starts_with('Z'), "background child {bg} survived: {state}");
    let (_, out, _) = run(mend(&data).args(["logs", "--json", "--kind", "run_finished"]));
    let last: Value = serde_json::from_str(out.lines().last().expect("a run_finished event")).unwrap();
    assert_eq!(last["data"]["status"], "interrupted");
    let (_, out, _) = run(mend(&data).args(["logs", "--json", "--kind", "step_started"]));
    assert_eq!(out.lines().count(), 1, "events before the interrupt are kept");
}

#[test]
fn the_config_file_adds_rules_to_every_job() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.toml");
    std::fs::write(
        &config,
        "secrets = [\"MEND_CFG_SECRET\"]\n[safety]\ndestructive = ['\\bpurge\\b']\n[approval]\non_timeout = \"abort\"\n",
    )
    .unwrap();
    let job = d.path().join("j.toml");
    std::fs::write(&job, "name = \"j\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"echo purge ${env:MEND_CFG_SECRET} > purged\" }\n")
        .unwrap();
    let (code, out, err) = run(mend(&d.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("MEND_CFG_SECRET", "hunter2-but-longer")
        .arg("run")
        .arg(&job)
        .args(["--json", "--approve", "abort"]));
    assert_eq!(code, 1, "{err}");
    assert!(!d.path().join("purged").exists(), "the config's destructive pattern held the call");
    assert!(out.contains("not approved"), "{out}");
    let (_, logs, _) = run(mend(&d.path().join("data")).args(["logs", "--json"]));
    assert!(!logs.contains("hunter2-but-longer") && !err.contains("hunter2-but-longer"), "the config's secret is redacted");

    std::fs::write(&config, "[approval]\ntimeout = \"whenever\"\n").unwrap();
    let (code, _, err) = run(mend(&d.path().join("data")).arg("--config").arg(&config).arg("check").arg(&job));
    assert_eq!(code, 2);
    assert!(err.contains("config.toml:2:11: approval.timeout"), "{err}");
    let (code, _, err) = run(mend(&d.path().join("data")).arg("--config").arg(d.path().join("nope.toml")).arg("check").arg(&job));
    assert_eq!(code, 2);
    assert!(err.contains("nope.toml"), "{err}");
}

fn pending_ids(data: &Path) -> Vec<String> {
    let (_, out, _) = run(mend(data).args(["approvals", "list", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_waiting_run_is_decided_and_resumed_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(d.path().join("old")).unwrap();
    let job = d.path().join("clean.toml");
    std::fs::write(
        &job,
        "name = \"clean\"\n[[steps]]\nname = \"prep\"\ntool = \"exec\"\nargs = { shell = \"echo run >> prep.log\" }\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"old\"] }\n[[steps]]\nname = \"after\"\ntool = \"exec\"\nargs = { shell = \"touch done\" }\n",
    )
    .unwrap();
    let (code, _, err) = run(mend(&data).arg("run").arg(&job).args(["--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    let ids = pending_ids(&data);
    assert_eq!(ids.len(), 1);

    // Bad decisions are refused with what would be valid.
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "yolo"]));
    assert_eq!(code, 2);
    assert!(err.contains("run (Run it), skip (Skip this step), abort (Abort the job)"), "{err}");
    let (code, _, _) = run(mend(&data).args(["approvals", "decide", "no-such-id", "run"]));
    assert_eq!(code, 2);

    let (code, out, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "run", "--note", "after hours", "--json"]));
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<&str> = report["steps"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["not_run", "succeeded", "succeeded"], "resumed at the waiting step");
    assert!(!d.path().join("old").exists() && d.path().join("done").exists());
    assert_eq!(std::fs::read_to_string(d.path().join("prep.log")).unwrap(), "run\n", "earlier steps are not run again");
    assert!(pending_ids(&data).is_empty());
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "run"]));
    assert_eq!(code, 2, "deciding twice is refused");
    assert!(err.contains("already decided"), "{err}");
    let (_, out, _) = run(mend(&data).args(["approvals", "show", &ids[0]]));
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["decision"]["instructions"], "after hours");
    assert_eq!(shown["decision"]["decided_by"]["by"], "person");
    let (_, out, _) = run(mend(&data).args(["metrics", "--json"]));
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["runs"], serde_json::json!([["succeeded", 1]]), "one run, finished after the resume");
    assert_eq!(m["escalations"]["by_decider"], serde_json::json!([["person", 1]]));
}

/// Regression (issue 11 red team): an approval of `rm -rf "$TARGET"` given
/// while TARGET named `./build` must not run it for another TARGET when the
/// run resumes in the decider's environment: the gate reads the call again
/// and asks anew.
#[test]
fn an_approval_holds_only_for_the_command_the_gate_showed() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    for dir in ["build", "precious"] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
    }
    let job = d.path().join("clean.toml");
    std::fs::write(&job, "name = \"clean\"\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { shell = 'rm -rf \"$TARGET\"' }\n")
        .unwrap();
    let (code, _, err) = run(mend(&data).env("TARGET", "build").arg("run").arg(&job).args(["--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    let ids = pending_ids(&data);
    assert_eq!(ids.len(), 1);
    let (_, out, _) = run(mend(&data).args(["approvals", "show", &ids[0]]));
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["request"]["danger"]["command"], "rm -rf build", "{out}");
    assert_eq!(shown["request"]["danger"]["rule"], "rm -r");

    // Decided from a shell where TARGET names something else: it asks again.
    let (code, _, err) = run(mend(&data).env("TARGET", "precious").args(["approvals", "decide", &ids[0], "run", "--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    assert!(d.path().join("precious").exists(), "the approval for `build` ran on `precious`");
    let again = pending_ids(&data);
    assert_eq!(again.len(), 1, "a new request for the new command");
    let (_, out, _) = run(mend(&data).args(["approvals", "show", &again[0]]));
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["request"]["danger"]["command"], "rm -rf precious", "{out}");

    // The same environment as shown: it runs.
    let (code, _, err) = run(mend(&data).env("TARGET", "build").args(["approvals", "decide", &again[0], "skip"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(mend(&data).env("TARGET", "build").arg("run").arg(&job).args(["--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    let ids = pending_ids(&data);
    let (code, _, err) = run(mend(&data).env("TARGET", "build").args(["approvals", "decide", &ids[0], "run"]));
    assert_eq!(code, 0, "{err}");
    assert!(!d.path().join("build").exists() && d.path().join("precious").exists());
}

#[test]
fn deciding_abort_or_skip_resumes_accordingly() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(d.path().join("keep")).unwrap();
    let job = d.path().join("j.toml");
    std::fs::write(
        &job,
        "name = \"j\"\n[[steps]]\nname = \"check\"\ntool = \"exec\"\nargs = { shell = \"exit 1\" }\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { shell = \"rm -rf keep\" }\n",
    )
    .unwrap();
    run(mend(&data).arg("run").arg(&job).args(["--approve", "wait"]));
    let ids = pending_ids(&data);
    // The failing step is skipped; the next one asks before it deletes.
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "skip", "--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    let ids = pending_ids(&data);
    assert_eq!(ids.len(), 1);
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "abort"]));
    assert_eq!(code, 3, "a person's refusal: {err}");
    assert!(d.path().join("keep").exists());
    assert!(pending_ids(&data).is_empty());
}

#[test]
fn an_approval_holds_only_for_the_call_that_was_shown() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(d.path().join("a")).unwrap();
    std::fs::create_dir_all(d.path().join("b")).unwrap();
    let job = d.path().join("j.toml");
    std::fs::write(
        &job,
        "name = \"j\"\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"a\"] }\n",
    )
    .unwrap();
    run(mend(&data).arg("run").arg(&job).args(["--approve", "wait"]));
    let ids = pending_ids(&data);
    // The job file changes while the request waits.
    std::fs::write(
        &job,
        "name = \"j\"\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"b\"] }\n",
    )
    .unwrap();
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &ids[0], "run", "--approve", "wait"]));
    assert_eq!(code, 3, "the changed call is asked about again: {err}");
    assert!(d.path().join("a").exists() && d.path().join("b").exists());
    let again = pending_ids(&data);
    assert_eq!(again.len(), 1);
    let (_, out, _) = run(mend(&data).args(["approvals", "show", &again[0]]));
    assert!(out.contains("rm -rf b"), "{out}");
}

#[test]
fn runs_lists_runs_with_their_waiting_requests() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let ok = d.path().join("ok.toml");
    std::fs::write(&ok, "name = \"fine\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    let wait = d.path().join("wait.toml");
    std::fs::write(&wait, "name = \"stuck\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"exit 1\" }\n").unwrap();
    assert_eq!(run(mend(&data).arg("run").arg(&ok)).0, 0);
    assert_eq!(run(mend(&data).arg("run").arg(&wait).args(["--approve", "wait"])).0, 3);
    let (code, out, _) = run(mend(&data).args(["runs", "--json"]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows: Vec<(&str, &str, i64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["job"].as_str().unwrap(), r["status"].as_str().unwrap(), r["pending_approvals"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, [("stuck", "waiting", 1), ("fine", "succeeded", 0)]);
    let (_, text, _) = run(mend(&data).arg("runs"));
    assert!(text.contains("1 waiting"), "{text}");
}

#[test]
fn the_daemon_runs_a_folder_of_jobs_on_their_schedules() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let jobs = d.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("tick.toml"),
        "name = \"tick\"\nschedule = \"every 1s\"\n[[steps]]\ntool = \"exec\"\nargs = { shell = \"echo tick >> ticks\" }\n",
    )
    .unwrap();
    std::fs::write(jobs.join("broken.toml"), "name = \"broken\"\nschedule = \"sometimes\"\n[[steps]]\ntool = \"exec\"\n").unwrap();
    std::fs::write(jobs.join("manual.toml"), "name = \"manual\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    let t0 = Instant::now();
    let (code, _, err) = run(mend(&data).args(["daemon", "--max-runs", "2", "--jobs"]).arg(&jobs));
    assert_eq!(code, 0, "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(1900), "an interval job first runs one interval after start");
    assert_eq!(std::fs::read_to_string(jobs.join("ticks")).unwrap(), "tick\ntick\n");
    assert!(err.contains("broken.toml:2:12: schedule:"), "{err}");
    assert!(err.contains("manual.toml has no `schedule`"), "{err}");
    let (_, out, _) = run(mend(&data).args(["runs", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v.as_array().unwrap().iter().all(|r| r["status"] == "succeeded" && r["job"] == "tick"));
}

#[test]
fn a_remembered_decision_answers_later_requests_until_forgotten() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let job = d.path().join("j.toml");
    std::fs::write(
        &job,
        "name = \"lint\"\n[[steps]]\nname = \"lint\"\ntool = \"exec\"\nargs = { shell = \"echo style >&2; exit 1\" }\n[[steps]]\nname = \"after\"\ntool = \"exec\"\nargs = { shell = \"echo ran >> after.log\" }\n",
    )
    .unwrap();
    assert_eq!(run(mend(&data).arg("run").arg(&job).args(["--approve", "wait"])).0, 3);
    let ids = pending_ids(&data);
    let (code, _, err) =
        run(mend(&data).args(["approvals", "decide", &ids[0], "skip", "--remember", "failure", "--note", "lint is advisory"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("NON_ZERO_EXIT on exec"), "{err}");

    // The next run meets the same failure: answered without asking, and the journal says so.
    let (code, out, err) = run(mend(&data).arg("run").arg(&job).args(["--approve", "wait", "--json"]));
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["steps"][0]["status"], "skipped");
    let by = &report["steps"][0]["escalations"][0]["decision"]["decided_by"];
    assert_eq!(by["by"], "policy");
    assert!(by["rule"].as_str().unwrap().starts_with("remembered rule-"), "{by}");
    assert!(pending_ids(&data).is_empty());
    assert_eq!(std::fs::read_to_string(d.path().join("after.log")).unwrap(), "ran\nran\n");

    let (_, out, _) = run(mend(&data).args(["approvals", "rules", "--json"]));
    let rules: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 1);
    assert_eq!(rules[0]["scope"], "failure");
    assert_eq!(rules[0]["code"], "NON_ZERO_EXIT");
    let rule_id = rules[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(run(mend(&data).args(["approvals", "forget", &rule_id])).0, 0);
    assert_eq!(run(mend(&data).args(["approvals", "forget", &rule_id])).0, 2, "forgetting twice is an error");
    assert_eq!(run(mend(&data).arg("run").arg(&job).args(["--approve", "wait"])).0, 3, "asked again once forgotten");
}

#[test]
fn deciding_a_request_another_process_waits_on_does_not_run_it_twice() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(d.path().join("old")).unwrap();
    let job = d.path().join("wipe.toml");
    std::fs::write(
        &job,
        "name = \"wipe\"\n[[steps]]\nname = \"wipe\"\ntool = \"exec\"\nargs = { program = \"rm\", args = [\"-rf\", \"old\"] }\n",
    )
    .unwrap();
    // A run waiting on its prompt (as the desktop app waits on its popup).
    let mut asking = mend(&data)
        .arg("run")
        .arg(&job)
        .args(["--approve", "ask", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let id = loop {
        if let Some(id) = pending_ids(&data).pop() {
            break id;
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "no request");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (code, out, err) = run(mend(&data).args(["approvals", "decide", &id, "run"]));
    assert_eq!(code, 0, "{err}");
    // The live owner reads the decision from the journal and goes on with
    // it (issue 12); the decider does not run it a second time.
    assert!(err.contains("goes on with it in live pid"), "{err}");
    assert!(out.is_empty(), "no second run: {out}");
    let status = asking.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the waiting run went on and succeeded");
    assert!(!d.path().join("old").exists(), "the approved command ran, in the owner");
    let (_, out, _) = run(mend(&data).args(["logs", "--kind", "decision", "--json"]));
    assert_eq!(out.lines().filter(|l| l.contains("\"decision\"")).count(), 1, "one decision: {out}");
    let (_, out, _) = run(mend(&data).args(["metrics", "--json"]));
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["runs"], serde_json::json!([["succeeded", 1]]), "one run, ended once");
}

#[test]
fn memory_lessons_are_added_searched_edited_checked_and_removed() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let m = |args: &[&str]| run(mend(&data).arg("memory").args(args));
    // First use writes the starter lessons.
    let (code, out, err) = m(&["search", "rate limit"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("http-rate-limit (HTTP services:"), "{out}");
    let (code, _, err) = m(&[
        "add",
        "--section",
        "shop API",
        "--id",
        "shop-5xx",
        "--text",
        "The shop API returns 502 during its nightly deploy",
        "--tool",
        "http",
        "--code",
        "server_error",
        "--match",
        "api.shop.example",
        "--fix",
        "retry_same",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = m(&["search", "nightly deploy", "--json"]);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "shop-5xx");
    assert_eq!(first["when"]["code"], "SERVER_ERROR");
    let (code, _, err) = m(&["edit", "shop-5xx", "--fix", "use_alternative"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(data.join("MEMORY.md")).unwrap().contains("  - fix: use_alternative\n  - id: shop-5xx\n"));
    let (code, _, _) = m(&["check"]);
    assert_eq!(code, 0);
    // A contradiction is found, with the line.
    m(&[
        "add",
        "--section",
        "shop API",
        "--text",
        "retry it",
        "--tool",
        "http",
        "--code",
        "SERVER_ERROR",
        "--match",
        "api.shop.example",
        "--fix",
        "retry_same",
    ]);
    let (code, out, _) = m(&["check"]);
    assert_eq!(code, 1);
    assert!(out.contains("MEMORY.md:") && out.contains("contradicts lesson shop-5xx"), "{out}");
    // An edit made in another editor shows up in search.
    let file = data.join("MEMORY.md");
    let text = std::fs::read_to_string(&file).unwrap().replace("nightly deploy", "weekly migration");
    std::fs::write(&file, text).unwrap();
    let (_, out, _) = m(&["search", "weekly migration"]);
    assert!(out.starts_with("shop-5xx"), "{out}");
    // Bad input names what is wrong.
    let (code, _, err) = m(&["add", "--section", "x", "--text", "t", "--fix", "retrry"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown action `retrry`"), "{err}");
    let (code, _, err) = m(&["rm", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no lesson `nope`"), "{err}");
    let (code, _, _) = m(&["rm", "shop-5xx"]);
    assert_eq!(code, 0);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("shop-5xx"));
}

#[tokio::test]
async fn a_model_given_by_flags_heals_what_the_policy_cannot_and_no_llm_turns_it_off() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("q4-export.csv"), "sku,qty\n").unwrap();
    let reply = format!(
        "{{\"action\": \"retry_modified\", \"root_cause\": \"the export is q4-export.csv\", \"modified_args\": {{\"args\": [\"{}/q4-export.csv\"]}}}}",
        d.path().display()
    );
    let body = serde_json::json!({"choices": [{"message": {"content": reply}}], "usage": {"prompt_tokens": 300, "completion_tokens": 30}});
    let server = FaultServer::start([("/v1/chat/completions", Script::new().always(Reply::json(200, &body.to_string())))]).await.unwrap();
    let job = d.path().join("report.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"report\"\n[[steps]]\nname = \"read\"\ntool = \"exec\"\nargs = {{ program = \"cat\", args = [\"{}/input.txt\"] }}\n",
            d.path().display()
        ),
    )
    .unwrap();
    let url = server.url("/v1");
    let go = |extra: Vec<String>| {
        let (d, job) = (d.path().to_path_buf(), job.clone());
        tokio::task::spawn_blocking(move || {
            run(mend(&d.join("data")).arg("run").arg(&job).args(["--json", "--approve", "abort"]).args(extra))
        })
    };
    let (code, out, err) = go(vec!["--llm-base-url".into(), url.clone(), "--llm-model".into(), "local".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["steps"][0]["attempts"][0]["layer"], "llm", "{out}");
    assert_eq!(report["tokens"], 330);
    assert!(err.contains("[llm]"), "the diagnosis line names the layer: {err}");
    // The model's fix was learned: the next run heals from the lesson, the model not asked.
    let (code, out, err) = go(vec!["--llm-base-url".into(), url, "--llm-model".into(), "local".into(), "--no-llm".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["steps"][0]["attempts"][0]["layer"], "lesson", "{out}");
    assert_eq!(server.hits("/v1/chat/completions"), 1);
    let memory = std::fs::read_to_string(d.path().join("data/MEMORY.md")).unwrap();
    assert!(memory.contains(&format!("\"{}/input.txt\"", d.path().display())), "the lesson is for that file only: {memory}");
    let (code, _, err) = go(vec!["--llm-provider".into(), "gemini".into()]).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("--llm-provider: `gemini`"), "{err}");
}

#[test]
fn run_and_daemon_read_and_learn_into_the_memory_file_the_flag_names() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let other = d.path().join("other.md");
    let from_env = d.path().join("env.md");
    // A lesson only this file has: the policy alone would bring the failure to a person.
    std::fs::write(
        &other,
        "## Shell commands\n\n- `false` never works here; `true` does.\n  - when: `exec` `NON_ZERO_EXIT` \"false\"\n  \
         - fix: retry_modified `{\"program\": \"true\"}`\n  - id: false-means-true\n",
    )
    .unwrap();
    let jobs = d.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    let job = jobs.join("job.toml");
    std::fs::write(
        &job,
        "name = \"j\"\nschedule = \"every 1s\"\n[[steps]]\nname = \"go\"\ntool = \"exec\"\nargs = { program = \"false\" }\n",
    )
    .unwrap();
    // The flag wins over MEND_MEMORY.
    let mend_env = || {
        let mut c = mend(&data);
        c.env("MEND_MEMORY", &from_env);
        c
    };
    let (code, out, err) = run(mend_env().arg("run").arg("--memory").arg(&other).arg(&job).args(["--json", "--approve", "abort"]));
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let attempt = &report["steps"][0]["attempts"][0];
    assert_eq!((&attempt["layer"], &attempt["lesson"]), (&Value::from("lesson"), &Value::from("false-means-true")), "{out}");
    let seen = |n: u32| std::fs::read_to_string(&other).unwrap().contains(&format!("  - seen: {n} · "));
    assert!(seen(1), "the run learned into the flag's file: {}", std::fs::read_to_string(&other).unwrap());
    assert!(!data.join("MEMORY.md").exists() && !from_env.exists(), "the other memory files are left alone");

    let (code, _, err) = run(mend_env().args(["daemon", "--max-runs", "1", "--memory"]).arg(&other).arg("--jobs").arg(&jobs));
    assert_eq!(code, 0, "{err}");
    assert!(seen(2), "the daemon's run too: {}", std::fs::read_to_string(&other).unwrap());
    assert!(!data.join("MEMORY.md").exists() && !from_env.exists(), "the other memory files are left alone");

    // Without the flag, MEND_MEMORY's file (the starter lessons): nothing heals it.
    let before = std::fs::read(&other).unwrap();
    let (code, _, err) = run(mend_env().arg("run").arg(&job).args(["--approve", "abort"]));
    assert_eq!(code, 1, "{err}");
    assert!(from_env.exists() && !data.join("MEMORY.md").exists());
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn the_job_format_says_what_the_tools_and_codes_do() {
    let d = tempfile::tempdir().unwrap();
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/job-format.md")).unwrap();
    // `detect_body_errors`: the http schema's text is the doc's, without the backticks.
    let (code, out, err) = run(mend(d.path()).args(["tools", "--json"]));
    assert_eq!(code, 0, "{err}");
    let tools: Value = serde_json::from_str(&out).unwrap();
    assert!(tools["read_logs"]["schema"]["properties"]["server"].is_object(), "read_logs is a tool a job can call: {out}");
    let schema_text = tools["http"]["schema"]["properties"]["detect_body_errors"]["description"].as_str().unwrap();
    let cell = doc.split("`detect_body_errors` (").nth(1).and_then(|s| s.split(") |").next()).unwrap();
    assert_eq!(cell.replace('`', ""), schema_text);
    // The codes retried by default are the retryable ones of `mend codes`.
    let (code, out, err) = run(mend(d.path()).args(["codes", "--markdown"]));
    assert_eq!(code, 0, "{err}");
    let retryable: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 4 && cells[3] == "true").then(|| cells[1].trim_matches('`'))
        })
        .collect();
    let said = doc.split("The codes retried by default are").nth(1).and_then(|s| s.split("Every other code").next()).unwrap();
    let listed: Vec<&str> = said.split('`').filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')).collect();
    assert!(!retryable.is_empty());
    assert_eq!(listed, retryable);
}
