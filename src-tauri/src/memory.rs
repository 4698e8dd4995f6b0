//! The memory screen: the lessons of MEMORY.md with their provenance and
//! the runs that used them, search as you type, edits through the
//! lossless, atomic, conflict-checked writer, the raw file, and what
//! `mend memory check` finds.

use std::collections::HashSet;
use std::sync::Arc;

use mend_agent::memory::{Finding, Lessons, MemoryError, check, days_since_epoch, trusted};
use mend_memory::edit::Edit;
use mend_memory::index::Filter;
use mend_memory::store::{StoreError, Version};
use mend_memory::{Fix, Lesson, NewLesson, When};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::desk::Desk;
use crate::error::IpcError;

/// Lessons not seen for this many days are listed as stale.
const STALE_DAYS: u32 = 180;

/// The whole file, as the screen shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MemoryView {
    /// The file.
    pub path: String,
    /// Its version (what an edit is based on).
    pub version: String,
    /// Its text (the raw editor).
    pub text: String,
    /// Sections in file order.
    pub sections: Vec<SectionView>,
    /// What `mend memory check` finds.
    pub findings: Vec<Finding>,
}

/// A `##` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SectionView {
    /// Its title (empty: lessons before any heading).
    pub title: String,
    /// Its lessons.
    pub lessons: Vec<LessonView>,
}

/// One lesson and its provenance.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LessonView {
    /// Its id.
    pub id: String,
    /// Its section.
    pub section: String,
    /// What it says.
    pub text: String,
    /// The tool it applies to.
    pub tool: Option<String>,
    /// The error code it applies to.
    pub code: Option<String>,
    /// Texts the failure must contain.
    pub matches: Vec<String>,
    /// The fix's action.
    pub fix: Option<String>,
    /// The fix's arguments, as JSON text.
    pub fix_args: Option<String>,
    /// Times seen.
    pub seen: u32,
    /// Last seen (YYYY-MM-DD).
    pub last: Option<String>,
    /// How it went the last time.
    pub outcome: Option<String>,
    /// Times in a row its fix did not work.
    pub failures: u32,
    /// 1-based line in the file.
    pub line: usize,
    /// The diagnosis applies it by itself.
    pub trusted: bool,
    /// `check` has something to say about it.
    pub flagged: bool,
    /// Runs that learned, confirmed or marked it, newest first.
    pub runs: Vec<String>,
}

/// A lesson as the form writes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LessonInput {
    /// Its id (derived from the text when empty).
    #[serde(default)]
    pub id: Option<String>,
    /// What it says.
    pub text: String,
    /// The tool.
    #[serde(default)]
    pub tool: Option<String>,
    /// The error code.
    #[serde(default)]
    pub code: Option<String>,
    /// Texts the failure must contain.
    #[serde(default)]
    pub matches: Vec<String>,
    /// The fix's action.
    #[serde(default)]
    pub fix: Option<String>,
    /// The fix's arguments, as JSON text.
    #[serde(default)]
    pub fix_args: Option<String>,
}

/// One change from the screen.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MemoryEdit {
    /// A new lesson at the end of a section (created if missing).
    Add {
        /// The section.
        section: String,
        /// The lesson.
        lesson: LessonInput,
    },
    /// Change a lesson in place; its provenance is kept.
    Replace {
        /// Its id.
        id: String,
        /// The lesson.
        lesson: LessonInput,
    },
    /// Delete a lesson.
    Delete {
        /// Its id.
        id: String,
    },
    /// Move a lesson to the end of another section.
    Move {
        /// Its id.
        id: String,
        /// The section (created if missing).
        section: String,
    },
    /// Add an empty section.
    AddSection {
        /// Its title.
        title: String,
    },
    /// Delete a section and its lessons.
    DeleteSection {
        /// Its title.
        title: String,
    },
    /// Merge a duplicate into another lesson: the kept one adds its counts.
    Merge {
        /// The lesson that stays.
        keep: String,
        /// The duplicate that goes.
        drop: String,
    },
}

/// What a save did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SaveResult {
    /// Written.
    Saved {
        /// The file's new version.
        version: String,
        /// Merged with a change made meanwhile elsewhere.
        merged: bool,
    },
    /// The file changed on disk in the same place: both versions, for the person to choose.
    Conflict {
        /// The file as it is now.
        theirs: String,
        /// The file as this edit would make it.
        ours: String,
        /// Why.
        reason: String,
    },
}

