//! Mend's memory: `memory/MEMORY.md`, the file a person reads and edits in
//! any editor and the agent's long-term knowledge of what fixes what.
//!
//! - [`parse`] reads the file with pulldown-cmark's byte offsets: `##`
//!   sections, lessons as top-level list items, and each lesson's optional
//!   fields (the convention is in `docs/memory-format.md`). Whatever cannot
//!   be understood is reported as a [`Problem`] with its line; the rest is
//!   used. Nothing is truncated.
//! - [`edit`] changes one lesson or section by splicing the original text:
//!   every other byte of the file stays identical.
//! - [`store`] writes atomically and refuses lost updates: an edit based on
//!   an older version is merged when it touches a lesson nobody else
//!   changed, and is a [`store::Conflict`] otherwise.

pub mod edit;
pub mod index;
pub mod store;
pub mod synth;

mod parse;

pub use parse::parse;

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The starter lessons shipped with Mend (`memory/MEMORY.md`), written to
/// a new memory file.
pub const STARTER: &str = include_str!("../../../memory/MEMORY.md");

/// The recovery actions a lesson may name as its fix (the engine's closed set).
pub const ACTIONS: &[&str] = &["retry_same", "retry_modified", "use_alternative", "verify_state", "ask_user", "escalate", "abort"];

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// Sections in file order; lessons before the first `##` heading are in
    /// a section with an empty title.
    pub sections: Vec<Section>,
    /// What could not be understood, with its line.
    pub problems: Vec<Problem>,
}

impl Memory {
    /// Every lesson, in file order.
    pub fn lessons(&self) -> impl Iterator<Item = &Lesson> {
        self.sections.iter().flat_map(|s| s.lessons.iter())
    }

    /// A lesson by id.
    pub fn lesson(&self, id: &str) -> Option<&Lesson> {
        self.lessons().find(|l| l.id == id)
    }

    /// A section by title (case-insensitive).
    pub fn section(&self, title: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.title.eq_ignore_ascii_case(title.trim()))
    }
}

/// A `##` section: a topic (a tool, a service, an environment).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The heading's text.
    pub title: String,
    /// The bytes of the whole section: heading to the next `#`/`##` heading.
    pub range: Range<usize>,
    /// The heading line's bytes (empty for the part before any heading).
    pub heading: Range<usize>,
    /// Its lessons.
    pub lessons: Vec<Lesson>,
}

/// What a lesson applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct When {
    /// The tool (`http`, `exec`, …).
    pub tool: Option<String>,
    /// The error code (`RATE_LIMITED`, …).
    pub code: Option<String>,
    /// Text the error message or target contains.
    pub matches: Vec<String>,
}

impl When {
    /// Nothing to match on.
    pub fn is_empty(&self) -> bool {
        self.tool.is_none() && self.code.is_none() && self.matches.is_empty()
    }
}

/// What fixes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// One of [`ACTIONS`].
    pub action: String,
    /// Arguments to change (for `retry_modified`) or other parameters.
    pub args: Option<serde_json::Value>,
}

impl Fix {
    /// Whether `action` is one of [`ACTIONS`]; the error says which are.
    pub fn check_action(action: &str) -> Result<(), String> {
        if ACTIONS.contains(&action) { Ok(()) } else { Err(format!("unknown action `{action}`; one of {}", ACTIONS.join(", "))) }
    }

    /// A fix's arguments as written (JSON).
    pub fn parse_args(text: &str) -> Result<serde_json::Value, String> {
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
    }

    /// Whether it records a person's choice (`escalate {"recommend": …}`):
    /// a recommendation for the next request, never applied by itself.
    pub fn records_choice(&self) -> bool {
        self.action == "escalate" && self.args.as_ref().is_some_and(|a| a.get("recommend").is_some())
    }
}

/// Where a lesson came from and how it has done.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// Times the failure was seen and this lesson applied or learned.
    pub seen: u32,
    /// Last seen (`YYYY-MM-DD`).
    pub last: Option<String>,
    /// How it went the last time (`healed`, `failed`, `decided`, …).
    pub outcome: Option<String>,
    /// Times its fix was tried and did not work.
    pub failures: u32,
}

/// One lesson: a top-level list item of a section.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// Stable id: the `id:` field, or one derived from the text.
    pub id: String,
    /// The section's title.
    pub section: String,
    /// What the lesson says, as written (markdown, fields removed).
    pub text: String,
    /// The failure it applies to.
    pub when: When,
    /// The fix, if it names one.
    pub fix: Option<Fix>,
    /// Provenance.
    pub provenance: Provenance,
    /// The item's bytes, trailing blank lines excluded.
    pub range: Range<usize>,
    /// 1-based line of the item.
    pub line: usize,
}

/// Something in the file that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A lesson to write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewLesson {
    /// Its id (written as the `id:` field when given).
    pub id: Option<String>,
    /// What it says (one paragraph of markdown).
    pub text: String,
    /// What it applies to.
    pub when: When,
    /// The fix.
    pub fix: Option<Fix>,
    /// Provenance.
    pub provenance: Provenance,
}

impl From<&Lesson> for NewLesson {
    fn from(l: &Lesson) -> Self {
        NewLesson {
            id: Some(l.id.clone()),
            text: l.text.clone(),
            when: l.when.clone(),
            fix: l.fix.clone(),
            provenance: l.provenance.clone(),
        }
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    /// The shipped starter file parses without a problem, and every lesson
    /// in it names the failure it applies to and its fix.
    #[test]
    fn the_shipped_memory_file_is_clean() {
        let text = include_str!("../../../memory/MEMORY.md");
        let m = crate::parse(text);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(m.lessons().count() >= 9);
        for l in m.lessons() {
            assert!(l.when.tool.is_some() && l.when.code.is_some() && l.fix.is_some(), "{l:?}");
            assert!(!l.id.starts_with('m'), "starter lessons have ids: {l:?}");
        }
    }
}
