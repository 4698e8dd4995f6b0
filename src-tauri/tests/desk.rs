//! The desktop shell's commands through `tauri::test::mock_builder()` (no
//! display): real journal, real jobs folder, real child processes. The
//! window system is a recording [`Shell`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mend_core::approval::ApprovalRequest;
use mend_core::config::Config;
use mend_desktop::desk::{Desk, Paths, Shell};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow};

#[derive(Default)]
struct Recorder {
    raised: Mutex<Vec<String>>,
    events: Mutex<Vec<(String, Value)>>,
    live_counts: Mutex<Vec<usize>>,
}

impl Shell for Recorder {
    fn emit(&self, event: &str, payload: Value) {
        self.events.lock().unwrap().push((event.to_owned(), payload));
    }
    fn approval_raised(&self, request: &ApprovalRequest) {
        self.raised.lock().unwrap().push(request.id.clone());
    }
    fn hide_popup(&self, _: bool) {}
    fn runs_changed(&self, live: usize) {
        self.live_counts.lock().unwrap().push(live);
    }
    fn open_path(&self, path: &Path) -> Result<(), String> {
        Err(format!("not here: {}", path.display()))
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    desk: Arc<Desk>,
    shell: Arc<Recorder>,
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn fixture_at(root: &Path, tmp: Option<tempfile::TempDir>) -> Fixture {
    fixture_with(root, tmp, Config::default())
}

fn fixture_with(root: &Path, tmp: Option<tempfile::TempDir>, config: Config) -> Fixture {
    let paths = Paths { data_dir: root.join("data"), jobs_dir: root.join("jobs"), memory: None };
    let desk = Desk::open(&paths, config).unwrap();
    let shell = Arc::new(Recorder::default());
    desk.attach(shell.clone());
    let app = mend_desktop::setup(mock_builder(), desk.clone()).build(mock_context(noop_assets())).unwrap();
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Fixture { root: root.to_path_buf(), _tmp: tmp.unwrap_or_else(|| tempfile::tempdir().unwrap()), desk, shell, _app: app, window }
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    fixture_at(&root, Some(tmp))
}

impl Fixture {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let req = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, req).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn job(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join("jobs").join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn wait_for(&self, what: &str, mut f: impl FnMut(&Fixture) -> bool) {
        let t0 = Instant::now();
        while !f(self) {
            assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn run_status(&self, run_id: &str) -> String {
        let runs = self.call("runs_list", json!({})).unwrap();
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id)
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    fn events(&self, run_id: &str) -> Vec<Value> {
        self.call("run_events", json!({"runId": run_id})).unwrap().as_array().unwrap().clone()
    }
}

/// A job whose second step waits for a person before deleting a folder.
fn destructive_job(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("staging")).unwrap();
    format!(
        "version = 1\nname = \"cleanup\"\n[[steps]]\nname = \"hello\"\ntool = \"exec\"\nargs = {{ program = \"true\" }}\n\
         [[steps]]\nname = \"clean\"\ntool = \"exec\"\nargs = {{ program = \"rm\", args = [\"-rf\", \"{}\"] }}\n",
        dir.join("staging").display()
    )
}

#[test]
fn a_decision_in_the_popup_resumes_the_waiting_run() {
    let f = fixture();
    let path = f.job("cleanup.toml", &destructive_job(&f.root));
    let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
    let pending = f.call("approvals_pending", json!({})).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["live"], true, "a run of this app waits on it");
    let req = &pending[0]["request"];
    assert_eq!(req["run_id"], run_id.as_str());
    assert_eq!(req["options"][0]["id"], req["recommended"], "the recommended option comes first");
    assert_eq!(f.run_status(&run_id), "running");

    let out = f.call("approval_decide", json!({"input": {"id": req["id"], "option": "run", "note": "it is only scratch"}})).unwrap();
    assert_eq!(out["resumed"], true);
    f.wait_for("the run to finish", |f| f.run_status(&run_id) == "succeeded");
    assert!(!f.root.join("staging").exists(), "the approved command ran");
    let events = f.events(&run_id);
    let decision = events.iter().find(|e| e["kind"] == "decision").expect("a decision event");
    assert_eq!(decision["data"]["decision"]["option"], "run");
    assert_eq!(decision["data"]["decision"]["instructions"], "it is only scratch");
    assert_eq!(decision["data"]["decision"]["decided_by"]["by"], "person");
    assert!(f.call("approvals_pending", json!({})).unwrap().as_array().unwrap().is_empty());
    // The popup was kept ready while the run went on, and let go after.
    let counts = f.shell.live_counts.lock().unwrap().clone();
    assert!(counts.first() == Some(&1) && counts.last() == Some(&0) && counts.iter().all(|&c| c <= 1), "{counts:?}");
    // The windows heard about it all.
    let names: Vec<String> = f.shell.events.lock().unwrap().iter().map(|(n, _)| n.clone()).collect();
    for n in ["run-started", "run-event", "approvals-changed", "run-ended"] {
        assert!(names.iter().any(|x| x == n), "no `{n}` event in {names:?}");
    }
}

#[test]
fn a_wrong_option_is_refused_and_the_request_keeps_waiting() {
    let f = fixture();
    let path = f.job("cleanup.toml", &destructive_job(&f.root));
    f.call("job_start", json!({"path": path})).unwrap();
    f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
    let id = f.shell.raised.lock().unwrap()[0].clone();
    let err = f.call("approval_decide", json!({"input": {"id": id, "option": "explode"}})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("`explode` is not an option"), "{err}");
    assert_eq!((&err["code"], &err["place"]), (&json!("bad_input"), &json!("option")), "{err}");
    assert!(f.desk.is_waiting_on(&id));
    let out = f.call("approval_decide", json!({"input": {"id": id, "option": "skip"}})).unwrap();
    assert_eq!(out["resumed"], true);
    assert!(f.root.join("staging").exists(), "skipped, so nothing was deleted");
}

#[test]
fn a_pending_request_survives_quit_and_resumes_after_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (run_id, id) = {
        let f = fixture_at(&root, None);
        let path = f.job("cleanup.toml", &destructive_job(&root));
        let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
        f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
        let id = f.shell.raised.lock().unwrap()[0].clone();
        // Quit from the tray: the run stops, the request stays pending.
        tauri::async_runtime::block_on(f.desk.shutdown());
        (run_id, id)
    };
    let f = fixture_at(&root, None);
    f.desk.raise_pending();
    assert_eq!(*f.shell.raised.lock().unwrap(), vec![id.clone()], "pending requests pop up again on start");
    let pending = f.call("approvals_pending", json!({})).unwrap();
    assert_eq!(pending[0]["live"], false);
    assert_eq!(f.run_status(&run_id), "interrupted");

    let out = f.call("approval_decide", json!({"input": {"id": id, "option": "run"}})).unwrap();
    assert_eq!(out["resumed"], true);
    f.wait_for("the resumed run", |f| f.run_status(&run_id) == "succeeded");
    assert!(!root.join("staging").exists());
    let events = f.events(&run_id);
    let hello_calls = events.iter().filter(|e| e["kind"] == "call" && e["step"] == "hello").count();
    assert_eq!(hello_calls, 1, "the resumed run does not run the earlier step again");
    let decision = events.iter().find(|e| e["kind"] == "decision").unwrap();
    assert!(decision["message"].as_str().unwrap().contains("in the desktop app"), "{decision}");
}

#[test]
fn a_decision_from_the_command_line_goes_to_the_run_the_app_is_waiting_on() {
    let f = fixture();
    let path = f.job("cleanup.toml", &destructive_job(&f.root));
    let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
    let id = f.shell.raised.lock().unwrap()[0].clone();
    // Another process (`mend approvals decide`) journals a decision.
    let cli = mend_agent::Agent::open(&f.root.join("data")).unwrap();
    let args = mend_agent::DecideArgs {
        id: id.clone(),
        option: "run".into(),
        note: None,
        remember: None,
        who: "ops".into(),
        via: "from the command line",
    };
    tauri::async_runtime::block_on(cli.decide(args)).unwrap();
    cli.close();
    assert_eq!(f.run_status(&run_id), "running", "so the command line does not resume it too");
    f.desk.sync_waiters();
    f.wait_for("the run to go on", |f| f.run_status(&run_id) == "succeeded");
    assert!(!f.root.join("staging").exists());
    let decisions: Vec<Value> = f.events(&run_id).into_iter().filter(|e| e["kind"] == "decision").collect();
    assert_eq!(decisions.len(), 1, "journaled once: {decisions:#?}");
    assert!(decisions[0]["message"].as_str().unwrap().contains("from the command line"));
}

#[test]
fn a_remembered_decision_answers_the_next_request_without_a_popup() {
    let f = fixture();
    let path = f.job("cleanup.toml", &destructive_job(&f.root));
    f.call("job_start", json!({"path": path})).unwrap();
    f.wait_for("the request", |f| f.shell.raised.lock().unwrap().len() == 1);
    let id = f.shell.raised.lock().unwrap()[0].clone();
    let out = f.call("approval_decide", json!({"input": {"id": id, "option": "skip", "remember": "step"}})).unwrap();
    assert_eq!(out["rule"]["option"], "skip");
    assert!(out["rule"].to_string().contains(r#""step":"clean""#), "{out}");
    let rules = f.call("rules_list", json!({})).unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 1);
    f.wait_for("the first run to end", |f| f.desk.live_jobs().is_empty());

    let second = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the second run", |f| f.run_status(&second) == "succeeded");
    assert_eq!(f.shell.raised.lock().unwrap().len(), 1, "no popup the second time");
    let decision = f.events(&second).into_iter().find(|e| e["kind"] == "decision").unwrap();
    assert_eq!(decision["data"]["decision"]["decided_by"]["by"], "policy");
    assert!(decision["data"]["decision"]["decided_by"]["rule"].as_str().unwrap().contains("remembered"), "{decision}");

    // Forgotten, it asks again.
    f.call("rule_forget", json!({"id": out["rule"]["id"]})).unwrap();
    f.call("job_start", json!({"path": path})).unwrap();
    f.wait_for("a new request", |f| f.shell.raised.lock().unwrap().len() == 2);
}

#[test]
fn a_timed_out_request_follows_the_jobs_policy_and_the_windows_hear_of_it() {
    let f = fixture();
    let text = destructive_job(&f.root) + "[approval]\ntimeout = \"300ms\"\non_timeout = \"skip\"\n";
    let path = f.job("cleanup.toml", &text);
    let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the run to end", |f| f.run_status(&run_id) == "succeeded");
    assert!(f.root.join("staging").exists(), "skipped by the timeout policy");
    let decision = f.events(&run_id).into_iter().find(|e| e["kind"] == "decision").unwrap();
    assert_eq!(decision["data"]["decision"]["decided_by"]["by"], "timeout");
    assert!(!f.desk.is_waiting_on(&f.shell.raised.lock().unwrap()[0]));
    let stopped = f.shell.events.lock().unwrap().iter().any(|(n, p)| n == "approvals-changed" && p.get("stopped_waiting").is_some());
    assert!(stopped, "the popup is told the request stopped waiting");
}

/// Issue 15: a command's error reaches the UI as `{ code, message, place? }`.
#[test]
fn errors_reach_the_windows_with_their_code_and_place() {
    let f = fixture();
    let nothing = |e: &Value| e.get("place").is_none();
    // Unknown names: not found.
    let e = f.call("approval_get", json!({"id": "req-nope"})).unwrap_err();
    assert_eq!((&e["code"], &e["message"]), (&json!("not_found"), &json!("no approval request `req-nope`")), "{e}");
    assert!(nothing(&e), "{e}");
    let e = f.call("approval_decide", json!({"input": {"id": "req-nope", "option": "run"}})).unwrap_err();
    assert_eq!(e["code"], "not_found", "{e}");
    let e = f.call("rule_forget", json!({"id": "rule-nope"})).unwrap_err();
    assert_eq!(e["code"], "not_found", "{e}");
    let e = f.call("run_rerun", json!({"runId": "run-nope"})).unwrap_err();
    assert_eq!(e["code"], "not_found", "{e}");
    // A bad version of the memory file: bad input at `base`.
    let e = f.call("memory_raw", json!({"base": "not hex", "text": ""})).unwrap_err();
    assert_eq!((&e["code"], &e["place"]), (&json!("bad_input"), &json!("base")), "{e}");
    let version = f.call("memory_view", json!({})).unwrap()["version"].clone();
    let e = f.call("memory_save", json!({"base": version, "edit": {"op": "delete", "id": "nope"}})).unwrap_err();
    assert_eq!(e["code"], "not_found", "{e}");

    // Deciding again with another option once the decision holds: a conflict; the same option: fine.
    let path = f.job("cleanup.toml", &destructive_job(&f.root));
    let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
    let id = f.shell.raised.lock().unwrap()[0].clone();
    f.call("approval_decide", json!({"input": {"id": id, "option": "skip"}})).unwrap();
    f.wait_for("the run to finish", |f| f.run_status(&run_id) == "succeeded");
    let e = f.call("approval_decide", json!({"input": {"id": id, "option": "run"}})).unwrap_err();
    assert_eq!(e["code"], "conflict", "{e}");
    assert!(e["message"].as_str().unwrap().contains("already decided: `skip`"), "{e}");
    assert!(nothing(&e), "{e}");
    f.call("approval_decide", json!({"input": {"id": id, "option": "skip"}})).unwrap();
    assert!(f.root.join("staging").exists(), "the refused decision did nothing");
}

#[test]
fn cancel_stops_a_live_run_and_rerun_starts_it_again() {
    let f = fixture();
    let path = f.job(
        "sleepy.toml",
        "version = 1\nname = \"sleepy\"\n[[steps]]\nname = \"nap\"\ntool = \"exec\"\nargs = { program = \"sleep\", args = [\"30\"] }\n",
    );
    let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the command to start", |f| f.events(&run_id).iter().any(|e| e["kind"] == "step_started"));
    f.call("run_cancel", json!({"runId": run_id})).unwrap();
    f.wait_for("the run to stop", |f| f.run_status(&run_id) == "interrupted");
    let err = f.call("run_cancel", json!({"runId": run_id})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("is not running"));
    assert_eq!(err["code"], "conflict", "{err}");
    let again = f.call("run_rerun", json!({"runId": run_id})).unwrap().as_str().unwrap().to_owned();
    assert_ne!(again, run_id);
    f.wait_for("the new run", |f| f.run_status(&again) == "running");
    f.call("run_cancel", json!({"runId": again})).unwrap();
}

#[test]
fn the_jobs_folder_lists_files_with_their_errors_and_runs_schedules() {
    let f = fixture();
    f.job(
        "tick.toml",
        "version = 1\nname = \"tick\"\nschedule = \"every 1s\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { program = \"true\" }\n",
    );
    f.job("broken.toml", "version = 1\nname = \"broken\"\n[[steps]]\nname = \"s\"\ntool = \"htp\"\n");
    let jobs = f.call("jobs_list", json!({})).unwrap();
    let list = jobs["jobs"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "broken");
    assert!(list[0]["error"].as_str().unwrap().contains("broken.toml:5"), "{}", list[0]);
    assert_eq!(list[1]["name"], "tick");
    assert_eq!(list[1]["schedule"], "every 1 s");
    let err = f.call("job_start", json!({"path": list[0]["path"]})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("broken.toml:5"), "{err}");
    assert_eq!(err["code"], "bad_input", "{err}");
    let place = err["place"].as_str().unwrap();
    assert!(place.contains("broken.toml:5:") && place.ends_with(" steps[0].tool"), "{err}");

    tauri::async_runtime::spawn(f.desk.clone().schedule());
    f.wait_for("a scheduled run", |f| {
        let runs = f.call("runs_list", json!({})).unwrap();
        runs.as_array().unwrap().iter().any(|r| r["job"] == "tick" && r["status"] == "succeeded")
    });
}

#[test]
fn first_start_runs_the_demo_once_and_it_ends_with_one_request() {
    let f = fixture();
    let run_id = tauri::async_runtime::block_on(f.desk.first_start()).unwrap().expect("the demo starts on a fresh install");
    f.wait_for("the demo's request", |f| !f.shell.raised.lock().unwrap().is_empty());
    let events = f.events(&run_id);
    assert!(events.iter().filter(|e| e["kind"] == "recovery").count() >= 3, "the demo heals on its way: {events:#?}");
    f.call("approval_decide", json!({"input": {"id": f.shell.raised.lock().unwrap()[0], "option": "skip"}})).unwrap();
    f.wait_for("the demo to finish", |f| f.run_status(&run_id) == "succeeded");
    assert_eq!(tauri::async_runtime::block_on(f.desk.first_start()).unwrap(), None, "only once");
    let overview = f.call("overview", json!({})).unwrap();
    assert!(overview["healed"].as_i64().unwrap() >= 3, "{overview}");
}

#[test]
fn the_memory_screen_edits_searches_and_sees_conflicts_and_external_edits() {
    let f = fixture();
    let view = f.call("memory_view", json!({})).unwrap();
    let version = view["version"].as_str().unwrap().to_owned();
    assert!(view["sections"].as_array().unwrap().iter().any(|s| s["title"] == "HTTP services"), "the starter lessons");
    let rate = view["sections"][0]["lessons"].as_array().unwrap().iter().find(|l| l["id"] == "http-rate-limit").unwrap().clone();
    assert_eq!((rate["trusted"].as_bool(), rate["tool"].as_str()), (Some(true), Some("http")));

    // Add a lesson through the form; it is searchable at once and in the file as written.
    let lesson = json!({"text": "The warehouse API answers 503 during its nightly backup: wait and retry.", "tool": "http", "code": "SERVER_ERROR", "matches": ["warehouse.example"], "fix": "retry_same", "id": "warehouse-503"});
    let saved = f.call("memory_save", json!({"base": version, "edit": {"op": "add", "section": "Warehouse", "lesson": lesson}})).unwrap();
    assert_eq!(saved["result"], "saved", "{saved}");
    let hits = f.call("memory_search", json!({"query": "nightly backup"})).unwrap();
    assert_eq!(hits[0]["id"], "warehouse-503", "{hits}");
    assert!(!hits[0]["highlights"].as_array().unwrap().is_empty());
    let path = f.root.join("data/MEMORY.md");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("## Warehouse\n\n- The warehouse API answers 503"), "{text}");
    assert!(text.contains("  - when: `http` `SERVER_ERROR` \"warehouse.example\"\n  - fix: retry_same\n  - id: warehouse-503"), "{text}");

    // Move it, then filter by section.
    let v2 = saved["version"].as_str().unwrap();
    let moved =
        f.call("memory_save", json!({"base": v2, "edit": {"op": "move", "id": "warehouse-503", "section": "HTTP services"}})).unwrap();
    assert_eq!(moved["result"], "saved", "{}", moved["reason"]);
    let in_http = f.call("memory_search", json!({"query": "warehouse", "section": "HTTP services"})).unwrap();
    assert_eq!(in_http[0]["id"], "warehouse-503");

    // Another editor changes the same lesson; an edit on the old version is a conflict with both texts.
    let on_disk = std::fs::read_to_string(&path).unwrap().replace("during its nightly backup", "during its zanzibar backup");
    std::fs::write(&path, &on_disk).unwrap();
    let stale = moved["version"].as_str().unwrap();
    let edit = json!({"op": "replace", "id": "warehouse-503", "lesson": {"text": "Mine.", "tool": "http", "code": "SERVER_ERROR", "fix": "retry_same"}});
    f.wait_for("the watcher to read the edit", |f| {
        f.call("memory_search", json!({"query": "zanzibar"}))
            .unwrap()
            .as_array()
            .is_some_and(|h| h.first().is_some_and(|h| h["id"] == "warehouse-503"))
    });
    let c = f.call("memory_save", json!({"base": stale, "edit": edit})).unwrap();
    assert_eq!(c["result"], "conflict", "{c}");
    assert!(c["theirs"].as_str().unwrap().contains("zanzibar backup"));
    assert!(c["ours"].as_str().unwrap().contains("- Mine."));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), on_disk, "nothing was written");

    // The raw editor on the current version.
    let now = f.call("memory_view", json!({})).unwrap();
    {
        let (a, b) = (now["text"].as_str().unwrap().to_owned(), std::fs::read_to_string(&path).unwrap());
        let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        assert_eq!(
            a,
            b,
            "the view shows the file as it is: differs at {at}: view {:?} / disk {:?}",
            &a[at.saturating_sub(40)..(at + 80).min(a.len())],
            &b[at.saturating_sub(40)..(at + 80).min(b.len())]
        );
    }
    let raw = now["text"].as_str().unwrap().to_owned() + "- Hand-written at the end.\n";
    let r = f.call("memory_raw", json!({"base": now["version"], "text": raw})).unwrap();
    assert_eq!(r["result"], "saved", "{}", r["reason"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), raw);
    // A bad fix is refused with a message that names the field.
    let bad = f.call(
        "memory_save",
        json!({"base": r["version"], "edit": {"op": "add", "section": "X", "lesson": {"text": "t", "fix": "retry_later"}}}),
    );
    let bad = bad.unwrap_err();
    assert!(bad["message"].as_str().unwrap().contains("fix: unknown action `retry_later`"));
    assert_eq!((&bad["code"], &bad["place"]), (&json!("bad_input"), &json!("fix")), "{bad}");
}

