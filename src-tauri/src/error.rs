//! The one error every command returns: a closed code the UI decides by
//! (a conflict offers to reload, a bad field is shown at its place, not
//! found says so, internal says it is a bug), a message for a person, and
//! where the input is wrong when that is known. Built from the errors the
//! commands meet, so a command is `?` and nothing turns into a bare string.

use mend_agent::AgentError;
use mend_agent::load::LoadError;
use mend_agent::memory::MemoryError;
use mend_memory::edit::EditError;
use mend_memory::store::StoreError;
use serde::Serialize;

/// What kind of failure, for the UI to show it as it should.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum IpcErrorCode {
    /// The input contradicts what holds now (decided by someone else, a
    /// run that ended, a file changed meanwhile): reload and look again.
    Conflict,
    /// The input is wrong; `place` names the field or file place if known.
    BadInput,
    /// What the input names does not exist (a request, run, lesson, rule).
    NotFound,
    /// It cannot be done here (no memory file, no file opener, no start
    /// at login on this system): not a bug, not the input's fault.
    Unavailable,
    /// The journal, the disk or the app failed: a bug or a broken machine.
    Internal,
}

/// A command's error as the UI receives it: `{ code, message, place? }`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct IpcError {
    /// The kind.
    pub code: IpcErrorCode,
    /// What happened, for a person.
    pub message: String,
    /// Where the input is wrong: a form field (`option`, `fix`,
    /// `fix_args`) or a file place (`jobs/sync.toml:5:3 steps[0].tool`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub place: Option<String>,
}

impl IpcError {
    /// An error of kind `code`.
    pub fn new(code: IpcErrorCode, message: impl Into<String>) -> Self {
        IpcError { code, message: message.into(), place: None }
    }

    /// A [`Conflict`](IpcErrorCode::Conflict).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::Conflict, message)
    }

    /// A [`BadInput`](IpcErrorCode::BadInput) at `place`.
    pub fn bad_input_at(place: impl Into<String>, message: impl Into<String>) -> Self {
        IpcError { place: Some(place.into()), ..Self::new(IpcErrorCode::BadInput, message) }
    }

    /// A [`NotFound`](IpcErrorCode::NotFound).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::NotFound, message)
    }

    /// An [`Unavailable`](IpcErrorCode::Unavailable).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::Unavailable, message)
    }

    /// An [`Internal`](IpcErrorCode::Internal).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::Internal, message)
    }

    /// An I/O failure on `path`: internal (the disk, not the input).
    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Self::internal(format!("{}: {e}", path.display()))
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IpcError {}

impl From<AgentError> for IpcError {
    fn from(e: AgentError) -> Self {
        let message = e.to_string();
        match e {
            AgentError::BadInput { place, .. } => IpcError { code: IpcErrorCode::BadInput, message, place },
            AgentError::NotFound(_) => Self::not_found(message),
            AgentError::Conflict(_) => Self::conflict(message),
            AgentError::Internal(_) => Self::internal(message),
        }
    }
}

impl From<mend_core::engine::EngineError> for IpcError {
    fn from(e: mend_core::engine::EngineError) -> Self {
        use mend_core::engine::EngineError;
        use mend_core::event::JournalError;
        let message = e.to_string();
        match e {
            EngineError::Journal(JournalError::NotFound(_)) => Self::not_found(message),
            EngineError::Safety(_) => Self::bad_input_at("safety", message),
            EngineError::Resume(_) | EngineError::Ownership(_) => Self::conflict(message),
            EngineError::Journal(_) => Self::internal(message),
        }
    }
}

impl From<LoadError> for IpcError {
    fn from(e: LoadError) -> Self {
        IpcError { code: IpcErrorCode::BadInput, message: e.message, place: e.place }
    }
}

impl From<mend_journal::Error> for IpcError {
    fn from(e: mend_journal::Error) -> Self {
        Self::internal(e.to_string())
    }
}

impl From<MemoryError> for IpcError {
    fn from(e: MemoryError) -> Self {
        let message = e.to_string();
        match e {
            MemoryError::Store(StoreError::Conflict { .. }) => Self::conflict(message),
            MemoryError::Store(StoreError::Edit(EditError::NoLesson(_) | EditError::NoSection(_))) => Self::not_found(message),
            MemoryError::Store(StoreError::Edit(_)) => Self::new(IpcErrorCode::BadInput, message),
            MemoryError::Store(StoreError::NotUtf8 { path, line }) => Self::bad_input_at(format!("{path}:{line}"), message),
            _ => Self::internal(message),
        }
    }
}

impl From<serde_json::Error> for IpcError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_ui_reads_it() {
        let e = IpcError::bad_input_at("option", "`x` is not an option");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "bad_input", "message": "`x` is not an option", "place": "option"})
        );
        let e = IpcError::not_found("no approval request `r`");
        assert_eq!(serde_json::to_value(&e).unwrap(), serde_json::json!({"code": "not_found", "message": "no approval request `r`"}));
    }

    #[test]
    fn agent_errors_keep_their_kind_message_and_place() {
        let cases = [
            (AgentError::bad_input_at("remember", "not about a failure"), IpcErrorCode::BadInput, Some("remember")),
            (AgentError::NotFound("no run `r`".into()), IpcErrorCode::NotFound, None),
            (AgentError::Conflict("already decided".into()), IpcErrorCode::Conflict, None),
            (AgentError::Internal("disk full".into()), IpcErrorCode::Internal, None),
        ];
        for (agent, code, place) in cases {
            let message = agent.to_string();
            let e = IpcError::from(agent);
            assert_eq!((e.code, e.message.as_str(), e.place.as_deref()), (code, message.as_str(), place));
        }
    }

    #[test]
    fn memory_errors_by_whose_problem_it_is() {
        let conflict = MemoryError::Store(StoreError::Conflict {
            path: "MEMORY.md".into(),
            conflict: Box::new(mend_memory::store::Conflict { theirs: "a".into(), ours: "b".into(), reason: "same lesson".into() }),
        });
        assert_eq!(IpcError::from(conflict).code, IpcErrorCode::Conflict);
        assert_eq!(IpcError::from(MemoryError::Store(EditError::NoLesson("x".into()).into())).code, IpcErrorCode::NotFound);
        assert_eq!(IpcError::from(MemoryError::Store(EditError::Empty.into())).code, IpcErrorCode::BadInput);
        let io = MemoryError::Io { path: "MEMORY.md".into(), message: "denied".into() };
        assert_eq!(IpcError::from(io).code, IpcErrorCode::Internal);
    }
}