/// A search result.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HitView {
    /// The lesson.
    pub id: String,
    /// Its section.
    pub section: String,
    /// Text around the matches.
    pub snippet: String,
    /// Byte ranges of the matches in the snippet.
    #[cfg_attr(test, ts(type = "[number, number][]"))]
    pub highlights: Vec<(usize, usize)>,
}

fn lessons(desk: &Desk) -> Result<&Arc<Lessons>, IpcError> {
    desk.agent().lessons().ok_or_else(|| IpcError::unavailable(desk.agent().memory_error().unwrap_or("the memory file is not open")))
}

fn version_text(v: Version) -> String {
    format!("{:016x}", v.0)
}

fn parse_version(s: &str) -> Result<Version, IpcError> {
    u64::from_str_radix(s, 16)
        .map(Version)
        .map_err(|_| IpcError::bad_input_at("base", format!("`{s}` is not a version of the memory file")))
}

fn view(l: &Lesson, flagged: &HashSet<String>, runs: &mut std::collections::HashMap<String, Vec<String>>) -> LessonView {
    LessonView {
        id: l.id.clone(),
        section: l.section.clone(),
        text: l.text.clone(),
        tool: l.when.tool.clone(),
        code: l.when.code.clone(),
        matches: l.when.matches.clone(),
        fix: l.fix.as_ref().map(|f| f.action.clone()),
        fix_args: l.fix.as_ref().and_then(|f| f.args.as_ref()).map(|a| a.to_string()),
        seen: l.provenance.seen,
        last: l.provenance.last.clone(),
        outcome: l.provenance.outcome.clone(),
        failures: l.provenance.failures,
        line: l.line,
        trusted: trusted(l),
        flagged: flagged.contains(&l.id),
        runs: runs.remove(&l.id).unwrap_or_default(),
    }
}

/// The file, its lessons, provenance and findings.
#[tauri::command]
pub fn memory_view(desk: State<'_, Arc<Desk>>) -> Result<MemoryView, IpcError> {
    let l = lessons(&desk)?;
    let mut runs = desk.agent().reader().and_then(|r| Ok(r.lesson_runs()?)).unwrap_or_default();
    Ok(l.with(|m, text, version| {
        let findings = check(m, STALE_DAYS, days_since_epoch(std::time::SystemTime::now()));
        let flagged: HashSet<String> = findings.iter().filter_map(|f| f.lesson.clone()).collect();
        MemoryView {
            path: l.path().display().to_string(),
            version: version_text(version),
            text: text.to_owned(),
            sections: m
                .sections
                .iter()
                .map(|s| SectionView { title: s.title.clone(), lessons: s.lessons.iter().map(|x| view(x, &flagged, &mut runs)).collect() })
                .collect(),
            findings,
        }
    }))
}

