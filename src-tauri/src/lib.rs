//! Mend's desktop shell. Thin on purpose: commands are a few lines that call
//! the engine's crates, grouped one module per screen and registered in one
//! place ([`setup`]). The builder is generic over the runtime so tests
//! drive it with `tauri::test::mock_builder()`.
//!
//! Today it opens the main window with the journal's summary; the approval
//! popup, runs view and the background agent come with issue 3.

use std::path::PathBuf;

use tauri::{Builder, Runtime};

pub mod overview;

/// Where the desktop app keeps its journal: `MEND_DATA_DIR` or the OS default,
/// the same as the `mend` command line.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MEND_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| directories::ProjectDirs::from("", "", "mend").map(|d| d.data_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(".mend"))
}

/// Shared state of the shell.
pub struct AppState {
    /// The data directory (journal lives here).
    pub data_dir: PathBuf,
}

/// Registers the state and every command on a builder (the real one, or
/// `tauri::test::mock_builder()` in tests).
pub fn setup<R: Runtime>(builder: Builder<R>, state: AppState) -> Builder<R> {
    builder.manage(state).invoke_handler(tauri::generate_handler![overview::overview])
}

/// Runs the desktop app.
pub fn run() {
    let app = setup(Builder::default(), AppState { data_dir: data_dir() }).run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(e) = app {
        eprintln!("mend-desktop: {e}");
        std::process::exit(1);
    }
}
