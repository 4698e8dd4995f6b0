//! Settings: where things live, and start at login.

use std::sync::Arc;

use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::desk::Desk;
use crate::error::IpcError;
use crate::ipc::Settings;

/// The settings.
#[tauri::command]
pub fn settings_get<R: Runtime>(app: AppHandle<R>, desk: State<'_, Arc<Desk>>) -> Settings {
    let auto = app.try_state::<AutoLaunchManager>();
    Settings {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        journal: desk.agent().data_dir().join(mend_journal::FILE_NAME).display().to_string(),
        jobs_dir: desk.jobs_dir().display().to_string(),
        autostart: auto.as_ref().and_then(|a| a.is_enabled().ok()).unwrap_or(false),
        autostart_available: auto.is_some(),
    }
}

/// Turns start at login on or off.
#[tauri::command]
pub fn settings_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<(), IpcError> {
    let auto = app.try_state::<AutoLaunchManager>().ok_or_else(|| IpcError::unavailable("start at login is not available here"))?;
    if enabled { auto.enable() } else { auto.disable() }.map_err(|e| IpcError::unavailable(e.to_string()))
}
