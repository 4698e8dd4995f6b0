//! The memory file as the running agent holds it: parsed, indexed, kept in
//! step with edits made elsewhere, written through the lossless store, and
//! asked by the engine for the lessons that match a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mend_core::lesson::{FailureQuery, LessonFix, LessonMatch, LessonSource};
use mend_memory::edit::Edit;
use mend_memory::index::{Filter, Hit, IndexError, LessonIndex};
use mend_memory::store::{Store, StoreError, Version, Written};
use mend_memory::{Lesson, Memory, When};
use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer, notify::RecommendedWatcher};

/// The memory file could not be read, written or indexed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Reading or writing the file (a conflict carries both versions).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Creating the file or watching it.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        message: String,
    },
}

struct State {
    memory: Memory,
    text: String,
    version: Version,
    /// Lesson id → (section, lesson) position in `memory`.
    by_id: HashMap<String, (usize, usize)>,
    index: LessonIndex,
    /// Earlier texts of the file, newest last: what a screen's edit may be
    /// based on (merged or a conflict, never lost).
    history: std::collections::VecDeque<(Version, String)>,
}

impl State {
    fn new(memory: Memory, text: String, version: Version, index: LessonIndex) -> State {
        let by_id = positions(&memory);
        State { memory, text, version, by_id, index, history: Default::default() }
    }

    /// The text of a version this handle held.
    fn text_of(&self, v: Version) -> Option<&str> {
        if v == self.version {
            return Some(&self.text);
        }
        self.history.iter().rev().find(|(h, _)| *h == v).map(|(_, t)| t.as_str())
    }

    fn lesson(&self, id: &str) -> Option<&Lesson> {
        let &(s, l) = self.by_id.get(id)?;
        self.memory.sections.get(s)?.lessons.get(l)
    }

    /// Moves to a new text of the file: re-indexes what changed, in one commit.
    fn update(&mut self, text: String, version: Version) -> Result<usize, MemoryError> {
        let memory = mend_memory::parse(&text);
        self.replace(text, memory, version, None)
    }

    /// Moves to a new text already parsed; `touched` names the lessons that
    /// may have changed, if known (else every lesson is compared).
    fn replace(&mut self, text: String, memory: Memory, version: Version, touched: Option<Vec<String>>) -> Result<usize, MemoryError> {
        let by_id = positions(&memory);
        let n = match touched {
            Some(mut ids) => {
                ids.sort();
                ids.dedup();
                let lessons = ids.iter().filter_map(|id| by_id.get(id).map(|&(s, l)| &memory.sections[s].lessons[l]));
                self.index.update(&ids, lessons, version.0)?;
                ids.len()
            }
            None => self.index.sync(&self.memory, &memory, version.0)?,
        };
        self.by_id = by_id;
        self.memory = memory;
        let old = std::mem::replace(&mut self.text, text);
        self.history.push_back((self.version, old));
        if self.history.len() > 16 {
            self.history.pop_front();
        }
        self.version = version;
        Ok(n)
    }
}

fn positions(m: &Memory) -> HashMap<String, (usize, usize)> {
    let mut out = HashMap::new();
    for (si, s) in m.sections.iter().enumerate() {
        for (li, l) in s.lessons.iter().enumerate() {
            out.insert(l.id.clone(), (si, li));
        }
    }
    out
}

/// The memory file, parsed and indexed.
pub struct Lessons {
    store: Store,
    state: Mutex<State>,
}

/// What [`Lessons::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The file's version now.
    pub version: Version,
    /// Whether an edit was merged with a change made meanwhile elsewhere.
    pub merged: bool,
}

