//! `mend mcp`, `mend check` and `mend run` against a real, published MCP
//! server (`@modelcontextprotocol/server-filesystem`, pinned in tests/mcp,
//! installed by the README's test command with `npm ci`) declared in a
//! config file (issue 16): its tools with their annotations, a server that
//! cannot start, a server disabled by hand for the next process and enabled
//! again, and arguments checked against a tool's input schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn filesystem_server() -> PathBuf {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(p.exists(), "{} is missing: run `npm ci` in tests/mcp (the README's test command does)", p.display());
    p
}

/// A temp folder with `root/notes.txt`, a config declaring `files` (the
/// published server on `root`) and `broken` (a server that dies at start,
/// saying why on stderr), and a data directory.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("notes.txt"), "hello from mcp\n").unwrap();
        let root = root.canonicalize().unwrap();
        let config = format!(
            "[[mcp.servers]]\nname = \"files\"\ncommand = \"node\"\nargs = [{:?}, {:?}]\nstartup_timeout = \"20s\"\n\n\
             [[mcp.servers]]\nname = \"broken\"\ncommand = \"node\"\nargs = [\"-e\", \"console.error('config file missing'); process.exit(3)\"]\n",
            filesystem_server().display().to_string(),
            root.display().to_string()
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Setup { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root").canonicalize().unwrap()
    }

    fn mend(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
        let d = self.dir.path();
        c.env("MEND_DATA_DIR", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("no-config"))
            .env_remove("MEND_CONFIG")
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--no-llm");
        c
    }

    fn job(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn mcp_tools_lists_a_published_servers_tools_with_annotations_and_says_why_another_is_down() {
    let s = Setup::new();
    let (code, out, err) = run(s.mend().args(["mcp", "tools", "files", "--json"]));
    assert_eq!(code, 0, "{err}");
    let all: Value = serde_json::from_str(&out).unwrap();
    let files = &all[0];
    assert_eq!(files["name"], "files");
    assert_eq!(files["state"]["state"], "running");
    let tools = files["tools"].as_array().unwrap();
    let read = tools.iter().find(|t| t["name"] == "read_text_file").expect("read_text_file is listed");
    assert_eq!(read["annotations"]["readOnlyHint"], true);
    assert_eq!(read["inputSchema"]["properties"]["path"]["type"], "string");
    // The server this process started did not outlive it.
    let pid = files["state"]["pid"].as_u64().unwrap();
    let t0 = std::time::Instant::now();
    while alive(pid) && t0.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!alive(pid), "server pid {pid} outlived mend");

    // The readable list: name, what it does, description.
    let (code, out, _) = run(s.mend().args(["mcp", "tools"]));
    assert_eq!(code, 0, "one server of two answered: {out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("read_text_file") && l.contains("read-only")), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("write_file") && l.contains("destructive")), "{out}");
    assert!(out.contains("broken  down:") && out.contains("stderr| config file missing"), "{out}");

    // Every server asked about failed: not zero.
    let (code, out, _) = run(s.mend().args(["mcp", "tools", "broken"]));
    assert_eq!(code, 1, "{out}");
    let (code, _, err) = run(s.mend().args(["mcp", "tools", "nosuch"]));
    assert_eq!((code, err.contains("no MCP server is named `nosuch`")), (2, true), "{err}");

    // `mend tools --json` lists them under `mcp`.
    let (code, out, err) = run(s.mend().args(["tools", "--json"]));
    assert_eq!(code, 0, "{err}");
    let all: Value = serde_json::from_str(&out).unwrap();
    let servers = &all["mcp"]["servers"];
    assert!(servers["files"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "list_directory"), "{servers}");
    assert_eq!(servers["broken"]["state"]["state"], "down");
}

#[test]
fn a_server_disabled_by_hand_is_refused_by_the_next_run_until_enabled() {
    let s = Setup::new();
    let notes = s.root().join("notes.txt");
    let job = s.job(
        "read.toml",
        &format!(
            "name = \"read\"\n[[steps]]\nname = \"read notes\"\ntool = \"mcp\"\n\
             args = {{ server = \"files\", tool = \"read_text_file\", arguments = {{ path = {:?} }} }}\nretry = {{ base = \"10ms\" }}\n",
            notes.display().to_string()
        ),
    );

    let (code, _, err) = run(s.mend().args(["mcp", "disable", "files", "--reason", "disk maintenance"]));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(s.mend().args(["mcp", "status", "--no-start"]));
    assert!(out.lines().any(|l| l.starts_with("files") && l.contains("disabled by hand: disk maintenance")), "{out}");

    // Another process (this run) reads it.
    let (code, out, err) = run(s.mend().arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_ne!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let e = &report["steps"][0]["final_outcome"];
    assert_eq!(e["code"], "MCP_SERVER_UNREACHABLE", "{report}");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("disabled by hand") && m.contains("disk maintenance"), "{m}");

    let (code, _, err) = run(s.mend().args(["mcp", "enable", "files"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(s.mend().arg("run").arg(&job).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["steps"][0]["final_outcome"]["output"]["text"], "hello from mcp\n");
    let (_, out, _) = run(s.mend().args(["mcp", "status"]));
    assert!(out.lines().any(|l| l.starts_with("files") && l.contains("running (pid")), "{out}");
}

#[test]
fn check_names_the_step_and_the_schema_error_and_warns_of_a_server_it_cannot_reach() {
    let s = Setup::new();
    let bad = s.job(
        "bad.toml",
        "name = \"bad\"\n\
         [[steps]]\nname = \"read\"\ntool = \"mcp\"\nargs = { server = \"files\", tool = \"read_text_file\", arguments = { path = 3 } }\n\
         [[steps]]\nname = \"elsewhere\"\ntool = \"mcp\"\nargs = { server = \"nowhere\", tool = \"read_text_file\" }\n",
    );
    let (code, _, err) = run(s.mend().arg("check").arg(&bad));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml:5:1: steps[0].args.arguments.path") && err.contains("read_text_file"), "{err}");
    assert!(err.contains("is not of type \"string\""), "{err}");
    assert!(err.contains("bad.toml:9:1: steps[1].args.server: no MCP server is named `nowhere`"), "{err}");

    let good = s.job(
        "good.toml",
        "name = \"good\"\n\
         [[steps]]\nname = \"list\"\ntool = \"mcp\"\nargs = { server = \"files\", tool = \"list_allowed_directories\", arguments = {} }\n\
         [[steps]]\nname = \"down\"\ntool = \"mcp\"\nargs = { server = \"broken\", tool = \"anything\" }\n",
    );
    let (code, out, err) = run(s.mend().arg("check").arg(&good));
    assert_eq!(code, 0, "a server that cannot be reached is a warning: {err}");
    assert!(out.contains("ok (2 steps)"), "{out}");
    assert!(err.contains("steps[1]: warning: MCP server `broken` cannot be reached") && err.contains("config file missing"), "{err}");
}

/// Issue 16, item 6: a server that cannot start heals through its declared
/// backup (a repair, no person), the fix is learned into MEMORY.md for that
/// server, and the next run tries it first; a server disabled by hand is
/// passed over to its backup at once, journaled as a guardrail.
#[test]
fn the_backup_that_healed_an_unreachable_server_is_learned_and_tried_first_next_time() {
    let s = Setup::new();
    let config = std::fs::read_to_string(s.dir.path().join("config.toml")).unwrap();
    std::fs::write(s.dir.path().join("config.toml"), config.replace("name = \"broken\"\n", "name = \"broken\"\nbackup = \"files\"\n"))
        .unwrap();
    let notes = s.root().join("notes.txt");
    let job = s.job(
        "read.toml",
        &format!(
            "name = \"read\"\n[[steps]]\nname = \"read notes\"\ntool = \"mcp\"\n\
             args = {{ server = \"broken\", tool = \"read_text_file\", arguments = {{ path = {:?} }} }}\nretry = {{ base = \"10ms\" }}\n",
            notes.display().to_string()
        ),
    );
    let attempts = |out: &str| -> Vec<Value> {
        let report: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(report["steps"][0]["final_outcome"]["output"]["text"], "hello from mcp\n", "{report}");
        report["steps"][0]["attempts"].as_array().cloned().unwrap_or_default()
    };

    let (code, out, err) = run(s.mend().arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_eq!(code, 0, "healed without a person: {err}");
    let first = attempts(&out);
    assert_eq!(first.len(), 1, "the backup at once, no restart of a server that cannot start: {first:?}");
    assert_eq!((first[0]["layer"].as_str(), first[0]["action"].as_str()), (Some("policy"), Some("retry_modified")), "{first:?}");
    let memory = std::fs::read_to_string(s.dir.path().join("data/MEMORY.md")).unwrap();
    assert!(memory.contains("MCP_SERVER_UNREACHABLE") && memory.contains("broken") && memory.contains("files"), "{memory}");

    let (code, out, err) = run(s.mend().arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_eq!(code, 0, "{err}");
    let second = attempts(&out);
    assert_eq!(second[0]["layer"], "lesson", "the lesson goes first: {second:?}");

    // Set aside by hand: the call goes to the backup without failing, and
    // the journal says so.
    let (code, _, err) = run(s.mend().args(["mcp", "disable", "broken", "--reason", "known bad"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(s.mend().arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_eq!(code, 0, "{err}");
    assert!(attempts(&out).is_empty(), "nothing failed: {out}");
    let (_, logs, _) = run(s.mend().args(["logs", "--kind", "guardrail", "--json"]));
    let fell: Vec<Value> =
        logs.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|e: &Value| e["data"]["change"] == "fell_over").collect();
    assert_eq!(fell.len(), 1, "{logs}");
    assert_eq!((fell[0]["data"]["server"].as_str(), fell[0]["data"]["backup"].as_str()), (Some("broken"), Some("files")), "{logs}");
    assert!(fell[0]["message"].as_str().unwrap().contains("known bad"), "{logs}");
}

/// No MCP server outlives Mend (issue 16), even killed with `kill -9`
/// mid-call, when no destructor runs: the server and a child of its own
/// are gone soon after, checked by pid. Seeded kill points: before the
/// server started, while it starts, and mid-call.
#[test]
fn a_server_and_its_children_end_when_mend_is_killed_with_sigkill() {
    let s = Setup::new();
    let fault = mend_faults::fault_mcp_bin();
    let state = s.dir.path().join("hang.state");
    let kid = s.dir.path().join("kid.pid");
    // The server starts a child of its own first (`sleep`), then becomes the
    // scripted server, which hangs on `echo`.
    let script = format!(
        "sleep 300 & echo $! > {kid:?}; exec {fault:?} --name hang --state {state:?} --hang-on echo",
        kid = kid.display().to_string(),
        fault = fault.display().to_string(),
        state = state.display().to_string()
    );
    let job = s.job(
        "hang.toml",
        &format!(
            "name = \"hang\"\n[[mcp.servers]]\nname = \"hang\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\ncall_timeout = \"60s\"\n\
             [[steps]]\nname = \"wait\"\ntool = \"mcp\"\nargs = {{ server = \"hang\", tool = \"echo\", arguments = {{ text = \"hi\" }} }}\n"
        ),
    );
    let seed: u64 = std::env::var("MEND_KILL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    for round in 0..3 {
        let _ = std::fs::remove_file(&kid);
        let log = format!("{}.log", state.display());
        let calls_before = std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.starts_with("call")).count();
        let mut mend =
            s.mend().arg("run").arg(&job).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        // Round 2 kills mid-call; the others at a random moment of the start.
        let t0 = std::time::Instant::now();
        if round == 2 {
            while std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.starts_with("call")).count() == calls_before {
                assert!(t0.elapsed() < std::time::Duration::from_secs(20), "the call never reached the server");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(rng.u64(0..400)));
        }
        let _ = mend.kill();
        let _ = mend.wait();
        let pids: Vec<u64> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("start hang ")?.trim().parse().ok())
            .chain(std::fs::read_to_string(&kid).ok().and_then(|p| p.trim().parse().ok()))
            .collect();
        let t0 = std::time::Instant::now();
        while pids.iter().any(|&p| alive(p)) && t0.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let left: Vec<&u64> = pids.iter().filter(|&&p| alive(p)).collect();
        assert!(left.is_empty(), "seed {seed} (MEND_KILL_SEED), round {round}: still running after Mend was killed: {left:?}");
    }
}

/// Issue 16, item 4: the model that diagnoses an MCP failure is given the
/// journal's account of that server (`read_logs`): its failed calls in the
/// last 30 minutes by code, its state and starts, its last stderr lines.
#[tokio::test]
async fn the_model_reads_the_servers_recent_failures_and_stderr_before_it_proposes() {
    use mend_faults::{FaultServer, Reply, Script};
    let s = Setup::new();
    let job = s.job(
        "broken.toml",
        "name = \"b\"\n[[steps]]\nname = \"call\"\ntool = \"mcp\"\nargs = { server = \"broken\", tool = \"x\", arguments = {} }\nretry = { base = \"10ms\", max = 1 }\n",
    );
    // Failures on record first, without a model.
    for _ in 0..2 {
        let (code, _, _) = run(s.mend().arg("run").arg(&job).args(["--approve", "abort"]));
        assert_ne!(code, 0);
    }
    let body = serde_json::json!({"choices": [{"message": {"content": "{\"action\": \"escalate\", \"root_cause\": \"the server cannot start\"}"}}], "usage": {"prompt_tokens": 10, "completion_tokens": 5}});
    let llm = FaultServer::start([("/v1/chat/completions", Script::new().always(Reply::json(200, &body.to_string())))]).await.unwrap();
    let d = s.dir.path().to_path_buf();
    let (url, job2) = (llm.url("/v1"), job.clone());
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
        c.env("MEND_DATA_DIR", d.join("data")).env("XDG_CONFIG_HOME", d.join("no-config")).env_remove("MEND_CONFIG");
        c.arg("--config").arg(d.join("config.toml")).arg("run").arg(&job2).args([
            "--approve",
            "abort",
            "--llm-base-url",
            &url,
            "--llm-model",
            "local",
        ]);
        run(&mut c)
    })
    .await
    .unwrap();
    assert_ne!(code, 0, "{err}");
    let asked = llm.requests("/v1/chat/completions");
    assert!(!asked.is_empty(), "the model was asked: {err}");
    let prompt: Value = serde_json::from_str(&asked[0].body).unwrap();
    let text = prompt.to_string();
    let failed = regex_lite_count(&text);
    assert!(failed >= 4, "the earlier runs' failures are counted: {text}");
    assert!(text.contains("calls failed in the last 30 minutes (MCP_SERVER_UNREACHABLE"), "{text}");
    assert!(text.contains("config file missing"), "its stderr: {text}");
}

/// The `N` of "MCP server `broken`: N of M calls failed".
fn regex_lite_count(text: &str) -> usize {
    text.split("MCP server `broken`: ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The red team's other breaks of issue 16: a damaged list of servers
/// disabled by hand fails closed (every server disabled, the file named);
/// a server that dies at once never kills `mend check` or `mend mcp` with
/// SIGPIPE; a read-only MCP tool is a valid verify call; durations may be
/// whole milliseconds; a variable a server's env needs and is not set is
/// an error naming the server and the key.
#[test]
fn damaged_files_dead_servers_and_config_mistakes_are_told_not_swallowed() {
    let s = Setup::new();
    let notes = s.root().join("notes.txt");
    let read =
        format!("args = {{ server = \"files\", tool = \"read_text_file\", arguments = {{ path = {:?} }} }}", notes.display().to_string());
    let job = s.job("read.toml", &format!("name = \"read\"\n[[steps]]\nname = \"read notes\"\ntool = \"mcp\"\n{read}\n"));

    let (code, _, err) = run(s.mend().args(["mcp", "disable", "files", "--reason", "maintenance"]));
    assert_eq!(code, 0, "{err}");
    let file = s.dir.path().join("data/mcp-disabled.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() - 3]).unwrap();
    let (code, out, err) = run(s.mend().arg("run").arg(&job).args(["--json", "--approve", "abort"]));
    assert_ne!(code, 0, "a damaged file must not enable the server: {out}");
    assert!(out.contains("mcp-disabled.json cannot be read"), "{out}{err}");
    let (_, out, _) = run(s.mend().args(["mcp", "status", "--no-start"]));
    assert!(out.contains("mcp-disabled.json cannot be read"), "{out}");
    std::fs::remove_file(&file).unwrap();

    // `false` dies before it reads initialize: writing it must not be fatal.
    let dead = s.job(
        "dead.toml",
        "name = \"dead\"\n[[mcp.servers]]\nname = \"dead\"\ncommand = \"false\"\n[[steps]]\nname = \"x\"\ntool = \"mcp\"\nargs = { server = \"dead\", tool = \"x\" }\n",
    );
    for _ in 0..8 {
        let (code, out, err) = run(s.mend().arg("check").arg(&dead));
        assert!(code == 0 || code == 2, "check ended by a signal ({code}): {out}{err}");
        let (code, _, err) = run(s.mend().args(["mcp", "status", "--job"]).arg(&dead));
        assert_ne!(code, -1, "status ended by a signal: {err}");
        assert!(code < 128, "status ended by a signal ({code}): {err}");
    }

    // A read-only MCP tool verifies; durations in ms; an unset variable.
    let verify = s.job(
        "verify.toml",
        &format!(
            "name = \"v\"\n[[mcp.servers]]\nname = \"files2\"\ncommand = \"node\"\nargs = [{:?}, {:?}]\nstartup_timeout = 20000\ncall_timeout = 5000\n\
             env = {{ TOKEN = \"${{env:MEND_TEST_SURELY_UNSET}}\" }}\n\
             [[steps]]\nname = \"read\"\ntool = \"mcp\"\n{}\nverify = {{ tool = \"mcp\", {} }}\n",
            filesystem_server().display().to_string(),
            s.root().display().to_string(),
            read.replace("\"files\"", "\"files2\""),
            read.replace("\"files\"", "\"files2\"")
        ),
    );
    let (code, out, err) = run(s.mend().arg("check").arg(&verify));
    assert_eq!(code, 2, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("mcp.servers[files2].env.TOKEN") && all.contains("MEND_TEST_SURELY_UNSET"), "{all}");
    assert!(!all.contains("a verify call only reads"), "a read-only tool verifies: {all}");
    assert!(!all.contains("expected a string"), "durations in ms: {all}");
    let (code, out, err) = run(s.mend().arg("check").arg(&verify).env("MEND_TEST_SURELY_UNSET", "x"));
    assert_eq!(code, 0, "{out}{err}");
}
