//! `mend memory …`: search, add, edit, remove and check the lessons of the
//! memory file, and rebuild its index. The file is `--memory FILE`,
//! `MEND_MEMORY`, or `MEMORY.md` in the data directory (created with the
//! starter lessons on first use); the index lives in the data directory.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use clap::{Args, Subcommand};
use mend_agent::memory::{Lessons, MemoryError};
use mend_memory::edit::Edit;
use mend_memory::index::Filter;
use mend_memory::store::StoreError;
use mend_memory::{Fix, Memory, NewLesson, When};

use crate::query::Fail;
use crate::run::Home;

/// What to do with the lessons (the file is the global `--memory`).
#[derive(Args)]
pub struct MemoryArgs {
    #[command(subcommand)]
    cmd: MemoryCmd,
}

/// What a lesson says and applies to (for add and edit).
#[derive(Args, Default)]
pub struct LessonArgs {
    /// What the lesson says.
    #[arg(long)]
    text: Option<String>,
    /// The tool it applies to.
    #[arg(long)]
    tool: Option<String>,
    /// The error code it applies to.
    #[arg(long)]
    code: Option<String>,
    /// Text the error message or target contains (repeatable).
    #[arg(long = "match")]
    matches: Vec<String>,
    /// The fix: one of retry_same, retry_modified, use_alternative, verify_state, ask_user, escalate, abort.
    #[arg(long)]
    fix: Option<String>,
    /// The fix's arguments, as JSON.
    #[arg(long)]
    args: Option<String>,
}

