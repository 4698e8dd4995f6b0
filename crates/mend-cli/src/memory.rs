//! `mend memory …`: search, add, edit, remove and check the lessons of the
//! memory file, and rebuild its index. The file is `--memory FILE`,
//! `MEND_MEMORY`, or `MEMORY.md` in the data directory (created with the
//! starter lessons on first use); the index lives in the data directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use mend_agent::memory::{Lessons, MemoryError};
use mend_memory::edit::Edit;
use mend_memory::index::Filter;
use mend_memory::store::StoreError;
use mend_memory::{ACTIONS, Fix, Memory, NewLesson, When};

use crate::query::Fail;

/// Where the memory file is.
#[derive(Args)]
pub struct MemoryArgs {
    /// The memory file (default: MEMORY.md in the data directory).
    #[arg(long, global = true, env = "MEND_MEMORY")]
    memory: Option<PathBuf>,
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
        l.text = t;
    }
    if a.tool.is_some() || a.code.is_some() || !a.matches.is_empty() {
        l.when = When {
            tool: a.tool.or(l.when.tool),
            code: a.code.map(|c| c.to_ascii_uppercase()).or(l.when.code),
            matches: if a.matches.is_empty() { l.when.matches } else { a.matches },
        };
    }
    if let Some(action) = a.fix {
        if !ACTIONS.contains(&action.as_str()) {
            return Err(bad(format!("--fix: unknown action `{action}`; one of {}", ACTIONS.join(", "))));
        }
        l.fix = Some(Fix { action, args: None });
    }
    if let Some(args) = a.args {
        let v = serde_json::from_str(&args).map_err(|e| bad(format!("--args: not JSON: {e}")))?;
        match l.fix.as_mut() {
            Some(f) => f.args = Some(v),
            None => return Err(bad("--args needs a --fix".into())),
        }
    }
    Ok(l)
}

/// Runs a `mend memory` command.
pub fn memory(data_dir: &Path, args: MemoryArgs) -> Result<(), Fail> {
    let path = args.memory.unwrap_or_else(|| Lessons::default_path(data_dir));
    let lessons = Lessons::open(&path, &Lessons::index_dir(data_dir)).map_err(memory_err)?;
    let edit = match args.cmd {
        MemoryCmd::Search { query, tool, code, limit, json } => return search(&lessons, &query, Filter { tool, code }, limit, json),
        MemoryCmd::Reindex => {
            let t0 = Instant::now();
            let n = lessons.reindex().map_err(memory_err)?;
            eprintln!("Indexed {n} lessons of {} in {} ms.", path.display(), t0.elapsed().as_millis());
            return Ok(());
        }
        MemoryCmd::Check { stale_days } => return lessons.with(|m, _, _| check(&path, m, stale_days)),
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
        Edit::Add { .. } => "Added",
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
    let hits = lessons.search(query, &filter, limit).map_err(memory_err)?;
    for h in &hits {
        let lesson = lessons.lesson(&h.id);
        let lesson = lesson.as_ref();
        if json {
            let v = serde_json::json!({
                "id": h.id, "section": h.section, "score": h.score, "snippet": h.snippet,
                "highlights": h.highlights.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
                "line": lesson.map(|l| l.line), "when": lesson.map(|l| &l.when), "fix": lesson.and_then(|l| l.fix.as_ref()),
                "seen": lesson.map(|l| l.provenance.seen), "failures": lesson.map(|l| l.provenance.failures),
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
        let fix = lesson.and_then(|l| l.fix.as_ref()).map(|f| format!(" → {}", f.action)).unwrap_or_default();
        let line = lesson.map(|l| format!(":{}", l.line)).unwrap_or_default();
        println!("{} ({}{line}){fix}\n    {}", h.id, h.section, shown.replace('\n', " "));
    }
    if hits.is_empty() && !json {
        eprintln!("No lesson matches.");
    }
    Ok(())
}

fn check(path: &Path, memory: &Memory, stale_days: u32) -> Result<(), Fail> {
    let shown = path.display();
    let mut findings = Vec::new();
    for p in &memory.problems {
        findings.push(format!("{shown}:{}: {}", p.line, p.message));
    }
    let lessons: Vec<_> = memory.lessons().collect();
    for (i, a) in lessons.iter().enumerate() {
        for b in &lessons[i + 1..] {
            if a.when.is_empty() || a.when != b.when {
                if !a.text.is_empty() && a.text.eq_ignore_ascii_case(&b.text) {
                    findings.push(format!("{shown}:{}: duplicate of lesson {} (line {}): the same text", b.line, a.id, a.line));
                }
                continue;
            }
            // A person's recorded choice is a recommendation, not a fix: it
            // does not contradict the lesson that says how to heal.
            let choice = |f: &Option<Fix>| {
                f.as_ref().is_some_and(|f| f.action == "escalate" && f.args.as_ref().is_some_and(|a| a.get("recommend").is_some()))
            };
            match (&a.fix, &b.fix) {
                _ if choice(&a.fix) != choice(&b.fix) => {}
                (Some(x), Some(y)) if x != y => findings.push(format!(
                    "{shown}:{}: contradicts lesson {} (line {}): the same failure, fix {} there and {} here",
                    b.line, a.id, a.line, x.action, y.action
                )),
                _ => findings.push(format!("{shown}:{}: duplicate of lesson {} (line {}): the same failure and fix", b.line, a.id, a.line)),
            }
        }
    }
    let today = days_since_epoch(std::time::SystemTime::now());
    for l in &lessons {
        let p = &l.provenance;
        if p.failures >= mend_core::lesson::TRUST_FAILURES {
            findings.push(format!(
                "{shown}:{}: lesson {} is failing: its fix did not work the last {} times (no longer applied by itself; fix or delete it)",
                l.line, l.id, p.failures
            ));
        }
        if let Some(last) = p.last.as_deref().and_then(parse_date)
            && today.saturating_sub(last) > i64::from(stale_days)
        {
            findings.push(format!("{shown}:{}: lesson {} is stale: last seen {}", l.line, l.id, p.last.as_deref().unwrap_or("")));
        }
    }
    for f in &findings {
        println!("{f}");
    }
    if findings.is_empty() {
        eprintln!("{shown}: {} lessons in {} sections, no problems.", lessons.len(), memory.sections.len());
        Ok(())
    } else {
        Err(Fail(1, format!("{} finding(s) in {shown}", findings.len())))
    }
}

fn days_since_epoch(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| (d.as_secs() / 86_400) as i64).unwrap_or(0)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (civil calendar).
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_count_days_since_the_epoch() {
        assert_eq!(super::parse_date("1970-01-01"), Some(0));
        assert_eq!(super::parse_date("2000-03-01"), Some(11_017));
        assert_eq!(super::parse_date("2026-11-22"), Some(20_779));
        assert_eq!(super::parse_date("nope"), None);
    }
}
