//! The dashboard: the journal's numbers (the same as `mend metrics`) and
//! the same numbers over time, for a time range.

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

/// The numbers since `since_ms`, in buckets of `bucket_ms` (whole hours).
#[tauri::command]
pub fn dashboard(desk: State<'_, Arc<Desk>>, since_ms: i64, bucket_ms: i64) -> Result<DashboardView, IpcError> {
    let reader = desk.agent().reader()?;
    let metrics = reader.metrics(Some(since_ms))?;
    let series = reader.series(since_ms, bucket_ms)?;
    Ok(DashboardView { metrics, series })
}