#[test]
fn the_dashboard_and_the_audit_log_show_what_the_journal_holds() {
    let f = fixture();
    // A job that fails once and heals by its alternative.
    let dead = mend_faults::closed_port();
    let job = f.job(
        "flaky.toml",
        &format!(
            "version = 1\nname = \"flaky\"\n[[steps]]\nname = \"get\"\ntool = \"http\"\nargs = {{ url = \"http://127.0.0.1:{dead}/\", timeout_ms = 500 }}\nretry = {{ max = 0 }}\n[[steps.alternatives]]\ntool = \"exec\"\nargs = {{ program = \"true\" }}\n"
        ),
    );
    let run = f.call("job_start", json!({"path": job})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the run to end", |f| f.run_status(&run) == "succeeded");
    let since = mend_core::clock::now_ms() - 3_600_000;
    let d = f.call("dashboard", json!({"sinceMs": since, "bucketMs": 3_600_000})).unwrap();
    let m = &d["metrics"];
    assert_eq!(m["healing"]["failed_first"], 1, "{m}");
    assert_eq!(m["healing"]["autonomous"], 1);
    assert_eq!(m["recovery"]["recovered"], 1);
    let line = d["series"]["by_code_action"].as_array().unwrap().iter().find(|l| l["code"] == "CONNECTION_REFUSED").unwrap().clone();
    assert_eq!(line["action"], "use_alternative");
    assert_eq!(line["attempts"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).sum::<i64>(), 1);
    assert_eq!(d["series"]["ttr_ms"].as_array().unwrap().len(), 1);

    let calls = f.call("audit_events", json!({"filter": {"kind": "call", "code": "CONNECTION_REFUSED"}})).unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    let lesson_events = f.call("audit_events", json!({"filter": {"kind": "lesson", "run_id": run}})).unwrap();
    assert_eq!(lesson_events[0]["data"]["change"], "learned", "{lesson_events}");
    let path = f.call("audit_export", json!({"filter": {"job": "flaky"}})).unwrap();
    let text = std::fs::read_to_string(path.as_str().unwrap()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 8 && lines.iter().all(|e| e["job"] == "flaky"), "{text}");
    // The memory screen shows which run taught the lesson.
    let view = f.call("memory_view", json!({})).unwrap();
    let learned = lesson_events[0]["data"]["lesson"].as_str().unwrap();
    let l = view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["lessons"].as_array().unwrap().clone())
        .find(|l| l["id"] == learned)
        .unwrap();
    assert_eq!(l["runs"], json!([run]));
}

