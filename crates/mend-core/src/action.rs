//! The closed set of recovery actions and the diagnosis that picks one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recovery action. Whatever proposes it (a lesson, the policy, a model),
/// the engine validates it before anything runs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Run the same call again after a delay.
    RetrySame {
        /// How long to wait first, ms.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delay_ms: u64,
    },
    /// Run the same tool with changed arguments.
    RetryModified {
        /// The complete new arguments (validated against the tool's schema).
        args: Value,
    },
    /// Run one of the step's declared alternatives.
    UseAlternative {
        /// Index into the step's `alternatives`.
        index: usize,
    },
    /// Run the step's verify call: if it succeeds the goal already holds.
    VerifyState,
    /// Ask the person a question (the answer comes back as instructions).
    AskUser {
        /// The question.
        question: String,
    },
    /// Bring the decision to a person with options.
    Escalate,
    /// Stop the job.
    Abort,
}

impl Action {
    /// The action's kind, as metrics, lessons and the journal name it.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::RetrySame { .. } => ActionKind::RetrySame,
            Action::RetryModified { .. } => ActionKind::RetryModified,
            Action::UseAlternative { .. } => ActionKind::UseAlternative,
            Action::VerifyState => ActionKind::VerifyState,
            Action::AskUser { .. } => ActionKind::AskUser,
            Action::Escalate => ActionKind::Escalate,
            Action::Abort => ActionKind::Abort,
        }
    }

    /// Whether the action runs a call itself (as opposed to asking or stopping).
    pub fn runs_a_call(&self) -> bool {
        matches!(self, Action::RetrySame { .. } | Action::RetryModified { .. } | Action::UseAlternative { .. } | Action::VerifyState)
    }
}

/// The closed set of recovery actions by name (issue 15): the one place
/// their string forms live (`retry_same`, …), for reports, lessons
/// (`fix:`), metrics and the UI.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// The same call again after a wait.
    RetrySame,
    /// The same tool with changed arguments.
    RetryModified,
    /// A declared alternative.
    UseAlternative,
    /// The step's verify call.
    VerifyState,
    /// A question to a person.
    AskUser,
    /// A decision brought to a person.
    Escalate,
    /// Stop the job.
    Abort,
}

impl ActionKind {
    /// Every action, in the order of the design.
    pub const ALL: [ActionKind; 7] = [
        ActionKind::RetrySame,
        ActionKind::RetryModified,
        ActionKind::UseAlternative,
        ActionKind::VerifyState,
        ActionKind::AskUser,
        ActionKind::Escalate,
        ActionKind::Abort,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RetrySame => "retry_same",
            ActionKind::RetryModified => "retry_modified",
            ActionKind::UseAlternative => "use_alternative",
            ActionKind::VerifyState => "verify_state",
            ActionKind::AskUser => "ask_user",
            ActionKind::Escalate => "escalate",
            ActionKind::Abort => "abort",
        }
    }

    /// Reads a name; `None` when it is not one of [`ActionKind::ALL`].
    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ActionKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A diagnosis: why the call failed and the one action to take.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The action.
    #[serde(flatten)]
    pub action: Action,
    /// Why the call failed, for a person.
    pub root_cause: String,
    /// Which layer proposed it (`policy`, `lesson`, `llm`, `person`).
    pub layer: String,
    /// Tokens the diagnosis cost (0 for code-only layers).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub tokens: u64,
    /// The lesson it applies, when a lesson proposed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson: Option<String>,
    /// A model's recommendation for a person, in its words (layer `llm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    /// The model that answered (layer `llm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Diagnosis {
    /// A diagnosis from a layer.
    pub fn new(layer: &str, action: Action, root_cause: impl Into<String>) -> Self {
        Diagnosis { action, root_cause: root_cause.into(), layer: layer.to_owned(), tokens: 0, lesson: None, advice: None, model: None }
    }
}
