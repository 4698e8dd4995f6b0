//! The dashboard: the journal's numbers (the same as `mend metrics`) and
//! the same numbers over time, for a time range — every call's, or one
//! agent's (issue 17) — and the agents the pickers list.

use std::sync::Arc;

use mend_journal::{Metrics, Series};
use serde::Serialize;
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;

/// What the dashboard draws.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DashboardView {
    /// Totals for the range, as `mend metrics --since` computes them.
    pub metrics: Metrics,
    /// The same over time.
    pub series: Series,
}

/// An agent whose calls the journal holds (issue 17): an MCP host through
/// `mend mcp serve` (its `clientInfo.name`), `claude-code` through its hook.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AgentSeen {
    /// Its name, as the journal holds it.
    pub name: String,
    /// The tool calls it made in the range.
    #[cfg_attr(test, ts(type = "number"))]
    pub calls: i64,
}

/// The numbers since `since_ms`, in buckets of `bucket_ms` (whole hours):
/// every call's (from the rollups), or only `agent`'s (from its events).
#[tauri::command]
pub fn dashboard(desk: State<'_, Arc<Desk>>, since_ms: i64, bucket_ms: i64, agent: Option<String>) -> Result<DashboardView, IpcError> {
    let reader = desk.agent().reader()?;
    let (metrics, series) = match agent.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => reader.agent_dashboard(a, since_ms, bucket_ms)?,
        None => (reader.metrics(Some(since_ms))?, reader.series(since_ms, bucket_ms)?),
    };
    Ok(DashboardView { metrics, series })
}

/// The agents seen since `since_ms` (all time without it), most calls
/// first: the dashboard's and the audit log's agent pickers. Asked apart
/// from the numbers: it reads every agent event of the range, which the
/// numbers of all calls (rollups) never do.
#[tauri::command]
pub fn agents_list(desk: State<'_, Arc<Desk>>, since_ms: Option<i64>) -> Result<Vec<AgentSeen>, IpcError> {
    Ok(desk.agent().reader()?.agents(since_ms)?.into_iter().map(|(name, calls)| AgentSeen { name, calls }).collect())
}
