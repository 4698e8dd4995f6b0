//! `mend hook claude`, end to end: the real binary fed the JSON Claude Code
//! sends to its hooks (the hooks reference's schema), a real journal, and
//! the answers it prints — a destructive Bash command held and asked about,
//! a benign one left alone, a remembered decision, a decision made while
//! the hook waits or after it gave up, a failure's diagnosis and lessons,
//! bad input, and the settings `--install` prints and merges.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    // Hermetic: no user config file, memory or name from the machine running the tests.
    c.env("MEND_DATA_DIR", data)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("USER", "tester")
        .env_remove("MEND_CONFIG")
        .env_remove("MEND_MEMORY");
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// `mend hook claude ARGS` started with `input` on its stdin (closed after it).
fn spawn_hook(data: &Path, args: &[&str], input: &str) -> Child {
    let mut child =
        mend(data).args(["hook", "claude"]).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child
}

fn hook(data: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    let Output { status, stdout, stderr } = spawn_hook(data, args, input).wait_with_output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// What Claude Code sends before it runs `tool` (PreToolUse).
fn pre(cwd: &Path, tool: &str, input: Value, tool_use_id: &str) -> String {
    json!({
        "session_id": "abc123",
        "transcript_path": "/home/me/.claude/projects/p/abc123.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": tool_use_id
    })
    .to_string()
}

/// The PreToolUse answer: (permissionDecision, permissionDecisionReason).
fn decision(out: &str) -> (String, String) {
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let h = &v["hookSpecificOutput"];
    assert_eq!(h["hookEventName"], "PreToolUse", "{v}");
    (h["permissionDecision"].as_str().unwrap().to_owned(), h["permissionDecisionReason"].as_str().unwrap().to_owned())
}

fn pending(data: &Path) -> Vec<Value> {
    let (code, out, err) = run(mend(data).args(["approvals", "list", "--json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Vec<Value>>(&out).unwrap()
}

/// A working folder with a `build` folder in it.
fn workdir(d: &Path) -> std::path::PathBuf {
    let cwd = d.join("project");
    std::fs::create_dir_all(cwd.join("build")).unwrap();
    std::fs::write(cwd.join("build/out.o"), "x").unwrap();
    cwd
}

#[test]
fn a_destructive_command_is_held_and_a_remembered_decision_then_allows_it() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    let rm = json!({"command": "rm -rf build", "description": "Remove the build folder"});

    let (code, out, err) = hook(&data, &["--wait", "1s"], &pre(&cwd, "Bash", rm.clone(), "toolu_01"));
    assert_eq!(code, 0, "{err}");
    let (what, reason) = decision(&out);
    assert_eq!(what, "ask");
    let list = pending(&data);
    assert_eq!(list.len(), 1, "{list:?}");
    let req = &list[0];
    let id = req["id"].as_str().unwrap();
    assert!(reason.contains(id) && reason.contains(&format!("mend approvals decide {id}")), "{reason}");
    assert!(reason.contains("rm -r"), "the gate's rule is named: {reason}");
    assert_eq!(req["agent"], "claude-code");
    assert_eq!((req["job"].as_str(), req["step"].as_str(), req["kind"].as_str()), (Some("claude-code"), Some("Bash"), Some("before_run")));
    assert!(req["title"].as_str().unwrap().starts_with("claude-code: "), "{req}");
    assert_eq!(req["danger"]["category"], "bulk_deletion");
    assert!(cwd.join("build").exists(), "the hook runs nothing");

    let (code, _, err) = run(mend(&data).args(["approvals", "decide", id, "run", "--remember", "job"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Remembered as rule-"), "{err}");

    // The same call again (Claude Code words it differently): the rule answers, nobody is asked.
    let again = json!({"command": "rm -rf build", "description": "Clean the build output", "timeout": 120000});
    let (code, out, err) = hook(&data, &["--wait", "1s"], &pre(&cwd, "Bash", again, "toolu_02"));
    assert_eq!(code, 0, "{err}");
    let (what, reason) = decision(&out);
    assert_eq!(what, "allow", "{reason}");
    assert!(reason.contains("remembered rule-"), "names the rule: {reason}");
    assert!(pending(&data).is_empty(), "no new pending request");

    // Every run is journaled as agent claude-code.
    let (code, out, _) = run(mend(&data).args(["logs", "--agent", "claude-code", "--json", "--kind", "run_finished"]));
    assert_eq!(code, 0);
    let runs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(runs.len(), 2, "{out}");
    assert!(runs.iter().all(|e| e["agent"] == "claude-code" && e["job"] == "claude-code"), "{out}");
    assert_eq!(runs[0]["run_id"], "cc-toolu_01");
    assert_eq!((runs[0]["data"]["status"].as_str(), runs[1]["data"]["status"].as_str()), (Some("waiting"), Some("succeeded")));
    let (_, out, _) = run(mend(&data).args(["logs", "--agent", "someone-else", "--json"]));
    assert!(out.trim().is_empty(), "{out}");
}

#[test]
fn a_benign_call_gets_no_opinion() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    std::fs::write(cwd.join("notes.txt"), "old").unwrap();
    let rows = [
        ("Bash", json!({"command": "ls -la build", "description": "List"})),
        ("Bash", json!({"command": "cargo test 2>&1 | tail -5"})),
        ("Edit", json!({"file_path": cwd.join("notes.txt"), "old_string": "old", "new_string": "new"})),
        // Replacing a file asks only at the strict level.
        ("Write", json!({"file_path": cwd.join("notes.txt"), "content": "new"})),
        ("Read", json!({"file_path": cwd.join("notes.txt")})),
    ];
    for (i, (tool, input)) in rows.into_iter().enumerate() {
        let (code, out, err) = hook(&data, &["--wait", "1s"], &pre(&cwd, tool, input.clone(), &format!("toolu_b{i}")));
        assert_eq!((code, out.as_str()), (0, ""), "{tool} {input}: {err}");
    }
    assert!(pending(&data).is_empty());
    let (_, out, _) = run(mend(&data).args(["logs", "--agent", "claude-code", "--json", "--kind", "run_finished"]));
    assert_eq!(out.lines().count(), 5, "each call is a run: {out}");
}

#[test]
fn a_write_over_an_existing_file_is_held_at_the_strict_level() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    std::fs::write(cwd.join("notes.txt"), "old").unwrap();
    let config = d.path().join("config.toml");
    std::fs::write(&config, "[safety]\nlevel = \"strict\"\n").unwrap();
    let config = config.display().to_string();
    let write = |name: &str, id: &str| pre(&cwd, "Write", json!({"file_path": cwd.join(name), "content": "new text"}), id);

    let (code, out, err) = hook(&data, &["--config", &config, "--wait", "1s"], &write("notes.txt", "toolu_w1"));
    assert_eq!(code, 0, "{err}");
    let (what, reason) = decision(&out);
    assert_eq!(what, "ask");
    assert!(reason.contains("replaces the existing file"), "{reason}");
    assert_eq!(pending(&data)[0]["call"], format!("write {}", cwd.join("notes.txt").display()));
    assert_eq!(std::fs::read_to_string(cwd.join("notes.txt")).unwrap(), "old");

    // A new file replaces nothing.
    let (code, out, err) = hook(&data, &["--config", &config, "--wait", "1s"], &write("fresh.txt", "toolu_w2"));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}

#[test]
fn a_decision_made_while_the_hook_waits_answers_it() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    // (option, what Claude Code is told, words in the reason)
    let rows = [("run", "allow", "tester approved it"), ("skip", "deny", "go on without it"), ("abort", "deny", "stop, and ask the user")];
    for (i, (option, answer, words)) in rows.into_iter().enumerate() {
        let cwd = workdir(&d.path().join(format!("p{i}")));
        let t0 = Instant::now();
        let child = spawn_hook(&data, &["--wait", "20s"], &pre(&cwd, "Bash", json!({"command": "rm -rf build"}), &format!("toolu_d{i}")));
        let id = loop {
            if let Some(r) = pending(&data).into_iter().find(|r| r["run_id"] == format!("cc-toolu_d{i}")) {
                break r["id"].as_str().unwrap().to_owned();
            }
            assert!(t0.elapsed() < Duration::from_secs(15), "no request appeared");
            std::thread::sleep(Duration::from_millis(100));
        };
        // From another process, as the desktop app or a terminal would.
        let (code, _, err) = run(mend(&data).args(["approvals", "decide", &id, option, "--note", "decided in the test"]));
        assert_eq!(code, 0, "{option}: {err}");
        let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(0), "{}", String::from_utf8_lossy(&stderr));
        assert!(t0.elapsed() < Duration::from_secs(15), "answered when decided, not at the end of the wait");
        let (what, reason) = decision(&String::from_utf8_lossy(&stdout));
        assert_eq!(what, answer, "{option}: {reason}");
        assert!(reason.contains(words) && reason.contains("decided in the test") && reason.contains(&id), "{option}: {reason}");
        assert!(cwd.join("build").exists(), "the hook runs nothing");
    }
    assert!(pending(&data).is_empty());
}

#[test]
fn a_decision_made_after_the_hook_gave_up_answers_the_same_call_once() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    let call = |id: &str| pre(&cwd, "Bash", json!({"command": "rm -rf build", "description": id}), id);

    let (_, out, _) = hook(&data, &["--wait", "1s"], &call("toolu_r1"));
    assert_eq!(decision(&out).0, "ask");
    let id = pending(&data)[0]["id"].as_str().unwrap().to_owned();
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &id, "run"]));
    assert_eq!(code, 0, "{err}");

    // Another call is not answered by it: the same command in another folder.
    let elsewhere = workdir(&d.path().join("other"));
    let (_, out, _) = hook(&data, &["--wait", "1s"], &pre(&elsewhere, "Bash", json!({"command": "rm -rf build"}), "toolu_r2"));
    assert_eq!(decision(&out).0, "ask");
    assert_eq!(pending(&data).len(), 1);

    // The same call made again: the decision answers it, without a popup.
    let (_, out, _) = hook(&data, &["--wait", "1s"], &call("toolu_r3"));
    let (what, reason) = decision(&out);
    assert_eq!(what, "allow", "{reason}");
    assert!(reason.contains(&id) && reason.contains("tester approved it"), "{reason}");
    assert_eq!(pending(&data).len(), 1, "no new request");

    // Once: the next time, a person is asked again.
    let (_, out, _) = hook(&data, &["--wait", "1s"], &call("toolu_r4"));
    assert_eq!(decision(&out).0, "ask");
    assert_eq!(pending(&data).len(), 2);
    let (_, out, _) = run(mend(&data).args(["runs", "--json", "--limit", "0"]));
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    let first = runs.iter().find(|r| r["run_id"] == "cc-toolu_r1").unwrap();
    assert_eq!(first["status"], "aborted", "the earlier run is closed once its decision was used: {first}");
}