/// Issue 12: the desktop app and the command line deciding the same request
/// of a run whose process ended, at the same moment: one decision holds,
/// one process goes on with the run, the step runs at most once.
#[test]
fn two_deciders_at_once_yield_one_decision_and_one_resume() {
    use mend_agent::lease::Taken;
    use mend_core::approval::StandingApprover;
    for round in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let (run_id, id) = {
            let f = fixture_at(&root, None);
            let path = f.job("cleanup.toml", &destructive_job(&root));
            let run_id = f.call("job_start", json!({"path": path})).unwrap().as_str().unwrap().to_owned();
            f.wait_for("the request", |f| !f.shell.raised.lock().unwrap().is_empty());
            let id = f.shell.raised.lock().unwrap()[0].clone();
            tauri::async_runtime::block_on(f.desk.shutdown());
            (run_id, id)
        };
        let f = fixture_at(&root, None);
        // The command line's path (`mend approvals decide ID OPTION`), in another thread.
        let (data, cli_id, cli_run) = (root.join("data"), id.clone(), run_id.clone());
        let cli_option = if round % 2 == 0 { "skip" } else { "run" };
        let cli = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            rt.block_on(async move {
                let agent = mend_agent::Agent::open(&data).unwrap();
                let claim = agent.claim(&cli_run).await.unwrap();
                let args = mend_agent::DecideArgs {
                    id: cli_id,
                    option: cli_option.into(),
                    note: None,
                    remember: None,
                    who: "ops".into(),
                    via: "from the command line",
                };
                let decided = agent.decide(args).await;
                let mut went_on = false;
                if let (Ok(_), Taken::Ours(lease)) = (&decided, claim) {
                    let env: Vec<(String, String)> = std::env::vars().collect();
                    let t = agent.continuation(lease, &Config::default(), &env).unwrap();
                    let mut spec = mend_agent::RunSpec {
                        job_path: Some(&t.job_path),
                        run_id: Some(cli_run.clone()),
                        ..mend_agent::RunSpec::new(&t.job, env.clone())
                    };
                    spec.lease = Some(t.lease);
                    match t.next {
                        mend_agent::Continuation::Resume(r) => spec.resume = Some(*r),
                        mend_agent::Continuation::Restart(r) => spec.restart = Some(*r),
                        _ => {}
                    }
                    agent.execute(spec, Arc::new(StandingApprover::Wait), None, std::future::pending::<String>()).await.unwrap();
                    went_on = true;
                }
                agent.close();
                (decided.map(|d| d.decision.option).map_err(|e| e.to_string()), went_on)
            })
        });
        let desk_option = if round % 2 == 0 { "run" } else { "skip" };
        let desk = f.call("approval_decide", json!({"input": {"id": id, "option": desk_option}}));
        let (cli_said, cli_went_on) = cli.join().unwrap();
        f.wait_for("the run to end", |f| matches!(f.run_status(&run_id).as_str(), "succeeded" | "failed" | "aborted"));
        // One decision, the one both were told; the loser was refused, naming it.
        let (_, held) = f.desk.agent().reader().unwrap().approval(&id).unwrap().unwrap();
        let held = held.expect("decided").option;
        match (&desk, &cli_said) {
            (Ok(_), Err(e)) => assert!(held == desk_option && e.contains("already decided"), "{e}"),
            (Err(e), Ok(o)) => {
                assert!(held == *o && e["message"].as_str().unwrap_or("").contains("already decided"), "{e}");
                assert_eq!(e["code"], "conflict", "{e}");
            }
            (Ok(_), Ok(o)) => panic!("both deciders were told they decided: desk {desk_option}, cli {o}"),
            (Err(a), Err(b)) => panic!("nobody decided: {a} / {b}"),
        }
        let events = f.events(&run_id);
        let decisions = events.iter().filter(|e| e["kind"] == "decision").count();
        assert_eq!(decisions, 1, "round {round}: one decision event");
        let resumes = events.iter().filter(|e| e["kind"] == "run_started" && e["data"]["resumed_from"] == id.as_str()).count();
        assert_eq!(resumes, 1, "round {round}: one resume (cli went on: {cli_went_on})");
        let cleaned = events.iter().filter(|e| e["kind"] == "call" && e["step"] == "clean").count();
        assert_eq!(cleaned, usize::from(held == "run"), "round {round}: the step ran as decided, once");
        assert_eq!(root.join("staging").exists(), held != "run");
    }
}

