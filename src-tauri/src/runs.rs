//! The runs screen: the jobs folder, live and past runs, each run's events
//! (its steps and every healing attempt), start, cancel, re-run, open.

use std::path::PathBuf;
use std::sync::Arc;

use mend_core::event::Event;
use mend_journal::{LogFilter, RunRow};
use tauri::State;

use crate::desk::Desk;
use crate::ipc::JobsView;

/// The newest runs.
#[tauri::command]
pub fn runs_list(desk: State<'_, Arc<Desk>>, limit: Option<usize>) -> Result<Vec<RunRow>, String> {
    desk.agent().reader().and_then(|r| Ok(r.runs(limit.unwrap_or(100))?)).map_err(|e| e.to_string())
}

/// Every event of one run, oldest first.
#[tauri::command]
pub fn run_events(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<Vec<Event>, String> {
    let filter = LogFilter { run_id: Some(run_id), limit: 10_000, ..LogFilter::default() };
    desk.agent().reader().and_then(|r| Ok(r.logs(&filter)?)).map_err(|e| e.to_string())
}

/// The jobs folder and its files.
#[tauri::command]
pub fn jobs_list(desk: State<'_, Arc<Desk>>) -> JobsView {
    desk.jobs()
}

/// Starts a job file; returns the run id.
#[tauri::command]
pub async fn job_start(desk: State<'_, Arc<Desk>>, path: String) -> Result<String, String> {
    desk.inner().start_path(&PathBuf::from(path)).await
}

/// Starts the bundled demo; returns the run id.
#[tauri::command]
pub async fn demo_start(desk: State<'_, Arc<Desk>>) -> Result<String, String> {
    desk.inner().start_demo().await
}

/// Cancels a live run.
#[tauri::command]
pub fn run_cancel(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<(), String> {
    desk.cancel(&run_id)
}

/// Runs a past run's job file again; returns the new run id.
#[tauri::command]
pub async fn run_rerun(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<String, String> {
    desk.inner().rerun(&run_id).await
}

/// Goes on with a run whose process ended before it did (an earlier
/// session, a killed `mend run`), as its journal tells; a call that may
/// have run asks first (issue 12). Returns the run id.
#[tauri::command]
pub async fn run_resume(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<String, String> {
    desk.inner().resume_run(&run_id).await
}

/// Opens a job file (or the jobs folder) in the system's editor.
#[tauri::command]
pub fn job_open(desk: State<'_, Arc<Desk>>, path: String) -> Result<(), String> {
    desk.shell().open_path(&PathBuf::from(path))
}