impl Lessons {
    /// Opens the memory file (created with the starter lessons if missing)
    /// and its index in `index_dir` (rebuilt if missing, corrupt, of another
    /// schema or of another version of the file).
    pub fn open(path: &Path, index_dir: &Path) -> Result<Lessons, MemoryError> {
        if !path.exists() {
            let io = |e: std::io::Error| MemoryError::Io { path: path.display().to_string(), message: e.to_string() };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            // Created only if still missing: two processes starting at once
            // must not write the starter over each other's first edits.
            match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    use std::io::Write as _;
                    f.write_all(mend_memory::STARTER.as_bytes()).and_then(|()| f.sync_all()).map_err(io)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let store = Store::new(path);
        // Temp files of writers that were killed mid-write (issue 12).
        store.remove_stray_temps();
        let (memory, text, version) = store.load()?;
        let (index, _) = LessonIndex::open(index_dir, &memory, version.0)?;
        Ok(Lessons { store, state: Mutex::new(State::new(memory, text, version, index)) })
    }

    /// The default memory file in a data directory.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("MEMORY.md")
    }

    /// The index folder in a data directory.
    pub fn index_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("index").join("lessons")
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent state: every
        // update replaces the fields together after the fallible part.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the file as last read: parsed, its text and version.
    pub fn with<R>(&self, f: impl FnOnce(&Memory, &str, Version) -> R) -> R {
        let st = self.state();
        f(&st.memory, &st.text, st.version)
    }

    /// One lesson, by id.
    pub fn lesson(&self, id: &str) -> Option<Lesson> {
        self.state().lesson(id).cloned()
    }

    /// Reads the file again if it changed on disk (an edit in another
    /// editor) and re-indexes the lessons that changed. Returns how many.
    pub fn reload(&self) -> Result<usize, MemoryError> {
        let text = self.store.read()?;
        let version = Version::of(&text);
        let mut st = self.state();
        if version == st.version {
            return Ok(0);
        }
        st.update(text, version)
    }