#[test]
fn a_failure_gets_its_code_and_the_lessons_that_match_it() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    let dump = json!({"command": "pg_dump --schema-only app > schema.sql", "description": "Dump the schema"});
    let (code, out, _) = hook(&data, &[], &pre(&cwd, "Bash", dump.clone(), "toolu_f1"));
    assert_eq!((code, out.as_str()), (0, ""));

    let failed = json!({
        "session_id": "abc123",
        "transcript_path": "/home/me/.claude/projects/p/abc123.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PostToolUseFailure",
        "tool_name": "Bash",
        "tool_input": dump,
        "tool_use_id": "toolu_f1",
        "error": "Exit code 127\nbash: line 1: pg_dump: command not found",
        "is_interrupt": false
    });
    let (code, out, err) = hook(&data, &[], &failed.to_string());
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PostToolUseFailure");
    let context = v["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(context.contains("COMMAND_NOT_FOUND") && context.contains("not found on PATH"), "{context}");
    assert!(context.contains("exit code 127") && context.contains("pg_dump: command not found"), "{context}");
    assert!(context.contains("same call will fail the same way"), "whether a retry helps: {context}");
    assert!(context.contains("exec-not-on-path"), "the starter lesson for it: {context}");
    assert!(context.lines().count() <= 8, "a few lines: {context}");

    // Journaled as a failed call of the pseudo-tool, in the run that judged it.
    let (_, out, _) = run(mend(&data).args(["logs", "--agent", "claude-code", "--json", "--kind", "call"]));
    let calls: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(calls.len(), 2, "{out}");
    assert!(calls.iter().all(|c| c["run_id"] == "cc-toolu_f1" && c["tool"] == "claude_code"), "{out}");
    assert_eq!((calls[1]["code"].as_str(), calls[1]["ok"].as_bool()), (Some("COMMAND_NOT_FOUND"), Some(false)));
    let (_, out, _) = run(mend(&data).args(["runs", "--json"]));
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!((runs.len(), runs[0]["status"].as_str(), runs[0]["agent"].as_str()), (1, Some("failed"), Some("claude-code")));
    let (_, out, _) = run(mend(&data).args(["metrics", "--json"]));
    assert!(out.contains("COMMAND_NOT_FOUND"), "the dashboard's numbers count it: {out}");

    // An interrupt is the person's doing: nothing to tell Claude.
    let stopped = json!({"hook_event_name": "PostToolUseFailure", "cwd": cwd, "tool_name": "Bash", "tool_input": {"command": "sleep 100"},
        "tool_use_id": "toolu_f2", "error": "Interrupted by user", "is_interrupt": true});
    let (code, out, err) = hook(&data, &[], &stopped.to_string());
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}

