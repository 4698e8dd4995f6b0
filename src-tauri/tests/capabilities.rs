//! Every command the shell registers (`generate_handler!` in src/lib.rs) is
//! declared in build.rs's app manifest and allowed to some window by a
//! capability file: Tauri 2 refuses a command that is not ("… not
//! allowed. Command not found"), which only the real app shows (the
//! browser tests mock the IPC). The dashboard's agent picker shipped so.

use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn every_registered_command_is_declared_and_allowed() {
    let lib = read("src/lib.rs");
    let list = lib.split("generate_handler![").nth(1).and_then(|r| r.split(']').next()).expect("generate_handler! in src/lib.rs");
    let registered: Vec<String> =
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.rsplit("::").next().unwrap().to_owned()).collect();
    assert!(registered.len() > 10, "{registered:?}");
    let build = read("build.rs");
    let caps = read("capabilities/main.json") + &read("capabilities/approval.json");
    for c in &registered {
        assert!(build.contains(&format!("\"{c}\"")), "`{c}` is registered but not in build.rs's COMMANDS");
        let allow = format!("\"allow-{}\"", c.replace('_', "-"));
        assert!(caps.contains(&allow), "`{c}` is registered but no capability allows it ({allow})");
    }
}