    /// Applies edits made on the file as this handle last read it: each
    /// goes through the store (atomic, merged with a change made meanwhile
    /// elsewhere when it touches another lesson, a conflict otherwise), and
    /// the index is brought up to date in one commit for the whole batch.
    pub fn apply(&self, edits: &[Edit]) -> Result<Applied, MemoryError> {
        let mut st = self.state();
        let mut merged = false;
        let mut failed = None;
        // Only the edited sections are parsed again, and only the lessons
        // they touch re-indexed, unless an edit needed the whole file.
        let mut current: Option<(String, Memory)> = None;
        let mut touched: Option<Vec<String>> = Some(Vec::new());
        for edit in edits {
            let (text, memory) = match &current {
                Some((t, m)) => (t.as_str(), m),
                None => (st.text.as_str(), &st.memory),
            };
            match self.store.apply_parsed(text, memory, edit) {
                Ok((written, patched)) => {
                    merged |= matches!(written, Written::Merged(_));
                    match (&mut touched, patched.touched) {
                        (Some(all), Some(ids)) => all.extend(ids),
                        _ => touched = None,
                    }
                    current = Some((patched.text, patched.memory));
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // What was written stays written (and indexed) even if a later
        // edit of the batch was refused.
        let mut version = st.version;
        if let Some((text, memory)) = current {
            version = Version::of(&text);
            st.replace(text, memory, version, touched)?;
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(Applied { version, merged }),
        }
    }

    /// Applies edits made on version `base` of the file (what a screen
    /// loaded): on the current version as [`apply`](Self::apply); on an
    /// older one, each edit is merged when the lesson it touches did not
    /// change since, else a conflict carrying both versions.
    pub fn apply_on(&self, base: Version, edits: &[Edit]) -> Result<Applied, MemoryError> {
        let base_text = {
            let st = self.state();
            if base == st.version {
                drop(st);
                return self.apply(edits);
            }
            st.text_of(base).map(str::to_owned)
        };
        let Some(mut text) = base_text else { return Err(self.unknown_base()) };
        for edit in edits {
            let (_, new) = self.store.apply(&text, edit)?;
            text = new;
        }
        self.reload()?;
        Ok(Applied { version: Version::of(&text), merged: true })
    }

    /// Replaces the whole file (the raw editor), if it is still version `base`.
    pub fn replace_all(&self, base: Version, text: &str) -> Result<Version, MemoryError> {
        let base_text = self.state().text_of(base).map(str::to_owned);
        let Some(base_text) = base_text else { return Err(self.unknown_base()) };
        let v = self.store.replace_all(&base_text, text)?;
        self.reload()?;
        Ok(v)
    }

    fn unknown_base(&self) -> MemoryError {
        let theirs = self.store.read().unwrap_or_default();
        MemoryError::Store(StoreError::Conflict {
            path: self.path().display().to_string(),
            conflict: Box::new(mend_memory::store::Conflict {
                theirs,
                ours: String::new(),
                reason: "the file changed too much since it was loaded: reload it".into(),
            }),
        })
    }

    /// Full-text search with snippets (see [`LessonIndex::search`]).
    pub fn search(&self, query: &str, filter: &Filter, limit: usize) -> Result<Vec<Hit>, MemoryError> {
        Ok(self.state().index.search(query, filter, limit)?)
    }

    /// Rebuilds the index from the file.
    pub fn reindex(&self) -> Result<u64, MemoryError> {
        let mut st = self.state();
        let State { memory, version, index, .. } = &mut *st;
        index.rebuild(memory, version.0)?;
        Ok(index.len())
    }

    /// Watches the file: an edit made in another editor is read and
    /// re-indexed within a moment. Watching stops when the returned value
    /// is dropped. Errors while re-reading are handed to `on_error`.
    pub fn watch(self: &Arc<Self>, on_error: impl Fn(MemoryError) + Send + 'static) -> Result<Watch, MemoryError> {
        let path = self.path().to_path_buf();
        let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let me = Arc::downgrade(self);
        let io = |e: notify_debouncer_full::notify::Error| MemoryError::Io { path: dir.display().to_string(), message: e.to_string() };
        // The folder is watched, not the file: editors and our own store
        // replace the file by renaming a new one over it.
        let mut debouncer = new_debouncer(Duration::from_millis(100), None, move |res: DebounceEventResult| {
            let Ok(events) = res else { return };
            if !events.iter().any(|e| e.paths.iter().any(|p| p.file_name() == Some(name.as_os_str()))) {
                return;
            }
            if let Some(me) = me.upgrade()
                && let Err(e) = me.reload()
            {
                on_error(e);
            }
        })
        .map_err(io)?;
        debouncer.watch(&dir, RecursiveMode::NonRecursive).map_err(io)?;
        Ok(Watch { _debouncer: debouncer })
    }
}

/// Watching the memory file; stops when dropped.
pub struct Watch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// Whether the diagnosis applies a lesson by itself (when its `when:` names
/// the failure): it names a failure, has a fix that is not a person's
/// recorded choice, and that fix has not failed
/// [`TRUST_FAILURES`](mend_core::lesson::TRUST_FAILURES) times in a row.
pub fn trusted(l: &Lesson) -> bool {
    !l.when.is_empty() && l.fix.as_ref().is_some_and(|f| !f.records_choice()) && l.provenance.failures < mend_core::lesson::TRUST_FAILURES
}

/// Whether a `when:` names this failure: every tool, code and quoted text
/// it gives matches (an empty one names nothing).
pub fn covers(w: &When, q: &FailureQuery) -> bool {
    if w.is_empty() {
        return false;
    }
    let tool_ok = w.tool.as_deref().is_none_or(|t| t.eq_ignore_ascii_case(&q.tool));
    let code_ok = w.code.as_deref().is_none_or(|c| c.eq_ignore_ascii_case(&q.code));
    tool_ok && code_ok && w.matches.iter().all(|m| q.mentions(m))
}

/// A lesson as [`find`] needs it: from the parsed file, or from what the
/// index keeps of it.
pub(crate) struct Found {
    pub(crate) section: String,
    pub(crate) text: String,
    pub(crate) when: When,
    pub(crate) fix: Option<mend_memory::Fix>,
    pub(crate) seen: u32,
    pub(crate) failures: u32,
}

/// The lessons for a failure (see [`LessonSource::find`]), looked up in
/// `index` and described by `lesson`.
pub(crate) fn find_in(index: &LessonIndex, lesson: impl Fn(&str) -> Option<Found>, q: &FailureQuery, k: usize) -> Vec<LessonMatch> {
    let words = format!("{} {} {}", q.code, q.message, q.subject.as_deref().unwrap_or(""));
    let mut found: Vec<(String, f32)> = Vec::new();
    // Lessons for this code (any tool: a lesson may name none), ranked by
    // the words they share with the failure; then lessons that only share
    // words, as context.
    let by_code = Filter { tool: None, code: Some(q.code.clone()) };
    found.extend(index.lookup(&words, &by_code, 64).unwrap_or_default());
    found.extend(index.lookup(&words, &Filter { tool: None, code: None }, k).unwrap_or_default().into_iter().filter(|(_, s)| *s > 0.0));
    let mut out: Vec<LessonMatch> = Vec::new();
    for (id, score) in found {
        if out.iter().any(|m| m.id == id) {
            continue;
        }
        let Some(l) = lesson(&id) else { continue };
        out.push(LessonMatch {
            id,
            applies: covers(&l.when, q),
            specificity: l.when.matches.len() as u32 + u32::from(l.when.tool.is_some()),
            section: l.section,
            text: l.text,
            fix: l.fix.map(|f| LessonFix { action: f.action, args: f.args }),
            seen: l.seen,
            failures: l.failures,
            score,
        });
    }
    out.sort_by(|a, b| {
        b.applies
            .cmp(&a.applies)
            .then(b.specificity.cmp(&a.specificity))
            .then(a.failures.cmp(&b.failures))
            .then(b.seen.cmp(&a.seen))
            .then(b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal))
            // Ties in a stable order, however the index stored them.
            .then(a.id.cmp(&b.id))
    });
    out.truncate(k);
    out
}

/// The lessons for a failure over the index alone (a read-only snapshot of it built from
/// the file as it is): the file is not parsed (issue 13).
pub fn find_in_index(index: &LessonIndex, q: &FailureQuery, k: usize) -> Vec<LessonMatch> {
    let lesson = |id: &str| {
        let (section, text, info) = index.stored(id).ok()??;
        Some(Found {
            section,
            text,
            when: serde_json::from_value(info.get("when")?.clone()).ok()?,
            fix: info.get("fix").and_then(|f| serde_json::from_value(f.clone()).ok()),
            seen: info.get("seen").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
            failures: info.get("failures").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
        })
    };
    find_in(index, lesson, q, k)
}

impl LessonSource for Lessons {
    fn find(&self, q: &FailureQuery, k: usize) -> Vec<LessonMatch> {
        let st = self.state();
        let lesson = |id: &str| {
            st.lesson(id).map(|l| Found {
                section: l.section.clone(),
                text: l.text.clone(),
                when: l.when.clone(),
                fix: l.fix.clone(),
                seen: l.provenance.seen,
                failures: l.provenance.failures,
            })
        };
        find_in(&st.index, lesson, q, k)
    }
}

/// What is wrong with a lesson (or the file), as `mend memory check` and
/// the memory screen list it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `problem` (a parse problem), `duplicate`, `contradiction`, `failing` or `stale`.
    pub kind: String,
    /// 1-based line in the file.
    pub line: usize,
    /// The lesson it is about.
    pub lesson: Option<String>,
    /// The other lesson (of a duplicate or a contradiction).
    pub other: Option<String>,
    /// For a person.
    pub message: String,
}

/// Parse problems, duplicates, contradictions (the same failure, different
/// fixes; a person's recorded choice is not one), failing lessons (their fix
/// failed [`TRUST_FAILURES`](mend_core::lesson::TRUST_FAILURES) times in a
/// row) and stale ones (not seen for `stale_days`), in file order.
pub fn check(memory: &Memory, stale_days: u32, today: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |kind: &str, line: usize, lesson: Option<&str>, other: Option<&str>, message: String| Finding {
        kind: kind.to_owned(),
        line,
        lesson: lesson.map(str::to_owned),
        other: other.map(str::to_owned),
        message,
    };
    for p in &memory.problems {
        out.push(finding("problem", p.line, None, None, p.message.clone()));
    }
    let lessons: Vec<&Lesson> = memory.lessons().collect();
    let choice = |f: &Option<mend_memory::Fix>| f.as_ref().is_some_and(mend_memory::Fix::records_choice);
    // Lessons grouped by their failure: only same-`when` pairs are compared.
    let mut by_when: HashMap<String, Vec<&Lesson>> = HashMap::new();
    let mut by_text: HashMap<String, Vec<&Lesson>> = HashMap::new();
    for l in &lessons {
        if !l.when.is_empty() {
            by_when.entry(format!("{:?}", l.when).to_lowercase()).or_default().push(l);
        } else if !l.text.is_empty() {
            by_text.entry(l.text.to_lowercase()).or_default().push(l);
        }
    }
    // Linear in the number of lessons (issue 13): each lesson is compared
    // with the first lesson of its group that has the same fix (a
    // duplicate) or, when none does, with the first one whose fix differs
    // (a contradiction) — never with every other lesson of the group.
    for group in by_when.values().chain(by_text.values()) {
        let Some(first) = group.first() else { continue };
        // (records a choice, fix as text) → the first lesson with it.
        let mut firsts: HashMap<(bool, String), &Lesson> = HashMap::new();
        // The first lesson with a fix, by whether it records a choice.
        let mut first_fixed: HashMap<bool, &Lesson> = HashMap::new();
        let key = |l: &Lesson| (choice(&l.fix), l.fix.as_ref().map(|f| format!("{f:?}")).unwrap_or_default());
        firsts.insert(key(first), first);
        if first.fix.is_some() {
            first_fixed.insert(choice(&first.fix), first);
        }
        for b in group.iter().skip(1) {
            if first.when.is_empty() {
                out.push(finding(
                    "duplicate",
                    b.line,
                    Some(&b.id),
                    Some(&first.id),
                    format!("duplicate of lesson {} (line {}): the same text", first.id, first.line),
                ));
                continue;
            }
            let k = key(b);
            if let Some(a) = firsts.get(&k) {
                out.push(finding(
                    "duplicate",
                    b.line,
                    Some(&b.id),
                    Some(&a.id),
                    format!("duplicate of lesson {} (line {}): the same failure and fix", a.id, a.line),
                ));
                continue;
            }
            // A fix that differs from an earlier one's (a person's recorded
            // choice never contradicts a fix).
            let other = first_fixed.get(&k.0).copied().filter(|a| b.fix.is_some() && a.fix != b.fix);
            if b.fix.is_some() {
                first_fixed.entry(k.0).or_insert(b);
            }
            if let (Some(a), Some(x), Some(y)) = (other, other.and_then(|a| a.fix.as_ref()), b.fix.as_ref()) {
                out.push(finding(
                    "contradiction",
                    b.line,
                    Some(&b.id),
                    Some(&a.id),
                    format!(
                        "contradicts lesson {} (line {}): the same failure, fix {} there and {} here",
                        a.id, a.line, x.action, y.action
                    ),
                ));
            }
            firsts.insert(k, b);
        }
    }
    for l in &lessons {
        let p = &l.provenance;
        if p.failures >= mend_core::lesson::TRUST_FAILURES {
            out.push(finding(
                "failing",
                l.line,
                Some(&l.id),
                None,
                format!(
                    "lesson {} is failing: its fix did not work the last {} times (no longer applied by itself; fix or delete it)",
                    l.id, p.failures
                ),
            ));
        }
        if let Some(last) = p.last.as_deref().and_then(parse_date)
            && today.saturating_sub(last) > i64::from(stale_days)
        {
            out.push(finding(
                "stale",
                l.line,
                Some(&l.id),
                None,
                format!("lesson {} is stale: last seen {}", l.id, p.last.as_deref().unwrap_or("")),
            ));
        }
    }
    out.sort_by_key(|f| f.line);
    out
}

/// Days since 1970-01-01 of a moment.
pub fn days_since_epoch(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| (d.as_secs() / 86_400) as i64).unwrap_or(0)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (civil calendar).
pub fn parse_date(s: &str) -> Option<i64> {
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
    use super::*;

    const FILE: &str = "## shop\n\n- Generic refusals: retry.\n  - when: `http` `CONNECTION_REFUSED`\n  - fix: retry_same\n  - id: generic\n- The shop's primary is often down at night: use the mirror.\n  - when: `http` `CONNECTION_REFUSED` \"shop.example:8080\"\n  - fix: use_alternative `{\"index\": 0}`\n  - id: shop-mirror\n- Timeouts on the shop: more time.\n  - when: `http` `TIMEOUT` \"shop.example:8080\"\n  - fix: retry_modified `{\"timeout_ms\": 20000}`\n  - id: shop-timeout\n- Any word about connection refused without fields.\n";

    fn open(text: &str) -> (tempfile::TempDir, Lessons) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MEMORY.md");
        std::fs::write(&path, text).unwrap();
        let l = Lessons::open(&path, &dir.path().join("index")).unwrap();
        (dir, l)
    }

