//! Tauri's build step, with the config at the workspace root. The app's
//! commands are declared here so each window's capability file can allow
//! only the ones its screen needs.

/// Every command of the shell (see `setup` in `src/lib.rs`).
const COMMANDS: &[&str] = &[
    "overview",
    "runs_list",
    "run_events",
    "jobs_list",
    "job_start",
    "demo_start",
    "run_cancel",
    "run_rerun",
    "run_resume",
    "job_open",
    "approvals_pending",
    "approval_get",
    "approval_decide",
    "approval_defer",
    "approvals_show",
    "rules_list",
    "rule_forget",
    "ui_painted",
    "settings_get",
    "settings_autostart",
    "memory_view",
    "memory_search",
    "memory_save",
    "memory_raw",
    "memory_open",
    "dashboard",
    "agents_list",
    "audit_events",
    "audit_export",
    "servers_view",
    "server_disable",
    "server_enable",
    "server_restart",
];

fn main() {
    let attrs =
        tauri_build::Attributes::new().config_path("../tauri.conf.json").app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attrs).expect("tauri build step");
}
