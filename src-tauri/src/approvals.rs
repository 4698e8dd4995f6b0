//! The approval popup: the requests waiting for a person, deciding one
//! (optionally remembered), deferring, and the remembered decisions.

use std::sync::Arc;

use mend_core::approval::DecisionRule;
use tauri::{State, Webview};

use crate::desk::Desk;
use crate::error::IpcError;
use crate::ipc::{ApprovalStatus, DecideInput, DecideResult, Pending};

/// Requests waiting for a person, oldest first (the journal is the truth:
/// requests from before a restart are here too).
#[tauri::command]
pub fn approvals_pending(desk: State<'_, Arc<Desk>>) -> Result<Vec<Pending>, IpcError> {
    let pending = desk.agent().reader()?.pending_approvals()?;
    Ok(pending.into_iter().map(|request| Pending { live: desk.is_waiting_on(&request.id), request }).collect())
}

/// One request and how it was decided.
#[tauri::command]
pub fn approval_get(desk: State<'_, Arc<Desk>>, id: String) -> Result<ApprovalStatus, IpcError> {
    let (request, decision) = desk.agent().request(&id)?;
    Ok(ApprovalStatus { request, decision })
}

/// A person's decision.
#[tauri::command]
pub async fn approval_decide(desk: State<'_, Arc<Desk>>, input: DecideInput) -> Result<DecideResult, IpcError> {
    desk.inner().decide(input).await
}

/// Hides the popup; the requests stay pending.
#[tauri::command]
pub fn approval_defer(desk: State<'_, Arc<Desk>>) {
    desk.defer();
}

/// Opens (or focuses) the approval popup.
#[tauri::command]
pub fn approvals_show<R: tauri::Runtime>(app: tauri::AppHandle<R>) {
    let handle = app.clone();
    let _ = app.run_on_main_thread(move || crate::show_popup(&handle, None));
}

/// Remembered decisions.
#[tauri::command]
pub fn rules_list(desk: State<'_, Arc<Desk>>) -> Result<Vec<DecisionRule>, IpcError> {
    Ok(desk.agent().reader()?.rules()?)
}

/// Forgets a remembered decision.
#[tauri::command]
pub async fn rule_forget(desk: State<'_, Arc<Desk>>, id: String) -> Result<(), IpcError> {
    Ok(desk.agent().forget(&id).await?)
}

/// A window painted (for the benchmarks; a no-op otherwise).
#[tauri::command]
/// `page_ms` is the page's own time since its navigation started.
pub fn ui_painted<R: tauri::Runtime>(desk: State<'_, Arc<Desk>>, webview: Webview<R>, request: Option<String>, page_ms: Option<f64>) {
    desk.timing.painted(webview.label(), request.as_deref(), page_ms);
}