/// `mend memory` subcommands.
#[derive(Subcommand)]
pub enum MemoryCmd {
    /// Search the lessons (typos tolerated); matches are shown in square brackets.
    Search {
        /// Words to look for (empty: every lesson the filters allow).
        #[arg(default_value = "")]
        query: String,
        /// Only lessons for this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only lessons for this error code.
        #[arg(long)]
        code: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Add a lesson.
    Add {
        /// The section (created if missing).
        #[arg(long)]
        section: String,
        /// Its id (default: derived from the text).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        lesson: LessonArgs,
    },
    /// Change a lesson: only the fields given change.
    Edit {
        /// The lesson's id (see `mend memory search`).
        id: String,
        #[command(flatten)]
        lesson: LessonArgs,
    },
    /// Remove a lesson.
    Rm {
        /// The lesson's id.
        id: String,
    },
    /// Rebuild the index from the file.
    Reindex,
    /// Report parse problems, duplicates, contradictions, failing and stale lessons.
    Check {
        /// Lessons not seen for this many days are stale.
        #[arg(long, default_value_t = 180)]
        stale_days: u32,
    },
}

fn memory_err(e: MemoryError) -> Fail {
    match e {
        MemoryError::Store(StoreError::Conflict { ref conflict, .. }) => {
            Fail(crate::EXIT_BAD_INPUT, format!("{e}\n--- the file now ---\n{}\n--- your edit ---\n{}", conflict.theirs, conflict.ours))
        }
        MemoryError::Store(StoreError::Edit(_) | StoreError::NotUtf8 { .. }) => Fail(crate::EXIT_BAD_INPUT, e.to_string()),
        _ => Fail(crate::EXIT_INTERNAL, e.to_string()),
    }
}

fn new_lesson(base: NewLesson, a: LessonArgs) -> Result<NewLesson, Fail> {
    let bad = |m: String| Fail(crate::EXIT_BAD_INPUT, m);
    let mut l = base;
    if let Some(t) = a.text {
        // One line of text replaces the lesson's first line: a second
        // paragraph or a comment under it stays (issue 13).
        let old = l.text.trim().to_owned();
        l.text = match old.split_once('\n') {
            Some((first, rest)) if !t.contains('\n') && !first.trim().is_empty() => format!("{}\n{rest}", t.trim()),
            _ => t,
        };
    }
    if a.tool.is_some() || a.code.is_some() || !a.matches.is_empty() {
        l.when = When {
            tool: a.tool.or(l.when.tool),
            code: a.code.map(|c| c.to_ascii_uppercase()).or(l.when.code),
            matches: if a.matches.is_empty() { l.when.matches } else { a.matches },
        };
    }
    if let Some(action) = a.fix {
        Fix::check_action(&action).map_err(|e| bad(format!("--fix: {e}")))?;
        l.fix = Some(Fix { action, args: None });
    }
    if let Some(args) = a.args {
        let v = Fix::parse_args(&args).map_err(|e| bad(format!("--args: {e}")))?;
        match l.fix.as_mut() {
            Some(f) => f.args = Some(v),
            None => return Err(bad("--args needs a --fix".into())),
        }
    }
    Ok(l)
}

/// Runs a `mend memory` command.
pub fn memory(home: &Home, args: MemoryArgs) -> Result<(), Fail> {
    let (data_dir, path) = (home.data_dir.as_path(), home.memory.as_path());
    // A search reads the index alone when it was built from the file as it
    // is: the file is read and hashed, not parsed (issue 13).
    if let MemoryCmd::Search { query, tool, code, limit, json } = &args.cmd
        && let Ok(text) = std::fs::read_to_string(path)
        && let Some(index) =
            mend_memory::index::LessonIndex::open_current(&Lessons::index_dir(data_dir), mend_memory::store::Version::of(&text).0)
        && let Ok(hits) = index.search(query, &Filter { tool: tool.clone(), code: code.clone() }, *limit)
        && hits.iter().all(|h| line_holds(&text, &h.info))
    {
        return print_hits(&hits, *json);
    }
    let lessons = Lessons::open(path, &Lessons::index_dir(data_dir)).map_err(memory_err)?;
    let edit = match args.cmd {
        MemoryCmd::Search { query, tool, code, limit, json } => return search(&lessons, &query, Filter { tool, code }, limit, json),
        MemoryCmd::Reindex => {
            let t0 = Instant::now();
            let n = lessons.reindex().map_err(memory_err)?;
            eprintln!("Indexed {n} lessons of {} in {} ms.", path.display(), t0.elapsed().as_millis());
            return Ok(());
        }
        MemoryCmd::Check { stale_days } => return lessons.with(|m, _, _| check(path, m, stale_days)),
        MemoryCmd::Add { section, id, lesson } => {
            let l = new_lesson(NewLesson { id, ..Default::default() }, lesson)?;
            Edit::Add { section, lesson: l }
        }
        MemoryCmd::Edit { id, lesson } => {
            let old = lessons.lesson(&id).ok_or_else(|| Fail(crate::EXIT_BAD_INPUT, format!("no lesson `{id}` in {}", path.display())))?;
            Edit::Replace { id: id.clone(), lesson: new_lesson(NewLesson::from(&old), lesson)? }
        }
        MemoryCmd::Rm { id } => Edit::Delete { id },
    };
    let applied = lessons.apply(std::slice::from_ref(&edit)).map_err(memory_err)?;
    let what = match &edit {
        Edit::Add { .. } | Edit::AddSection { .. } => "Added",
        Edit::Replace { .. } => "Changed",
        Edit::Delete { .. } | Edit::DeleteSection { .. } => "Removed",
    };
    let merged = if applied.merged { " (merged with a change made meanwhile)" } else { "" };
    let id = edit
        .lesson_id()
        .map(str::to_owned)
        .or_else(|| lessons.with(|m, _, _| m.lessons().last().map(|l| l.id.clone())))
        .unwrap_or_default();
    eprintln!("{what} lesson {id} in {}{merged}.", path.display());
    Ok(())
}

fn search(lessons: &Lessons, query: &str, filter: Filter, limit: usize, json: bool) -> Result<(), Fail> {
    let mut hits = lessons.search(query, &filter, limit).map_err(memory_err)?;
    // The file is parsed here: show each lesson as it is now.
    for h in &mut hits {
        if let Some(l) = lessons.lesson(&h.id) {
            h.info = mend_memory::index::info_of(&l);
        }
    }
    print_hits(&hits, json)
}

/// Whether the line the index recorded for a lesson still starts it (an
/// edit above it may have moved it; then the file is parsed after all).
fn line_holds(text: &str, info: &serde_json::Value) -> bool {
    let (Some(line), Some(first)) = (info.get("line").and_then(|l| l.as_u64()), info.get("first").and_then(|f| f.as_str())) else {
        return false;
    };
    line > 0 && text.lines().nth(line as usize - 1).is_some_and(|l| l.contains(first))
}

/// Prints search hits from what the index keeps of each lesson.
fn print_hits(hits: &[mend_memory::index::Hit], json: bool) -> Result<(), Fail> {
    for h in hits {
        let info = &h.info;
        if json {
            let v = serde_json::json!({
                "id": h.id, "section": h.section, "score": h.score, "snippet": h.snippet,
                "highlights": h.highlights.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
                "line": info.get("line"), "when": info.get("when"), "fix": info.get("fix").filter(|f| !f.is_null()),
                "seen": info.get("seen"), "failures": info.get("failures"),
            });
            println!("{v}");
            continue;
        }
        let mut shown = String::new();
        let mut at = 0;
        for r in &h.highlights {
            shown.push_str(&h.snippet[at..r.start]);
            shown.push('[');
            shown.push_str(&h.snippet[r.clone()]);
            shown.push(']');
            at = r.end;
        }
        shown.push_str(&h.snippet[at..]);
        let fix = info.pointer("/fix/action").and_then(|a| a.as_str()).map(|a| format!(" → {a}")).unwrap_or_default();
        let line = info.get("line").and_then(|l| l.as_u64()).map(|l| format!(":{l}")).unwrap_or_default();
        println!("{} ({}{line}){fix}\n    {}", h.id, h.section, shown.replace('\n', " "));
    }
    if hits.is_empty() && !json {
        eprintln!("No lesson matches.");
    }
    Ok(())
}

fn check(path: &Path, memory: &Memory, stale_days: u32) -> Result<(), Fail> {
    let shown = path.display();
    let findings = mend_agent::memory::check(memory, stale_days, mend_agent::memory::days_since_epoch(std::time::SystemTime::now()));
    // Findings of one kind about one lesson (8,000 copies of it) are shown
    // a few times, then counted (issue 13).
    const SHOWN: usize = 3;
    let mut seen: HashMap<(&str, Option<&str>), usize> = HashMap::new();
    for f in &findings {
        let n = seen.entry((f.kind.as_str(), f.other.as_deref())).or_default();
        *n += 1;
        if *n <= SHOWN {
            println!("{shown}:{}: {}", f.line, f.message);
        }
    }
    let mut more: Vec<(&(&str, Option<&str>), &usize)> = seen.iter().filter(|(_, n)| **n > SHOWN).collect();
    more.sort();
    for ((kind, other), n) in more {
        let about = other.map(|o| format!(" of lesson {o}")).unwrap_or_default();
        println!("{shown}: … and {} more {kind}{about} like these", n - SHOWN);
    }
    if findings.is_empty() {
        eprintln!("{shown}: {} lessons in {} sections, no problems.", memory.lessons().count(), memory.sections.len());
        Ok(())
    } else {
        Err(Fail(1, format!("{} finding(s) in {shown}", findings.len())))
    }
}
