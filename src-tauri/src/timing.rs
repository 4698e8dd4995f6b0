//! Marks for the desktop benchmarks (`scripts/bench-desktop.sh`): when
//! `MEND_BENCH_LOG` names a file, the app appends one JSON line per mark —
//! first paint of each window, escalation to popup painted, click to the
//! run going on. Without it, nothing is recorded.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::Instant;

use mend_core::clock::now_ms;
use serde_json::json;

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Notes the process's start; call first thing in `main`.
pub fn process_started() {
    let _ = PROCESS_START.set(Instant::now());
}

/// When a request was raised, and when a person clicked (window clock, ms).
type Marks = (Option<Instant>, Option<i64>);

/// The benchmark marks.
pub struct Timing {
    file: Option<PathBuf>,
    /// Escalations and clicks by request id, waiting for their paint or
    /// resume (a std mutex: short map edits only).
    marks: Mutex<HashMap<String, Marks>>,
}

impl Timing {
    /// Records to `MEND_BENCH_LOG` if set.
    pub fn from_env() -> Timing {
        Timing { file: std::env::var_os("MEND_BENCH_LOG").map(PathBuf::from), marks: Mutex::new(HashMap::new()) }
    }

    fn write(&self, line: serde_json::Value) {
        let Some(path) = &self.file else { return };
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// A request was raised.
    pub fn escalated(&self, id: &str) {
        if self.file.is_some()
            && let Ok(mut m) = self.marks.lock()
        {
            m.entry(id.to_owned()).or_default().0 = Some(Instant::now());
        }
    }

    /// A window painted; for the popup, `request` is what it shows.
    pub fn painted(&self, window: &str, request: Option<&str>, page_ms: Option<f64>) {
        if self.file.is_none() {
            return;
        }
        let since_start = PROCESS_START.get().map(|t| t.elapsed().as_secs_f64() * 1000.0);
        let since_escalation = request
            .and_then(|id| self.marks.lock().ok().and_then(|mut m| m.get_mut(id).and_then(|e| e.0.take())))
            .map(|t| t.elapsed().as_secs_f64() * 1000.0);
        self.write(json!({"mark": "painted", "epoch_ms": now_ms(), "window": window, "request": request, "ms_since_start": since_start, "ms_since_escalation": since_escalation, "page_ms": page_ms}));
    }

    /// A person clicked an option (`clicked_ms` is the window's clock).
    pub fn clicked(&self, id: &str, clicked_ms: Option<i64>) {
        if self.file.is_some()
            && let Ok(mut m) = self.marks.lock()
        {
            m.entry(id.to_owned()).or_default().1 = Some(clicked_ms.unwrap_or_else(now_ms));
        }
    }

    /// The engine journaled the decision and goes on.
    pub fn resumed(&self, id: &str, at_ms: i64) {
        if self.file.is_none() {
            return;
        }
        let clicked = self.marks.lock().ok().and_then(|mut m| m.get_mut(id).and_then(|e| e.1.take()));
        if let Some(c) = clicked {
            self.write(json!({"mark": "resumed", "request": id, "ms_click_to_resume": at_ms - c}));
        }
    }
}
