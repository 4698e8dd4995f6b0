//! The overview screen: what the journal says at a glance.

use serde::Serialize;
use tauri::State;

use crate::AppState;

/// What the overview shows.
#[derive(Debug, Serialize, PartialEq)]
pub struct Overview {
    /// Mend's version.
    pub version: String,
    /// The journal file.
    pub journal: String,
    /// Tool calls recorded.
    pub calls: i64,
    /// Failures healed without a person.
    pub healed: i64,
    /// Requests waiting for a person.
    pub pending_approvals: i64,
}

/// Reads the journal's headline numbers.
#[tauri::command]
pub fn overview(state: State<'_, AppState>) -> Result<Overview, String> {
    let path = state.data_dir.join(mend_journal::FILE_NAME);
    let reader = mend_journal::Reader::open(&path).map_err(|e| e.to_string())?;
    let m = reader.metrics(None).map_err(|e| e.to_string())?;
    Ok(Overview {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        journal: path.display().to_string(),
        calls: m.calls,
        healed: m.healing.autonomous,
        pending_approvals: m.escalations.pending,
    })
}

#[cfg(test)]
mod tests {
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
    use tauri::webview::InvokeRequest;

    use crate::{AppState, setup};

    #[test]
    fn overview_reads_the_journal_through_ipc() {
        let dir = tempfile::tempdir().unwrap();
        let app = setup(mock_builder(), AppState { data_dir: dir.path().to_path_buf() }).build(mock_context(noop_assets())).unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        let res = get_ipc_response(
            &webview,
            InvokeRequest {
                cmd: "overview".into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::default(),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<serde_json::Value>().unwrap());
        let v = res.unwrap();
        assert_eq!(v["calls"], 0);
        assert_eq!(v["pending_approvals"], 0);
        assert!(v["journal"].as_str().unwrap().ends_with("journal.sqlite3"));
    }
}