    #[test]
    fn find_puts_the_most_specific_applicable_lesson_first() {
        let (_d, l) = open(FILE);
        let q = FailureQuery {
            tool: "http".into(),
            code: "CONNECTION_REFUSED".into(),
            message: "connection refused".into(),
            subject: Some("shop.example:8080".into()),
            target: "GET http://shop.example:8080/orders".into(),
        };
        let found = l.find(&q, 5);
        let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(&ids[..2], ["shop-mirror", "generic"]);
        assert!(found[0].applies && found[1].applies);
        assert!(found.iter().all(|m| m.id != "shop-timeout" || !m.applies), "another code's lesson does not apply: {ids:?}");
        // The lesson without fields shares words: context, not applicable.
        let loose = found.iter().find(|m| m.text.starts_with("Any word")).expect("context lesson");
        assert!(!loose.applies);
        // Another host: the mirror lesson does not apply.
        let other = l.find(&FailureQuery { subject: Some("api.other:443".into()), target: "GET https://api.other/".into(), ..q }, 5);
        assert_eq!(other[0].id, "generic");
        assert!(other.iter().all(|m| m.id != "shop-mirror" || !m.applies));
    }

    /// Issue 13: the lookup from the index alone finds what the parsed
    /// memory finds, in the same order, with the same facts.
    #[test]
    fn the_index_alone_finds_what_the_parsed_memory_finds() {
        let (d, l) = open(FILE);
        let text = std::fs::read_to_string(d.path().join("MEMORY.md")).unwrap();
        drop(l);
        let snap =
            LessonIndex::open_current(&d.path().join("index"), mend_memory::store::Version::of(&text).0).expect("built from this file");
        let (_d2, l) = open(FILE);
        let key = |m: &LessonMatch| {
            (m.id.clone(), m.applies, m.specificity, m.fix.as_ref().map(|f| f.action.clone()), m.seen, m.failures, m.text.clone())
        };
        for (tool, code, message, subject) in [
            ("http", "CONNECTION_REFUSED", "connection refused", Some("shop.example:8080")),
            ("http", "CONNECTION_REFUSED", "connection refused", Some("api.other:443")),
            ("http", "TIMEOUT", "timed out after 30 s", None),
            ("exec", "NOT_FOUND", "no such file", Some("Export.csv")),
        ] {
            let q = FailureQuery {
                tool: tool.into(),
                code: code.into(),
                message: message.into(),
                subject: subject.map(Into::into),
                target: String::new(),
            };
            let parsed: Vec<_> = l.find(&q, 5).iter().map(key).collect();
            let indexed: Vec<_> = find_in_index(&snap, &q, 5).iter().map(key).collect();
            assert_eq!(indexed, parsed, "{code} {subject:?}");
        }
        // Another version of the file: no snapshot (the file is parsed instead).
        assert!(LessonIndex::open_current(&d.path().join("index"), mend_memory::store::Version::of("other").0).is_none());
    }

