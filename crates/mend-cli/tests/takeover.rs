//! Taking over a run whose process died (issue 12), found by the red team:
//! budgets go on where they were, a call left running is stopped and said
//! so, a standing answer is journaled as a policy's, a run that cannot go
//! on can be closed, and "run it again" holds only for the call shown.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    c.env("MEND_DATA_DIR", data)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("MEND_MEMORY", data.join("MEMORY.md"))
        .env_remove("MEND_CONFIG")
        .arg("--no-llm")
        .stdin(Stdio::null());
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
}

impl Case {
    fn new(job: &str) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("job.toml"), job).unwrap();
        Case { data: dir.join("data"), dir, _tmp: tmp }
    }

    fn start(&self) -> Child {
        mend(&self.data)
            .args(["run", "--approve", "wait"])
            .arg(self.dir.join("job.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn lines(&self, file: &str) -> usize {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default().lines().count()
    }

    fn run_id(&self) -> String {
        let (_, out, _) = run(mend(&self.data).args(["runs", "--json"]));
        serde_json::from_str::<Value>(&out).unwrap()[0]["run_id"].as_str().unwrap().to_owned()
    }

    fn pending(&self) -> Vec<Value> {
        let (_, out, _) = run(mend(&self.data).args(["approvals", "list", "--json"]));
        serde_json::from_str::<Value>(&out).unwrap().as_array().cloned().unwrap_or_default()
    }

    fn wait_for(&self, what: &str, f: impl Fn(&Case) -> bool) {
        let t0 = Instant::now();
        while !f(self) {
            assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn kill9(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Killed while waiting to retry: the resumed step goes on from the failure
/// it had, with the retries it had left — never more calls than without the
/// crash (here 2: the call and its one retry).
#[test]
fn a_step_killed_during_its_retry_wait_goes_on_with_the_budget_it_had() {
    let c = Case::new(
        "name = \"bo\"\n[[steps]]\nname = \"charge\"\ntool = \"exec\"\nargs = { shell = \"echo charged >> payments.log; exit 1\" }\n\
         retry = { max = 1, base = \"2s\", on = [\"NON_ZERO_EXIT\"] }\n",
    );
    let child = c.start();
    c.wait_for("the first call", |c| c.lines("payments.log") == 1);
    std::thread::sleep(Duration::from_millis(300));
    kill9(child);
    let (code, _, err) = run(mend(&c.data).args(["runs", "resume", &c.run_id(), "--approve", "abort"]));
    assert_eq!(c.lines("payments.log"), 2, "one retry, as without the crash: {err}");
    assert_ne!(code, 0, "{err}");
    let (_, out, _) = run(mend(&c.data).args(["logs", "--kind", "guardrail", "--json"]));
    assert!(out.contains("goes on where it was when Mend stopped"), "{out}");
}

/// Killed while its command runs: the command's process group is stopped by
/// whoever takes the run over, and the person is told so.
#[test]
fn a_call_left_running_by_a_killed_owner_is_stopped_and_the_question_says_so() {
    let c = Case::new(
        "name = \"orph\"\n[[steps]]\nname = \"backup\"\ntool = \"exec\"\n\
         args = { shell = \"echo start >> order.log; sleep 3; echo done >> order.log\" }\n\
         [[steps]]\nname = \"next\"\ntool = \"exec\"\nargs = { shell = \"echo next >> order.log\" }\n",
    );
    let child = c.start();
    c.wait_for("the call to start", |c| c.lines("order.log") == 1);
    kill9(child);
    let (code, _, err) = run(mend(&c.data).args(["runs", "resume", &c.run_id(), "--approve", "wait"]));
    assert_eq!(code, 3, "it asks: {err}");
    let req = c.pending().into_iter().next().expect("an in-doubt request");
    assert_eq!(req["kind"], "in_doubt");
    let what = req["what_happened"].as_str().unwrap();
    assert!(what.contains("was still running without Mend when the run was taken over: stopped "), "{what}");
    let (code, _, err) = run(mend(&c.data).args(["approvals", "decide", req["id"].as_str().unwrap(), "ran"]));
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(3500));
    let order = std::fs::read_to_string(c.dir.join("order.log")).unwrap();
    assert_eq!(order, "start\nnext\n", "the orphan never finished after the takeover");
}

/// `mend runs resume --approve recommended` answering a waiting request is
/// a policy's decision, journaled as such — never as a person's.
#[test]
fn a_standing_answer_on_resume_is_journaled_as_a_policy() {
    let c = Case::new("name = \"attr\"\n[[steps]]\nname = \"destroy\"\ntool = \"exec\"\nargs = { shell = \"rm -rf target\" }\n");
    std::fs::create_dir_all(c.dir.join("target")).unwrap();
    let (code, _, _) = run(mend(&c.data).arg("run").arg(c.dir.join("job.toml")));
    assert_eq!(code, 3);
    let (code, _, err) = run(mend(&c.data).args(["runs", "resume", &c.run_id(), "--approve", "recommended"]));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(mend(&c.data).args(["logs", "--kind", "decision", "--json"]));
    let d: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(d["data"]["decision"]["decided_by"]["by"], "policy", "{d}");
    assert!(!d["message"].as_str().unwrap().contains("a person"), "{d}");
}

/// A decided run whose step was renamed cannot go on: bad input (2) with
/// what to do, and `mend runs close` ends it.
#[test]
fn a_run_that_cannot_go_on_says_what_to_do_and_can_be_closed() {
    let c = Case::new("name = \"rt\"\n[[steps]]\nname = \"destroy\"\ntool = \"exec\"\nargs = { shell = \"rm -rf target\" }\n");
    std::fs::create_dir_all(c.dir.join("target")).unwrap();
    assert_eq!(run(mend(&c.data).arg("run").arg(c.dir.join("job.toml"))).0, 3);
    let id = c.pending()[0]["id"].as_str().unwrap().to_owned();
    let run_id = c.run_id();
    let job = std::fs::read_to_string(c.dir.join("job.toml")).unwrap().replace("\"destroy\"", "\"wipe\"");
    std::fs::write(c.dir.join("job.toml"), job).unwrap();
    // Deciding to go on is refused before anything is stored, with what to do.
    let (code, _, err) = run(mend(&c.data).args(["approvals", "decide", &id, "run"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no step `destroy` any more") && err.contains(&format!("mend runs close {run_id}")), "{err}");
    assert_eq!(c.pending().len(), 1, "nothing was decided");
    // Decided without going on, it waits to be gone on with, and says so.
    assert_eq!(run(mend(&c.data).args(["approvals", "decide", &id, "run", "--no-resume"])).0, 0);
    let (_, out, _) = run(mend(&c.data).arg("runs"));
    assert!(out.contains("decided, not yet gone on with"), "{out}");
    let (code, _, err) = run(mend(&c.data).args(["runs", "resume", &run_id]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("mend runs close {run_id}")), "{err}");
    let (code, _, err) = run(mend(&c.data).args(["runs", "close", &run_id, "--note", "renamed the step"]));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(mend(&c.data).args(["runs", "--json"]));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r[0]["status"], "aborted");
    assert!(r[0]["reason"].as_str().unwrap().contains("renamed the step"), "{r}");
    assert_eq!(r[0]["decided"], 0);
    assert!(c.dir.join("target").exists(), "nothing ran");
    assert_eq!(run(mend(&c.data).args(["runs", "close", &run_id])).0, 2, "closing twice is refused");
}

/// "Run it again" on a call that may have run holds for that call only: a
/// call edited since is asked about again, never run on the old answer.
#[test]
fn run_it_again_holds_only_for_the_call_shown() {
    let c = Case::new("name = \"ed\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { shell = \"echo old >> m.log; sleep 3\" }\n");
    let child = c.start();
    c.wait_for("the call", |c| c.lines("m.log") == 1);
    kill9(child);
    assert_eq!(run(mend(&c.data).args(["runs", "resume", &c.run_id(), "--approve", "wait"])).0, 3);
    let id = c.pending()[0]["id"].as_str().unwrap().to_owned();
    std::fs::write(
        c.dir.join("job.toml"),
        "name = \"ed\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { shell = \"echo NEW >> m.log\" }\n",
    )
    .unwrap();
    let (code, _, err) = run(mend(&c.data).args(["approvals", "decide", &id, "run", "--approve", "wait"]));
    assert_eq!(code, 3, "asked again: {err}");
    assert_eq!(std::fs::read_to_string(c.dir.join("m.log")).unwrap(), "old\n");
    let again = c.pending();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["kind"], "in_doubt");
    assert_ne!(again[0]["id"].as_str().unwrap(), id);
}

/// A prompt at a terminal answered from elsewhere (`mend approvals decide`)
/// stops waiting, says so, and leaves no reader behind: the next prompt of
/// the same run takes the next line typed (issue 12).
#[test]
fn a_prompt_answered_elsewhere_leaves_the_terminal_to_the_next_prompt() {
    use std::io::{Read, Write};
    let c = Case::new(
        "name = \"two\"\n[[steps]]\nname = \"a\"\ntool = \"exec\"\nargs = { shell = \"rm -rf one\" }\n\
         [[steps]]\nname = \"b\"\ntool = \"exec\"\nargs = { shell = \"rm -rf two\" }\n",
    );
    std::fs::create_dir_all(c.dir.join("one")).unwrap();
    std::fs::create_dir_all(c.dir.join("two")).unwrap();
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = |fd: &std::os::fd::OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut child = mend(&c.data)
        .arg("run")
        .arg(c.dir.join("job.toml"))
        .stdin(slave(&pty.slave))
        .stdout(slave(&pty.slave))
        .stderr(slave(&pty.slave))
        .spawn()
        .unwrap();
    drop(pty.slave);
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = screen.clone();
    std::thread::spawn(move || {
        let mut master = master;
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            s2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let prompts = || screen.lock().unwrap().matches("APPROVAL NEEDED").count();
    c.wait_for("the first prompt", |_| prompts() == 1);
    let id = c.pending()[0]["id"].as_str().unwrap().to_owned();
    let (code, _, err) = run(mend(&c.data).args(["approvals", "decide", &id, "run"]));
    assert_eq!(code, 0, "{err}");
    c.wait_for("the second prompt", |_| prompts() == 2);
    assert!(screen.lock().unwrap().contains("decided elsewhere"), "{}", screen.lock().unwrap());
    writer.write_all(b"\n").unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the second prompt never took the answer: {}", screen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", screen.lock().unwrap());
    assert!(!c.dir.join("one").exists() && !c.dir.join("two").exists());
}

/// Killed in its retry wait, then the process that went on killed in the
/// same wait: the step's history reaches back to where it first started, so
/// the third process still makes only the call an uninterrupted run makes.
#[test]
fn two_takeovers_in_a_row_keep_the_budget() {
    let c = Case::new(
        "name = \"bo\"\n[[steps]]\nname = \"charge\"\ntool = \"exec\"\nargs = { shell = \"echo charged >> payments.log; exit 1\" }\n\
         retry = { max = 1, base = \"2s\", on = [\"NON_ZERO_EXIT\"] }\n",
    );
    let child = c.start();
    c.wait_for("the first call", |c| c.lines("payments.log") == 1);
    std::thread::sleep(Duration::from_millis(300));
    kill9(child);
    let run_id = c.run_id();
    let second =
        mend(&c.data).args(["runs", "resume", &run_id, "--approve", "abort"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    kill9(second);
    assert_eq!(c.lines("payments.log"), 1, "the second process was still waiting to retry");
    let (_, _, err) = run(mend(&c.data).args(["runs", "resume", &run_id, "--approve", "abort"]));
    assert_eq!(c.lines("payments.log"), 2, "one retry in all, as without a crash: {err}");
}

/// The step's verify call was the one running at the kill: the question
/// about it is asked without running it again.
#[test]
fn a_verify_call_in_doubt_is_not_run_again_to_answer_about_itself() {
    let c = Case::new(
        "name = \"vd\"\n[[steps]]\nname = \"b\"\ntool = \"exec\"\nargs = { program = \"mkdir\", args = [\"outbox\"] }\n\
         verify = { tool = \"exec\", args = { shell = \"echo v >> verify.log; sleep 3; test -d outbox\" } }\n",
    );
    std::fs::create_dir_all(c.dir.join("outbox")).unwrap();
    let child = c.start();
    c.wait_for("the verify call", |c| c.lines("verify.log") == 1);
    kill9(child);
    let (code, _, err) = run(mend(&c.data).args(["runs", "resume", &c.run_id(), "--approve", "wait"]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(c.lines("verify.log"), 1, "not run again to answer: {err}");
    let req = c.pending().into_iter().next().expect("an in-doubt request");
    assert!(req["diagnosis"].as_str().unwrap().contains("verify call; it was not run again"), "{req}");
}

/// Issue 12, red team: at a takeover only the dead call's own process group
/// is stopped (its members carry its mark); a process it started outside
/// its group (a service, a terminal multiplexer whose later sessions inherit
/// the mark) is named, not killed; the shell the takeover runs from is never
/// touched, whatever its environment says.
#[test]
fn a_takeover_stops_the_calls_group_names_what_left_it_and_spares_its_own_shell() {
    let c = Case::new(
        "name = \"svc\"\n[[steps]]\nname = \"start\"\ntool = \"exec\"\n\
         args = { shell = \"setsid sleep 41 >/dev/null 2>&1 </dev/null & echo $! > svc.pid; echo up >> order.log; sleep 30\" }\n",
    );
    let child = c.start();
    c.wait_for("the call", |c| c.lines("order.log") == 1 && c.dir.join("svc.pid").exists());
    let run_id = c.run_id();
    let lease: Value = serde_json::from_str(&std::fs::read_to_string(c.data.join("runs").join(format!("{run_id}.lock"))).unwrap()).unwrap();
    let mark = lease["child"]["marker"].as_str().expect("the call's mark is in the lease file").to_owned();
    kill9(child);
    let svc: i32 = std::fs::read_to_string(c.dir.join("svc.pid")).unwrap().trim().parse().unwrap();
    // The takeover runs from a shell that carries the dead call's mark.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' --no-llm runs resume {run_id} --approve wait; echo survived", env!("CARGO_BIN_EXE_mend")))
        .env("MEND_CALL", &mark)
        .env("MEND_DATA_DIR", &c.data)
        .env("XDG_CONFIG_HOME", c.data.join("no-config"))
        .env_remove("MEND_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("survived"), "the shell lives: {o:?}");
    let req = c.pending().into_iter().next().expect("an in-doubt request");
    let what = req["what_happened"].as_str().unwrap().to_owned();
    assert!(what.contains("stopped "), "{what}");
    assert!(what.contains(&format!("process {svc}, `sleep 41` still running outside its process group")), "{what}");
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(svc), None).is_ok();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(svc), nix::sys::signal::Signal::SIGKILL);
    assert!(alive, "what left the group on purpose is not killed");
    let (_, out, _) = run(mend(&c.data).args(["approvals", "show", req["id"].as_str().unwrap()]));
    assert!(!out.contains("panicked"));
}
