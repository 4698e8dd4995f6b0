//! MEMORY.md under many writers (issue 13): twenty `mend memory` processes
//! adding and editing at once, and a person's editor appending lessons
//! meanwhile. Every add, edit and append is there exactly once, and every
//! process exits 0.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mend(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mend"));
    c.env("MEND_DATA_DIR", data)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env_remove("MEND_MEMORY")
        .env_remove("MEND_CONFIG")
        .stdin(Stdio::null());
    c
}

#[test]
fn twenty_writers_and_an_editor_lose_nothing() {
    for round in 0..3 {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        // Lessons to edit, written one at a time first.
        for k in 0..10 {
            let o = mend(&data)
                .args(["memory", "add", "--section", "edits", "--id", &format!("e-{k}"), "--text", &format!("before {k}")])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let file = data.join("MEMORY.md");
        let mut children = Vec::new();
        for k in 0..10 {
            children.push((
                format!("add par-{k}"),
                mend(&data)
                    .args(["memory", "add", "--section", "par", "--id", &format!("par-{k}"), "--text", &format!("parallel {k}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
            children.push((
                format!("edit e-{k}"),
                mend(&data)
                    .args(["memory", "edit", &format!("e-{k}"), "--text", &format!("after {k}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
        }
        // A person's editor appends lessons at the end of the file meanwhile.
        for k in 0..10 {
            let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
            write!(f, "\n## editor {round}-{k}\n\n- typed by hand {k}\n  - id: ext-{k}\n").unwrap();
            drop(f);
            std::thread::sleep(Duration::from_millis(15));
        }
        for (what, c) in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{what}: exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for k in 0..10 {
            assert_eq!(text.matches(&format!("id: par-{k}\n")).count(), 1, "round {round}: add par-{k}\n{text}");
            assert_eq!(text.matches(&format!("after {k}\n")).count(), 1, "round {round}: edit e-{k}\n{text}");
            assert_eq!(text.matches(&format!("before {k}\n")).count(), 0, "round {round}: edit e-{k}\n{text}");
            assert_eq!(text.matches(&format!("id: ext-{k}\n")).count(), 1, "round {round}: the editor's append {k}\n{text}");
        }
        let o = mend(&data).args(["memory", "check"]).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.contains("duplicate"), "round {round}: {out}");
    }
}

/// Issue 13: a run whose calls all succeed never reads the memory (here:
/// not even creates it); a run with a failure looks lessons up.
#[test]
fn a_run_that_does_not_fail_never_reads_the_memory() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let job = d.path().join("ok.toml");
    std::fs::write(&job, "name = \"ok\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { program = \"true\" }\n").unwrap();
    let o = mend(&data).args(["--no-llm", "run", "--approve", "wait"]).arg(&job).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!data.join("MEMORY.md").exists(), "the memory was not opened");
    assert!(!data.join("index").exists(), "nor its index");
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { program = \"false\" }\nmax_attempts = 1\n")
        .unwrap();
    let _ = mend(&data).args(["--no-llm", "run", "--approve", "abort"]).arg(&bad).output().unwrap();
    assert!(data.join("MEMORY.md").exists(), "a failure looks lessons up");
}

/// Issue 13: `mend memory search` answers from the index when it was built
/// from the file as it is, and shows each lesson where it is now — also
/// after an edit above it moved it, or an editor changed the file.
#[test]
fn search_shows_lessons_where_they_are_after_edits() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let file = d.path().join("MEMORY.md");
    std::fs::write(
        &file,
        "## a\n\n- first lesson\n  - id: first\n\n## b\n\n- kiwi shortage in the shop\n  - fix: retry_same\n  - id: kiwi\n",
    )
    .unwrap();
    let search = || {
        let o = mend(&data).arg("memory").arg("--memory").arg(&file).args(["search", "kiwi", "--json"]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
        v
    };
    let line_of = |id: &str| {
        let text = std::fs::read_to_string(&file).unwrap();
        let at = text.find(&format!("id: {id}")).unwrap();
        let item = text[..at].rfind("\n- ").unwrap() + 1;
        text[..item].matches('\n').count() as u64 + 1
    };
    let v = search();
    assert_eq!(
        (v["id"].as_str(), v["line"].as_u64(), v["fix"]["action"].as_str()),
        (Some("kiwi"), Some(line_of("kiwi")), Some("retry_same"))
    );
    let v = search(); // from the index alone, the same answer
    assert_eq!(v["line"].as_u64(), Some(line_of("kiwi")));
    // An add above moves it.
    let o = mend(&data)
        .arg("memory")
        .arg("--memory")
        .arg(&file)
        .args(["add", "--section", "a", "--text", "another", "--id", "another"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(search()["line"].as_u64(), Some(line_of("kiwi")));
    // An editor moves it too.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("# My lessons\n\nSome words first.\n\n{text}")).unwrap();
    assert_eq!(search()["line"].as_u64(), Some(line_of("kiwi")));
    // And a changed fix shows.
    let o = mend(&data).arg("memory").arg("--memory").arg(&file).args(["edit", "kiwi", "--fix", "verify_state"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(search()["fix"]["action"].as_str(), Some("verify_state"));
}

/// Issue 13, red team: a person's editor that saves in place (truncate,
/// then write, with a pause in between) while Mend writes: Mend waits for
/// the save to finish and merges into it; nothing of either is lost.
#[test]
fn an_editor_saving_in_place_meanwhile_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let file = d.path().join("MEMORY.md");
    let mut text = String::from("## hand\n\n");
    for k in 0..30 {
        text.push_str(&format!("- lesson {k} written by hand\n  - id: hand-{k}\n"));
    }
    std::fs::write(&file, &text).unwrap();
    // Mend has written it once (its lock file knows the file as it was).
    let o = mend(&data)
        .arg("memory")
        .arg("--memory")
        .arg(&file)
        .args(["add", "--section", "m", "--id", "first", "--text", "first"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let saved = std::fs::read_to_string(&file).unwrap() + "- the person's new lesson\n  - id: theirs\n";
    let editor = std::thread::spawn({
        let (file, saved) = (file.clone(), saved.clone());
        move || {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&file).unwrap();
            f.write_all(&saved.as_bytes()[..saved.len() / 2]).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(700));
            f.write_all(&saved.as_bytes()[saved.len() / 2..]).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let o = mend(&data)
        .arg("memory")
        .arg("--memory")
        .arg(&file)
        .args(["add", "--section", "m", "--id", "ours", "--text", "ours"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    editor.join().unwrap();
    let now = std::fs::read_to_string(&file).unwrap();
    for k in 0..30 {
        assert_eq!(now.matches(&format!("id: hand-{k}\n")).count(), 1, "hand-{k}:\n{now}");
    }
    for id in ["first", "ours", "theirs"] {
        assert_eq!(now.matches(&format!("id: {id}\n")).count(), 1, "{id}:\n{now}");
    }
}
