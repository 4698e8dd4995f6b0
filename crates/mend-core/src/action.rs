//! The closed set of recovery actions and the diagnosis that picks one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recovery action. Whatever proposes it (a lesson, the policy, a model),
/// the engine validates it before anything runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Run the same call again after a delay.
    RetrySame {
        /// How long to wait first.
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
    /// The action's name as used in metrics, lessons and the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RetrySame { .. } => "retry_same",
            Action::RetryModified { .. } => "retry_modified",
            Action::UseAlternative { .. } => "use_alternative",
            Action::VerifyState => "verify_state",
            Action::AskUser { .. } => "ask_user",
            Action::Escalate => "escalate",
            Action::Abort => "abort",
        }
    }

    /// Whether the action runs a call itself (as opposed to asking or stopping).
    pub fn runs_a_call(&self) -> bool {
        matches!(self, Action::RetrySame { .. } | Action::RetryModified { .. } | Action::UseAlternative { .. } | Action::VerifyState)
    }
}

/// The names of every action, in the order of the design.
pub const ACTION_KINDS: &[&str] = &["retry_same", "retry_modified", "use_alternative", "verify_state", "ask_user", "escalate", "abort"];

/// A diagnosis: why the call failed and the one action to take.
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