/// The published filesystem MCP server (tests/mcp, installed by scripts/test.sh).
fn filesystem_server_js() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    assert!(p.exists(), "{} is missing: run `npm ci` in tests/mcp (scripts/test.sh does)", p.display());
    p
}

/// Whether a process lives (a zombie does not).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
}

/// Issue 16: the Servers screen against a real MCP server and one that
/// cannot start (names unique to this test: supervision is per process).
#[test]
fn the_servers_screen_shows_states_tools_and_calls_and_disables_enables_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("report.csv"), "a,b\n").unwrap();
    let config = Config::parse(
        &format!(
            "[[mcp.servers]]\nname = \"desk-files\"\ncommand = \"node\"\nargs = [\"{}\", \"{}\"]\nstartup_timeout = \"20s\"\n\n\
             [[mcp.servers]]\nname = \"desk-broken\"\ncommand = \"/nonexistent\"\nbackup = \"desk-files\"\nstartup_timeout = \"2s\"\n",
            filesystem_server_js().display(),
            files.display()
        ),
        "config.toml",
    )
    .unwrap();
    let f = fixture_with(&root, Some(tmp), config);
    let view = |f: &Fixture| f.call("servers_view", json!({"sinceMs": 0})).unwrap().as_array().unwrap().clone();
    let named = |v: &[Value], n: &str| v.iter().find(|s| s["name"] == n).unwrap().clone();

    // The view starts what never started: one runs with its tools, one is down and says why.
    let v = view(&f);
    assert_eq!(v.iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(), ["desk-files", "desk-broken"]);
    let good = named(&v, "desk-files");
    assert_eq!(good["status"]["state"], "running", "{good}");
    let pid = good["status"]["pid"].as_u64().unwrap();
    assert!(good["target"].as_str().unwrap().starts_with("node "), "{good}");
    let tools = good["tools"].as_array().unwrap();
    let read = tools.iter().find(|t| t["name"] == "read_text_file").unwrap();
    assert_eq!(read["read_only"], true, "{read}");
    assert!(tools.iter().any(|t| t["name"] == "write_file" && t["read_only"] == false), "{tools:?}");
    let broken = named(&v, "desk-broken");
    assert_eq!(broken["status"]["state"], "down", "{broken}");
    assert!(broken["status"]["reason"].as_str().unwrap().contains("/nonexistent"), "{broken}");
    assert!(broken["tools"].as_array().unwrap().is_empty() && broken["tools_error"].is_string(), "{broken}");
    assert_eq!((broken["backup"].as_str(), broken["target"].as_str()), (Some("desk-files"), Some("/nonexistent")));

    // A job's call to the broken one is answered by its backup: a failure of one, a call of both.
    let job = f.job(
        "read.toml",
        &format!(
            "version = 1\nname = \"read\"\n[[steps]]\nname = \"read\"\ntool = \"mcp\"\nargs = {{ server = \"desk-broken\", tool = \"read_text_file\", arguments = {{ path = \"{}\" }} }}\n",
            files.join("report.csv").display()
        ),
    );
    let run = f.call("job_start", json!({"path": job})).unwrap().as_str().unwrap().to_owned();
    f.wait_for("the run to end", |f| f.run_status(&run) == "succeeded");
    f.wait_for("its call in the journal", |f| named(&view(f), "desk-files")["calls"] == 1);
    let v = view(&f);
    assert_eq!((named(&v, "desk-broken")["calls"].as_u64(), named(&v, "desk-broken")["failures"].as_u64()), (Some(1), Some(1)));
    assert_eq!((named(&v, "desk-files")["calls"].as_u64(), named(&v, "desk-files")["failures"].as_u64()), (Some(1), Some(0)));
    let later = f.call("servers_view", json!({"sinceMs": mend_core::clock::now_ms() + 60_000})).unwrap();
    assert!(later.as_array().unwrap().iter().all(|s| s["calls"] == 0), "the range counts: {later}");

    // Disabled by hand, with the reason; enabled again.
    let s = f.call("server_disable", json!({"name": "desk-files", "reason": "maintenance"})).unwrap();
    assert_eq!(s, json!({"state": "disabled", "until_ms": null, "reason": "maintenance"}));
    let d = named(&view(&f), "desk-files");
    assert_eq!(d["status"]["state"], "disabled");
    assert!(d["tools_error"].as_str().unwrap().contains("maintenance"), "{d}");
    let e = f.call("server_restart", json!({"name": "desk-files"})).unwrap_err();
    assert_eq!(e["code"], "conflict", "{e}");
    let s = f.call("server_enable", json!({"name": "desk-files"})).unwrap();
    assert_eq!(s, json!({"state": "running", "pid": pid}));

    // Restart: a new process, the old one gone, its tools listed again.
    let r = f.call("server_restart", json!({"name": "desk-files"})).unwrap();
    assert_eq!(r["status"]["state"], "running", "{r}");
    let new_pid = r["status"]["pid"].as_u64().unwrap();
    assert_ne!(new_pid, pid);
    f.wait_for("the old server process to end", |_| !alive(pid));
    assert!(alive(new_pid));
    assert!(r["tools"].as_array().unwrap().iter().any(|t| t["name"] == "read_text_file"), "{r}");

    // Unknown names say so.
    let e = f.call("server_disable", json!({"name": "nope"})).unwrap_err();
    assert_eq!(e["code"], "not_found", "{e}");
    assert!(e["message"].as_str().unwrap().contains("desk-files, desk-broken"), "{e}");
    // No server outlives the app.
    tauri::async_runtime::block_on(f.desk.shutdown());
    f.wait_for("the server to end", |_| !alive(new_pid));
}