    #[test]
    fn dates_count_days_since_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2026-11-22"), Some(20_779));
        assert_eq!(parse_date("nope"), None);
    }

    #[test]
    fn check_finds_duplicates_contradictions_failing_and_stale_lessons() {
        let text = "## s\n\n- a\n  - when: `http` `TIMEOUT`\n  - fix: retry_same\n  - id: a\n- b\n  - when: `http` `TIMEOUT`\n  - fix: verify_state\n  - seen: 4 · last: 2020-01-01 · failures: 3\n  - id: b\n- c\n  - when: `http` `TIMEOUT`\n  - fix: escalate `{\"recommend\": \"skip\"}`\n  - id: c\n- same words\n- same words\n";
        let f = check(&mend_memory::parse(text), 180, parse_date("2026-11-22").unwrap());
        let kinds: Vec<(&str, Option<&str>)> = f.iter().map(|x| (x.kind.as_str(), x.lesson.as_deref())).collect();
        assert!(kinds.contains(&("contradiction", Some("b"))), "{f:#?}");
        assert!(kinds.contains(&("failing", Some("b"))) && kinds.contains(&("stale", Some("b"))), "{f:#?}");
        assert_eq!(f.iter().filter(|x| x.kind == "duplicate").count(), 1, "{f:#?}");
        assert!(f.iter().all(|x| x.lesson.as_deref() != Some("c")), "a recorded choice contradicts nothing: {f:#?}");
    }

    /// Issue 13: each lesson is reported once, against the first of its
    /// kind — the findings grow with the lessons, not with their pairs.
    #[test]
    fn check_reports_each_lesson_once_however_many_copies() {
        let n = 3_000;
        let mut text = String::from("## s\n\n");
        for i in 0..n {
            let fix = if i % 3 == 0 { "retry_same" } else { "verify_state" };
            text.push_str(&format!("- the same failure\n  - when: `http` `TIMEOUT`\n  - fix: {fix}\n  - id: l{i}\n"));
        }
        for i in 0..n {
            text.push_str(&format!("- the same words\n  - id: w{i}\n"));
        }
        let f = check(&mend_memory::parse(&text), 180, parse_date("2026-11-22").unwrap());
        assert_eq!(f.len(), 2 * n - 2, "one finding per lesson after the first of each group");
        let contradictions: Vec<_> = f.iter().filter(|x| x.kind == "contradiction").collect();
        assert_eq!(contradictions.len(), 1, "only the first verify_state contradicts the first retry_same");
        assert_eq!(contradictions[0].lesson.as_deref(), Some("l1"));
        assert!(
            f.iter()
                .filter(|x| x.kind == "duplicate" && x.lesson.as_deref().is_some_and(|l| l.starts_with('w')))
                .all(|x| x.other.as_deref() == Some("w0"))
        );
    }

    #[test]
    fn apply_and_reload_keep_the_index_in_step() {
        let (_d, l) = open(FILE);
        l.apply(&[Edit::Delete { id: "generic".into() }]).unwrap();
        assert!(l.search("generic refusals", &Filter::default(), 5).unwrap().iter().all(|h| h.id != "generic"));
        // Another editor appends a lesson.
        let mut text = std::fs::read_to_string(l.path()).unwrap();
        text.push_str("- Quota errors on the shop clear at midnight UTC.\n  - id: quota\n");
        std::fs::write(l.path(), &text).unwrap();
        assert_eq!(l.reload().unwrap(), 1);
        assert_eq!(l.search("midnight", &Filter::default(), 5).unwrap()[0].id, "quota");
        assert_eq!(l.reload().unwrap(), 0, "same version: nothing to do");
    }

    #[test]
    fn an_edit_saved_by_another_editor_is_picked_up_by_the_watcher() {
        let (_d, l) = open(FILE);
        let l = Arc::new(l);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let _watch = l.watch(move |e| sink.lock().unwrap().push(e.to_string())).unwrap();
        // Another editor saves the way editors do: a new file renamed over the old one.
        let text = std::fs::read_to_string(l.path()).unwrap().replace("Generic refusals: retry.", "Refusals from the kiwi proxy: retry.");
        let tmp = l.path().with_extension("swp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, l.path()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if l.search("kiwi", &Filter::default(), 5).unwrap().first().is_some_and(|h| h.id == "generic") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the edit never showed up in search");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
    }
}
