//! Human progress lines on stderr, from the engine's events.
//!
//! The commands that run jobs ignore SIGPIPE (see `main.rs`), so their
//! printing goes through [`errln`] or `let _ = writeln!`: a closed stream
//! (`mend run … 2>&1 | head -1`, a terminal gone) is not a panic.

use std::io::Write;

use mend_core::action::Action;
use mend_core::engine::Observer;
use mend_core::event::Event;
use mend_core::payload::Body;
use mend_core::report::{RunReport, StepStatus};

/// `eprintln!` that ignores a failed write (a closed pipe, a terminal gone)
/// instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use errln;

/// `errln!` without the newline, flushed (a prompt).
macro_rules! errw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut e = std::io::stderr();
        let _ = write!(e, $($arg)*);
        let _ = e.flush();
    }};
}
pub(crate) use errw;

/// Prints one line per step, failure, healing attempt and decision.
pub struct Progress;

impl Progress {
    /// A printer on stderr.
    pub fn new() -> Self {
        Progress
    }
}

impl Observer for Progress {
    fn on_event(&self, e: &Event) {
        let line = match &e.body {
            Body::StepStarted(_) => format!("▶ {}", e.message.trim_start_matches("step ")),
            Body::Call(c) if e.ok == Some(false) => {
                let message = c.outcome.error.as_ref().map(|x| x.message.as_str()).unwrap_or("");
                format!("  ✗ {} {message} ({} ms)", e.code.as_deref().unwrap_or(""), e.duration_ms.unwrap_or(0))
            }
            Body::Diagnosis(d) => {
                let d = &d.diagnosis;
                let delay = match d.action {
                    Action::RetrySame { delay_ms } => format!(" in {delay_ms} ms"),
                    _ => String::new(),
                };
                format!("  ↻ {}{delay} [{}] {}", d.action.kind(), d.layer, d.root_cause)
            }
            Body::Attempt(_) if e.ok == Some(true) => format!("  ✓ {}", e.message),
            Body::Recovery(_) => format!("  ✔ {}", e.message),
            // Information (a run going on after a crash, a decision made elsewhere) is not a stop.
            Body::Guardrail(_) if e.level == mend_core::event::Level::Info => format!("  · {}", e.message),
            // An MCP server's circuit or a fall-over to its backup is news, not a stop.
            Body::Guardrail(mend_core::payload::Guardrail::Server { .. }) => format!("  ↪ {}", e.message),
            Body::Guardrail(_) => format!("  ⛔ {}", e.message),
            Body::Escalation(req) => match &req.danger {
                // Before a call runs: which rule asked, on which simple command (issue 11).
                Some(d) => format!(
                    "  ⚠ waiting for a person: {}\n    gate: rule `{}` ({}) on `{}`: {}",
                    e.message, d.rule, d.category, d.command, d.why
                ),
                None => format!("  ⚠ waiting for a person: {}", e.message),
            },
            Body::Decision(_) => format!("  → {}", e.message),
            Body::Lesson(_) => format!("  ✎ {}", e.message),
            Body::StepFinished(_) if e.ok == Some(false) => format!("  ✘ {}", e.message),
            _ => return,
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// The closing summary on stderr.
pub fn summary(r: &RunReport) {
    let mut err = std::io::stderr().lock();
    let healed = r.steps.iter().filter(|s| matches!(s.status, StepStatus::Healed | StepStatus::Verified)).count();
    let _ = writeln!(
        err,
        "\n{} `{}` {} in {} ms — {} step(s), {} healed, {} healing attempt(s); run {}",
        if r.exit_code == 0 { "✔" } else { "✘" },
        r.job,
        r.status.as_str(),
        r.duration_ms,
        r.steps.len(),
        healed,
        r.attempts,
        r.run_id
    );
    for st in &r.steps {
        let _ =
            writeln!(err, "   {:<10} {} ({} healing attempt(s))", format!("{:?}", st.status).to_lowercase(), st.name, st.attempts.len());
    }
    // What waits, and the command that decides it (issue 12: a run left
    // waiting without a terminal names its request).
    for e in r.steps.iter().flat_map(|s| &s.escalations).filter(|e| e.decision.is_none()) {
        let _ = writeln!(
            err,
            "   ⚠ request {} waits: {}\n     decide it with `mend approvals decide {} {}` (recommended; `mend approvals show {}` for all options)",
            e.request_id, e.title, e.request_id, e.recommended, e.request_id
        );
    }
}