#[test]
fn malformed_input_exits_1_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let rows = [
        ("{not json", "`stdin`"),
        (r#"{"hook_event_name": "Stop", "cwd": "/tmp"}"#, "`hook_event_name`"),
        (r#"{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}"#, "`cwd`"),
        (r#"{"hook_event_name": "PreToolUse", "cwd": "/tmp", "tool_name": "Bash", "tool_input": {}}"#, "`tool_input.command`"),
        (
            r#"{"hook_event_name": "PreToolUse", "cwd": "/tmp", "tool_name": "Write", "tool_input": {"content": "x"}}"#,
            "`tool_input.file_path`",
        ),
        (r#"{"hook_event_name": "PostToolUseFailure", "cwd": "/tmp", "tool_name": "Bash", "tool_input": {"command": "ls"}}"#, "`error`"),
    ];
    for (input, field) in rows {
        let (code, out, err) = hook(&data, &[], input);
        assert_eq!(code, 1, "{input}: {err}");
        assert!(out.is_empty(), "{input}: {out}");
        assert!(err.contains(field) && !err.contains("panicked"), "{input}: {err}");
    }
    let (code, _, err) = hook(&data, &["--wait", "soon"], "{}");
    assert_eq!(code, 1);
    assert!(err.contains("--wait"), "{err}");
    // A config that does not load is no reason to block Claude Code (exit 2 would).
    let broken = d.path().join("broken.toml");
    std::fs::write(&broken, "bad = [").unwrap();
    let (code, _, err) = hook(&data, &["--config", broken.to_str().unwrap()], "{}");
    assert_eq!(code, 1, "{err}");
    // Nor to let a call run unjudged (exit 1 would): a call about to run is
    // answered "ask", naming why (red team).
    let pre = r#"{"hook_event_name": "PreToolUse", "cwd": "/tmp", "tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}"#;
    let (code, out, err) = hook(&data, &["--config", broken.to_str().unwrap()], pre);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "ask", "{out}");
    assert!(v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap().contains("config does not load"), "{out}");
}

#[test]
fn install_prints_the_hooks_and_write_merges_them() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let (code, out, err) = run(mend(&data).args(["hook", "claude", "--install"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let pre = &v["hooks"]["PreToolUse"][0];
    assert_eq!(pre["matcher"], "Bash|Edit|Write|MultiEdit|NotebookEdit");
    assert_eq!(v["hooks"]["PostToolUseFailure"][0]["matcher"], "*");
    for group in [pre, &v["hooks"]["PostToolUseFailure"][0]] {
        let h = &group["hooks"][0];
        assert_eq!((h["type"].as_str(), h["timeout"].as_u64()), (Some("command"), Some(60)));
        let command = h["command"].as_str().unwrap();
        let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_mend")).unwrap();
        assert!(command.starts_with(&format!("{} hook claude", exe.display())), "{command}");
        assert!(command.contains(&format!("--data-dir {}", data.display())), "the data directory it was given: {command}");
    }

    // Merged into settings that exist: what is there stays.
    let file = d.path().join("claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let theirs = json!({
        "model": "opus",
        "permissions": {"allow": ["Bash(npm test)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/audit.sh"}]}]}
    });
    std::fs::write(&file, serde_json::to_string_pretty(&theirs).unwrap()).unwrap();
    for _ in 0..2 {
        let (code, out, err) = run(mend(&data).args(["hook", "claude", "--install", "--write"]).arg(&file));
        assert_eq!(code, 0, "{err}");
        assert!(out.is_empty() && err.contains(&file.display().to_string()), "{err}");
    }
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(merged["model"], "opus");
    assert_eq!(merged["permissions"], theirs["permissions"]);
    let pre = merged["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2, "theirs kept, ours once however often it is installed: {merged:#}");
    assert_eq!(pre[0], theirs["hooks"]["PreToolUse"][0]);
    assert_eq!(pre[1], v["hooks"]["PreToolUse"][0]);
    assert_eq!(merged["hooks"]["PostToolUseFailure"], v["hooks"]["PostToolUseFailure"]);

    // A file that is not JSON is named and left alone.
    let junk = d.path().join("junk.json");
    std::fs::write(&junk, "model = opus\n").unwrap();
    let (code, _, err) = run(mend(&data).args(["hook", "claude", "--install", "--write"]).arg(&junk));
    assert_eq!(code, 1);
    assert!(err.contains(&junk.display().to_string()) && err.contains("not JSON"), "{err}");
    assert_eq!(std::fs::read_to_string(&junk).unwrap(), "model = opus\n");
    // A missing one is created.
    let fresh = d.path().join("new/settings.json");
    let (code, _, err) = run(mend(&data).args(["hook", "claude", "--install", "--write"]).arg(&fresh));
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&std::fs::read_to_string(&fresh).unwrap()).unwrap(), v);
}

