//! The runs screen: the jobs folder, live and past runs, each run's events
//! (its steps and every healing attempt), start, cancel, re-run, open.

use std::path::PathBuf;
use std::sync::Arc;

use mend_core::event::Event;
use mend_journal::{LogFilter, RunRow};
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;
use crate::ipc::JobsView;

/// The newest runs.
#[tauri::command]
pub fn runs_list(desk: State<'_, Arc<Desk>>, limit: Option<usize>) -> Result<Vec<RunRow>, IpcError> {
    Ok(desk.agent().reader()?.runs(limit.unwrap_or(100))?)
}

/// Every event of one run, oldest first.
#[tauri::command]
pub fn run_events(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<Vec<Event>, IpcError> {
    let filter = LogFilter { run_id: Some(run_id), limit: 10_000, ..LogFilter::default() };
    Ok(desk.agent().reader()?.logs(&filter)?)
}

/// The jobs folder and its files.
#[tauri::command]
pub fn jobs_list(desk: State<'_, Arc<Desk>>) -> JobsView {
    desk.jobs()
}

/// Starts a job file; returns the run id.
#[tauri::command]
pub async fn job_start(desk: State<'_, Arc<Desk>>, path: String) -> Result<String, IpcError> {
    desk.inner().start_path(&PathBuf::from(path)).await
}

/// Starts the bundled demo; returns the run id.
#[tauri::command]
pub async fn demo_start(desk: State<'_, Arc<Desk>>) -> Result<String, IpcError> {
    desk.inner().start_demo().await
}

/// Cancels a live run.
#[tauri::command]
pub fn run_cancel(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<(), IpcError> {
    desk.cancel(&run_id)
}

/// Runs a past run's job file again; returns the new run id.
#[tauri::command]
pub async fn run_rerun(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<String, IpcError> {
    desk.inner().rerun(&run_id).await
}

/// Goes on with a run whose process ended before it did (an earlier
/// session, a killed `mend run`), as its journal tells; a call that may
/// have run asks first (issue 12). Returns the run id.
#[tauri::command]
pub async fn run_resume(desk: State<'_, Arc<Desk>>, run_id: String) -> Result<String, IpcError> {
    desk.inner().resume_run(&run_id).await
}

/// Opens a job file (or the jobs folder) in the system's editor.
#[tauri::command]
pub fn job_open(desk: State<'_, Arc<Desk>>, path: String) -> Result<(), IpcError> {
    desk.shell().open_path(&PathBuf::from(path)).map_err(IpcError::unavailable)
}
