//! The header's numbers: what the journal says at a glance.

use std::sync::Arc;

use serde::Serialize;
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;

/// What the header shows.
#[derive(Debug, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Overview {
    /// Mend's version.
    pub version: String,
    /// The journal file.
    pub journal: String,
    /// Tool calls recorded.
    #[cfg_attr(test, ts(type = "number"))]
    pub calls: i64,
    /// Failures healed without a person.
    #[cfg_attr(test, ts(type = "number"))]
    pub healed: i64,
    /// Requests waiting for a person.
    #[cfg_attr(test, ts(type = "number"))]
    pub pending_approvals: i64,
    /// Runs going on in this app.
    pub live_runs: usize,
}

/// Reads the journal's headline numbers.
#[tauri::command]
pub fn overview(desk: State<'_, Arc<Desk>>) -> Result<Overview, IpcError> {
    let m = desk.agent().reader()?.metrics(None)?;
    Ok(Overview {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        journal: desk.agent().data_dir().join(mend_journal::FILE_NAME).display().to_string(),
        calls: m.calls,
        healed: m.healing.autonomous,
        pending_approvals: m.escalations.pending,
        live_runs: desk.live_jobs().len(),
    })
}