/// Search as you type: the index, then the screen's filters.
#[tauri::command]
pub fn memory_search(
    desk: State<'_, Arc<Desk>>,
    query: String,
    tool: Option<String>,
    code: Option<String>,
    section: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
) -> Result<Vec<HitView>, IpcError> {
    let l = lessons(&desk)?;
    let limit = limit.unwrap_or(50).min(500);
    let narrowing = section.is_some() || state.is_some();
    let filter = Filter { tool: tool.filter(|t| !t.is_empty()), code: code.filter(|c| !c.is_empty()) };
    let hits = l.search(&query, &filter, if narrowing { limit * 20 } else { limit })?;
    let flagged: HashSet<String> = match state.as_deref() {
        Some("flagged") => l.with(|m, _, _| {
            check(m, STALE_DAYS, days_since_epoch(std::time::SystemTime::now())).into_iter().filter_map(|f| f.lesson).collect()
        }),
        _ => HashSet::new(),
    };
    let mut out = Vec::new();
    for h in hits {
        if section.as_deref().is_some_and(|s| !s.is_empty() && !s.eq_ignore_ascii_case(&h.section)) {
            continue;
        }
        let keep = match state.as_deref() {
            Some("trusted") => l.lesson(&h.id).is_some_and(|x| trusted(&x)),
            Some("flagged") => flagged.contains(&h.id),
            _ => true,
        };
        if keep {
            out.push(HitView {
                id: h.id,
                section: h.section,
                snippet: h.snippet,
                highlights: h.highlights.iter().map(|r| (r.start, r.end)).collect(),
            });
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

fn new_lesson(input: LessonInput, keep: Option<&Lesson>) -> Result<NewLesson, IpcError> {
    let fix = match input.fix.filter(|f| !f.is_empty()) {
        Some(action) => {
            Fix::check_action(&action).map_err(|e| IpcError::bad_input_at("fix", format!("fix: {e}")))?;
            let args = match input.fix_args.filter(|a| !a.trim().is_empty()) {
                Some(a) => Some(Fix::parse_args(&a).map_err(|e| IpcError::bad_input_at("fix_args", format!("fix arguments: {e}")))?),
                None => None,
            };
            Some(Fix { action, args })
        }
        None => None,
    };
    let clean = |s: Option<String>| s.map(|x| x.trim().to_owned()).filter(|x| !x.is_empty());
    Ok(NewLesson {
        id: clean(input.id).or_else(|| keep.map(|l| l.id.clone())),
        text: input.text,
        when: When {
            tool: clean(input.tool).map(|t| t.to_ascii_lowercase()),
            code: clean(input.code).map(|c| c.to_ascii_uppercase()),
            matches: input.matches.into_iter().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect(),
        },
        fix,
        // Editing a lesson keeps what it has seen.
        provenance: keep.map(|l| l.provenance.clone()).unwrap_or_default(),
    })
}

fn edits(l: &Lessons, edit: MemoryEdit) -> Result<Vec<Edit>, IpcError> {
    let get = |id: &str| l.lesson(id).ok_or_else(|| IpcError::not_found(format!("no lesson `{id}` in {}", l.path().display())));
    Ok(match edit {
        MemoryEdit::Add { section, lesson } => vec![Edit::Add { section, lesson: new_lesson(lesson, None)? }],
        MemoryEdit::Replace { id, lesson } => {
            let old = get(&id)?;
            vec![Edit::Replace { id, lesson: new_lesson(lesson, Some(&old))? }]
        }
        MemoryEdit::Delete { id } => vec![Edit::Delete { id }],
        MemoryEdit::Move { id, section } => {
            let old = get(&id)?;
            vec![Edit::Delete { id: id.clone() }, Edit::Add { section, lesson: NewLesson::from(&old) }]
        }
        MemoryEdit::AddSection { title } => vec![Edit::AddSection { title }],
        MemoryEdit::DeleteSection { title } => vec![Edit::DeleteSection { title }],
        MemoryEdit::Merge { keep, drop } => {
            let (k, d) = (get(&keep)?, get(&drop)?);
            let mut merged = NewLesson::from(&k);
            merged.provenance.seen += d.provenance.seen;
            merged.provenance.last = std::cmp::max(k.provenance.last.clone(), d.provenance.last.clone());
            vec![Edit::Replace { id: keep, lesson: merged }, Edit::Delete { id: drop }]
        }
    })
}

fn saved(r: Result<Version, MemoryError>, merged: bool) -> Result<SaveResult, IpcError> {
    match r {
        Ok(v) => Ok(SaveResult::Saved { version: version_text(v), merged }),
        Err(MemoryError::Store(StoreError::Conflict { conflict, .. })) => {
            Ok(SaveResult::Conflict { theirs: conflict.theirs, ours: conflict.ours, reason: conflict.reason })
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves a change made on version `base` of the file.
#[tauri::command]
pub fn memory_save(desk: State<'_, Arc<Desk>>, base: String, edit: MemoryEdit) -> Result<SaveResult, IpcError> {
    let l = lessons(&desk)?;
    let edits = edits(l, edit)?;
    match l.apply_on(parse_version(&base)?, &edits) {
        Ok(a) => saved(Ok(a.version), a.merged),
        Err(e) => saved(Err(e), false),
    }
}

/// Saves the whole file from the raw editor, if it is still version `base`.
#[tauri::command]
pub fn memory_raw(desk: State<'_, Arc<Desk>>, base: String, text: String) -> Result<SaveResult, IpcError> {
    let l = lessons(&desk)?;
    saved(l.replace_all(parse_version(&base)?, &text), false)
}

/// Opens the memory file in the system's editor.
#[tauri::command]
pub fn memory_open(desk: State<'_, Arc<Desk>>) -> Result<(), IpcError> {
    let path = lessons(&desk)?.path().to_path_buf();
    desk.shell().open_path(&path).map_err(IpcError::unavailable)
}
