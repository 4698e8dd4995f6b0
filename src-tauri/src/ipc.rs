//! The IPC types the shell exchanges with the web UI that are not the
//! engine's own (those — requests, decisions, events, runs — are shared
//! as they are). `ui/src/ipc.ts` is generated from all of them by a test
//! (`MEND_BLESS=1 cargo test -p mend-desktop ipc`), and the test fails when
//! the copy is stale, so the UI cannot drift from Rust.

use mend_core::approval::{ApprovalRequest, Decision, DecisionRule};
use serde::{Deserialize, Serialize};

/// The jobs folder, as the runs screen lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobsView {
    /// The folder.
    pub dir: String,
    /// Its job files, in name order.
    pub jobs: Vec<JobEntry>,
    /// Why the folder could not be read.
    pub error: Option<String>,
}

/// One job file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobEntry {
    /// The file.
    pub path: String,
    /// The job's name (the file's name when it does not load).
    pub name: String,
    /// The job's description.
    pub description: Option<String>,
    /// How many steps.
    pub steps: usize,
    /// Its schedule, described.
    pub schedule: Option<String>,
    /// When it is next due (ms since epoch).
    #[cfg_attr(test, ts(type = "number | null"))]
    pub next_ms: Option<i64>,
    /// Why it does not load: file, line, field.
    pub error: Option<String>,
    /// A run of it is going on.
    pub running: bool,
}

/// A run of the app ended (the `run-ended` event to the windows).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunEnded {
    /// The run.
    pub run_id: String,
    /// How it ended.
    pub status: mend_core::payload::RunEnd,
    /// Its exit code, as `mend run` would give it.
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it could not run (the journal failed, a bad job), by kind.
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::IpcError>,
}

/// A person's answer, from a window.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DecideInput {
    /// The request.
    pub id: String,
    /// The chosen option's id.
    pub option: String,
    /// Free-text instructions.
    #[serde(default)]
    pub note: Option<String>,
    /// Remember the decision for later requests.
    #[serde(default)]
    pub remember: Option<mend_agent::Remember>,
    /// When the person clicked (ms since epoch, the window's clock), for the
    /// click-to-resume benchmark.
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null"))]
    pub clicked_ms: Option<i64>,
}

/// What a decision did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DecideResult {
    /// The run goes on (answered live, or resumed).
    pub resumed: bool,
    /// The rule stored, when the person asked to remember.
    pub rule: Option<DecisionRule>,
    /// Other waiting requests the new rule answered.
    pub also_decided: Vec<String>,
}

/// A request waiting for a person.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Pending {
    /// The request.
    pub request: ApprovalRequest,
    /// A run of this app waits on it now; otherwise deciding resumes its run.
    pub live: bool,
}

/// A request and its decision, if any.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ApprovalStatus {
    /// The request.
    pub request: ApprovalRequest,
    /// How it was decided.
    pub decision: Option<Decision>,
}

/// The app's settings and where things live.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Settings {
    /// Mend's version.
    pub version: String,
    /// The journal file.
    pub journal: String,
    /// The jobs folder.
    pub jobs_dir: String,
    /// Start at login.
    pub autostart: bool,
    /// Whether start at login can be changed here.
    pub autostart_available: bool,
}

#[cfg(test)]
mod tests {
    use mend_core::approval::*;
    use mend_core::event::{Event, EventKind, Level};
    use ts_rs::TS;

    use super::*;
    use crate::overview::Overview;

    #[test]
    fn ipc_types_in_the_ui_match_rust() {
        let decls = [
            <serde_json::Value as TS>::decl(),
            ApprovalKind::decl(),
            Choice::decl(),
            ApprovalOption::decl(),
            OnTimeout::decl(),
            Danger::decl(),
            ApprovalRequest::decl(),
            RuleScope::decl(),
            DecisionRule::decl(),
            Decision::decl(),
            DecidedBy::decl(),
            EventKind::decl(),
            Level::decl(),
            Event::decl(),
            mend_core::payload::RunStarted::decl(),
            mend_core::payload::BudgetInfo::decl(),
            mend_core::payload::RunFinished::decl(),
            mend_core::payload::RunEnd::decl(),
            mend_core::payload::StepStarted::decl(),
            mend_core::payload::StepFinished::decl(),
            mend_core::report::StepStatus::decl(),
            mend_core::payload::CallStarted::decl(),
            mend_core::payload::CallPurpose::decl(),
            mend_core::tool::IdempotencyKey::decl(),
            mend_core::payload::CallMade::decl(),
            mend_core::outcome::Outcome::decl(),
            mend_core::outcome::Status::decl(),
            mend_core::outcome::Severity::decl(),
            mend_core::outcome::ToolError::decl(),
            mend_core::payload::Diagnosed::decl(),
            mend_core::action::Diagnosis::decl(),
            mend_core::action::Action::decl(),
            mend_core::action::ActionKind::decl(),
            mend_core::payload::Rejected::decl(),
            mend_core::payload::LessonSeen::decl(),
            mend_core::payload::Attempted::decl(),
            mend_core::report::AttemptReport::decl(),
            mend_core::report::ArgChange::decl(),
            mend_core::payload::Recovered::decl(),
            mend_core::payload::Guardrail::decl(),
            mend_core::payload::ServerChange::decl(),
            mend_core::payload::DecisionMade::decl(),
            mend_core::payload::LessonChanged::decl(),
            mend_core::report::LessonChange::decl(),
            mend_journal::RunRow::decl(),
            mend_agent::Remember::decl(),
            JobsView::decl(),
            JobEntry::decl(),
            DecideInput::decl(),
            DecideResult::decl(),
            RunEnded::decl(),
            Pending::decl(),
            ApprovalStatus::decl(),
            Settings::decl(),
            Overview::decl(),
            mend_agent::memory::Finding::decl(),
            crate::memory::MemoryView::decl(),
            crate::memory::SectionView::decl(),
            crate::memory::LessonView::decl(),
            crate::memory::LessonInput::decl(),
            crate::memory::MemoryEdit::decl(),
            crate::memory::SaveResult::decl(),
            crate::memory::HitView::decl(),
            mend_journal::ActionRate::decl(),
            mend_journal::Recovery::decl(),
            mend_journal::Healing::decl(),
            mend_journal::Escalations::decl(),
            mend_journal::Failing::decl(),
            mend_journal::Metrics::decl(),
            mend_journal::SeriesLine::decl(),
            mend_journal::Series::decl(),
            crate::dashboard::DashboardView::decl(),
            crate::dashboard::AgentSeen::decl(),
            crate::audit::AuditFilter::decl(),
            crate::servers::ServerStatus::decl(),
            crate::servers::ServerTool::decl(),
            crate::servers::ServerView::decl(),
            crate::error::IpcErrorCode::decl(),
            crate::error::IpcError::decl(),
        ];
        let mut out = String::from(
            "// The IPC types shared with Rust, generated by\n// `MEND_BLESS=1 cargo test -p mend-desktop ipc` — do not edit by hand.\n\n/* eslint-disable */\n",
        );
        for d in decls {
            out.push_str("export ");
            out.push_str(&d);
            out.push_str("\n\n");
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/ipc.ts");
        if std::env::var_os("MEND_BLESS").is_some() {
            std::fs::write(&path, &out).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == out, "ui/src/ipc.ts is stale: run `MEND_BLESS=1 cargo test -p mend-desktop ipc` and rebuild the UI");
    }
}
