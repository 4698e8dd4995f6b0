//! The audit log: every event, filtered, each with its full (redacted)
//! detail, and the filtered view exported as JSON lines.

use std::io::Write;
use std::sync::Arc;

use mend_core::event::{Event, EventKind, Level};
use mend_journal::LogFilter;
use serde::Deserialize;
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;

/// What the audit log filters by; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
pub struct AuditFilter {
    /// At or after (ms since epoch).
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null", optional))]
    pub since_ms: Option<i64>,
    /// Before (ms since epoch).
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null", optional))]
    pub until_ms: Option<i64>,
    /// Only this job.
    #[serde(default)]
    pub job: Option<String>,
    /// Only this run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Only this tool.
    #[serde(default)]
    pub tool: Option<String>,
    /// Only this error code.
    #[serde(default)]
    pub code: Option<String>,
    /// At least this level.
    #[serde(default)]
    pub level: Option<Level>,
    /// Only this kind.
    #[serde(default)]
    pub kind: Option<EventKind>,
    /// The message or data contains this text.
    #[serde(default)]
    pub text: Option<String>,
    /// Only this agent's calls (issue 17: an MCP host's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// The newest this many (default 500; 0 = all, for exports).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn log_filter(f: AuditFilter, default_limit: usize) -> LogFilter {
    let some = |s: Option<String>| s.filter(|x| !x.trim().is_empty());
    LogFilter {
        min_level: f.level,
        since_ms: f.since_ms,
        until_ms: f.until_ms,
        tool: some(f.tool),
        code: some(f.code),
        run_id: some(f.run_id),
        job: some(f.job),
        kind: f.kind,
        text: some(f.text),
        agent: some(f.agent),
        limit: f.limit.unwrap_or(default_limit),
    }
}

/// The newest events matching the filter, oldest first.
#[tauri::command]
pub fn audit_events(desk: State<'_, Arc<Desk>>, filter: AuditFilter) -> Result<Vec<Event>, IpcError> {
    Ok(desk.agent().reader()?.logs(&log_filter(filter, 500))?)
}

/// Writes every event matching the filter as JSON lines into the data
/// directory's `exports` folder; returns the file.
#[tauri::command]
pub fn audit_export(desk: State<'_, Arc<Desk>>, filter: AuditFilter) -> Result<String, IpcError> {
    let reader = desk.agent().reader()?;
    let events = reader.logs(&log_filter(AuditFilter { limit: Some(filter.limit.unwrap_or(0)), ..filter }, 0))?;
    let dir = desk.agent().data_dir().join("exports");
    let io = |e: std::io::Error| IpcError::io(&dir, e);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(format!("mend-events-{}.jsonl", mend_core::clock::now_ms()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    for e in &events {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    Ok(path.display().to_string())
}