#[test]
fn a_run_of_another_process_is_announced_to_the_windows() {
    let f = fixture();
    let changed = |f: &Fixture| f.shell.events.lock().unwrap().iter().filter(|(e, _)| e == "runs-changed").count();
    // The first look only notes where the journal is; nothing changed since.
    f.desk.watch_journal();
    f.desk.watch_journal();
    assert_eq!(changed(&f), 0);
    // Another writer of the same journal (`mend run`, `mend mcp serve`)
    // runs a job this app knows nothing of.
    let other = mend_agent::Agent::open(&f.root.join("data")).unwrap();
    let path = f.job(
        "elsewhere.toml",
        "version = 1\nname = \"elsewhere\"\n[[steps]]\nname = \"hi\"\ntool = \"exec\"\nargs = { program = \"true\" }\n",
    );
    let job = mend_agent::load::job(&path, &Config::default(), &[]).unwrap();
    let spec = mend_agent::RunSpec { job_path: Some(&path), ..mend_agent::RunSpec::new(&job, Vec::new()) };
    let approver = Arc::new(mend_core::approval::StandingApprover::Abort);
    let ended = tauri::async_runtime::block_on(other.execute(spec, approver, None, std::future::pending::<String>())).unwrap();
    assert!(matches!(ended, mend_agent::Ended::Finished(_)));
    other.close();
    f.desk.watch_journal();
    assert_eq!(changed(&f), 1, "the windows hear that the journal changed");
    let runs = f.call("runs_list", json!({})).unwrap();
    assert!(runs.as_array().unwrap().iter().any(|r| r["job"] == "elsewhere" && r["status"] == "succeeded"), "{runs:#}");
    // Once per change.
    f.desk.watch_journal();
    assert_eq!(changed(&f), 1);
}