#[test]
fn permission_request_answers_allow_or_deny_and_never_judges_a_call_twice() {
    let d = tempfile::tempdir().unwrap();
    let (data, cwd) = (d.path().join("data"), workdir(d.path()));
    let ask = |event: &str, id: &str| {
        let mut v: Value = serde_json::from_str(&pre(&cwd, "Bash", json!({"command": "git push --force origin main"}), id)).unwrap();
        v["hook_event_name"] = json!(event);
        if event == "PermissionRequest" {
            v["permission_suggestions"] = json!([{"type": "addRules", "behavior": "allow", "destination": "session"}]);
        }
        v.to_string()
    };

    // Nobody decides: Claude Code's dialog shows, with why.
    let (code, out, err) = hook(&data, &["--wait", "1s"], &ask("PermissionRequest", "toolu_p1"));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let id = pending(&data)[0]["id"].as_str().unwrap().to_owned();
    assert!(v["hookSpecificOutput"].is_null() && v["systemMessage"].as_str().unwrap().contains(&id), "{v}");

    // A decision while it waits: allow.
    let t0 = Instant::now();
    let child = spawn_hook(&data, &["--wait", "20s"], &ask("PermissionRequest", "toolu_p2"));
    let id = loop {
        if let Some(r) = pending(&data).into_iter().find(|r| r["run_id"] == "cc-toolu_p2") {
            break r["id"].as_str().unwrap().to_owned();
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "no request appeared");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (code, _, err) = run(mend(&data).args(["approvals", "decide", &id, "abort", "--note", "not on main"]));
    assert_eq!(code, 0, "{err}");
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PermissionRequest");
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert!(v["hookSpecificOutput"]["decision"]["message"].as_str().unwrap().contains("not on main"), "{v}");

    // After PreToolUse judged the call, its permission dialog is not judged again.
    let (_, out, _) = hook(&data, &["--wait", "1s"], &ask("PreToolUse", "toolu_p3"));
    assert_eq!(decision(&out).0, "ask");
    let before = pending(&data).len();
    let t0 = Instant::now();
    let (code, out, err) = hook(&data, &["--wait", "20s"], &ask("PermissionRequest", "toolu_p3"));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10), "it did not wait again");
    assert_eq!(pending(&data).len(), before, "no second request");
}
