//! The memory file on disk: atomic writes (temp file, fsync, rename, fsync
//! of the folder) and no lost updates. An edit names the version of the file
//! it was made on; if the file changed since, the edit is merged when the
//! lesson it touches is the same in both versions (or it adds a lesson), and
//! refused with both versions otherwise — never silently overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::edit::{Edit, EditError, Patched, apply};
use crate::{Memory, parse};

/// How long the file must have been still, after a change Mend did not
/// make, before a write merges into it: an editor saving in place (a
/// truncate, then writes) is done by then.
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(1500);
/// The longest a write waits for the file to be still.
pub const QUIET_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// A version of the file: a hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(pub u64);

impl Version {
    /// The version of these bytes.
    pub fn of(text: &str) -> Version {
        // FNV-1a: fast, stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Version(h)
    }
}

/// The file changed under an edit that cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The file as it is now.
    pub theirs: String,
    /// The file as the edit would have made it from the version it was based on.
    pub ours: String,
    /// Why it cannot be merged.
    pub reason: String,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The edit itself is wrong.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The file changed since the edit's version, in the same place.
    #[error("{}: the file changed since it was read: {}", .path, .conflict.reason)]
    Conflict {
        /// The file.
        path: String,
        /// Both versions.
        conflict: Box<Conflict>,
    },
    /// The file is not UTF-8.
    #[error("{path}:{line}: the file is not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: String,
        /// The first bad line.
        line: usize,
    },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Applied to the version it was based on.
    Applied(Version),
    /// The file had changed elsewhere; the edit touched a different lesson
    /// and was applied on top.
    Merged(Version),
}

impl Written {
    /// The file's version after the write.
    pub fn version(&self) -> Version {
        match self {
            Written::Applied(v) | Written::Merged(v) => *v,
        }
    }
}

/// The memory file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Store {
        Store { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes temp files that writers killed mid-write left beside the
    /// file (`.NAME.PID.tmp` whose process is gone; issue 12). A live
    /// writer's temp file is left alone. Returns how many were removed.
    pub fn remove_stray_temps(&self) -> usize {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.");
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        let mut n = 0;
        for e in entries.flatten() {
            let file = e.file_name();
            let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)).and_then(|r| r.strip_suffix(".tmp")) else { continue };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if !Path::new(&format!("/proc/{pid}")).exists() && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io { path: self.path.display().to_string(), source }
    }

    /// Reads the file (a missing file is empty).
    pub fn read(&self) -> Result<String, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                let line = crate::line_of(&String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]), usize::MAX);
                StoreError::NotUtf8 { path: self.path.display().to_string(), line }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reads and parses the file, with its version.
    pub fn load(&self) -> Result<(Memory, String, Version), StoreError> {
        let text = self.read()?;
        let v = Version::of(&text);
        Ok((parse(&text), text, v))
    }

    /// The writers' lock (issue 13): an exclusive `flock` on
    /// `.NAME.lock` beside the file, held around read → merge → atomic
    /// write by every writer in Mend (the CLI, the desktop app, learning
    /// after a run), so two of them never both base a write on the same
    /// text. Waits for the lock (a write takes milliseconds). The file
    /// itself cannot carry the lock: each write replaces it (rename).
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "MEMORY.md".into());
        let lock_path = dir.join(format!(".{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io { path: lock_path.display().to_string(), source })?;
        lock.lock().map_err(|source| StoreError::Io { path: lock_path.display().to_string(), source })?;
        // Changed by something other than Mend since Mend's last write (the
        // person's editor)? An editor that saves in place (truncate, then
        // write) may be half-way: wait until the file has been still for
        // a moment, so a merge never starts from half a file (issue 13).
        let ours = std::fs::read_to_string(&lock_path).ok();
        if self.stamp().is_some_and(|s| Some(s) != ours) {
            self.wait_still();
        }
        let out = f();
        if let Some(s) = self.stamp() {
            let _ = std::fs::write(&lock_path, s);
        }
        let _ = lock.unlock();
        out
    }

    /// The file's identity and last change, as text: inode, size, mtime (ns).
    fn stamp(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&self.path).ok()?;
        Some(format!("{} {} {}.{}", m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    }

    /// Waits until the file was last changed at least [`QUIET`] ago (at most
    /// [`QUIET_MAX`]).
    fn wait_still(&self) {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < QUIET_MAX {
            let age = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            match age {
                Some(a) if a < QUIET => std::thread::sleep((QUIET - a).min(std::time::Duration::from_millis(200))),
                _ => return,
            }
        }
    }

    /// Applies `edit`, made on `base` (the text it was read as), to the
    /// file; returns what happened and the file's new text. Under the
    /// writers' lock; a file changed since `base` (another writer, the
    /// person's editor) gets the edit merged into it, or a conflict.
    pub fn apply(&self, base: &str, edit: &Edit) -> Result<(Written, String), StoreError> {
        self.locked(|| self.apply_unlocked(base, edit))
    }

    fn apply_unlocked(&self, base: &str, edit: &Edit) -> Result<(Written, String), StoreError> {
        // A person's editor does not take the lock: if it saved while this
        // edit was being merged, merge again on what it saved.
        let mut tries = 0;
        loop {
            let current = self.read()?;
            let (written, new) = self.merge(base, &current, edit)?;
            tries += 1;
            if self.write_over(&new, (tries < 8).then_some(current.as_str()))? {
                return Ok((written, new));
            }
        }
    }

    /// `edit` (made on `base`) applied to the file as it is (`current`):
    /// as is when nobody changed it, merged when what it touches is
    /// unchanged, else a conflict carrying both versions.
    fn merge(&self, base: &str, current: &str, edit: &Edit) -> Result<(Written, String), StoreError> {
        let current = current.to_owned();
        if current == base {
            let new = apply(&current, edit)?;
            return Ok((Written::Applied(Version::of(&new)), new));
        }
        let ours = apply(base, edit)?;
        let conflict = |reason: String| StoreError::Conflict {
            path: self.path.display().to_string(),
            conflict: Box::new(Conflict { theirs: current.clone(), ours: ours.clone(), reason }),
        };
        // Merge only when what the edit touches is the same in both versions.
        let (old, now) = (parse(base), parse(&current));
        match edit {
            Edit::Add { lesson, .. } => {
                if let Some(id) = &lesson.id
                    && now.lesson(id).is_some()
                {
                    return Err(conflict(format!("lesson `{id}` was added elsewhere too")));
                }
            }
            Edit::Replace { id, .. } | Edit::Delete { id } => {
                let before = old.lesson(id).map(|l| &base[l.range.clone()]);
                let after = now.lesson(id).map(|l| &current[l.range.clone()]);
                if before != after {
                    return Err(conflict(format!("lesson `{id}` was changed elsewhere")));
                }
            }
            Edit::DeleteSection { title } => {
                let before = old.section(title).map(|s| &base[s.range.clone()]);
                let after = now.section(title).map(|s| &current[s.range.clone()]);
                if before != after {
                    return Err(conflict(format!("section `{title}` was changed elsewhere")));
                }
            }
            // Applied to the file as it is now: refused there if the title is taken.
            Edit::AddSection { .. } => {}
        }
        let new = apply(&current, edit)?;
        Ok((Written::Merged(Version::of(&new)), new))
    }

    /// Like [`apply`](Self::apply), for a caller that holds `base` parsed
    /// as `memory`: when nobody changed the file meanwhile only the edited
    /// section is parsed again (see [`crate::edit::apply_parsed`]).
    pub fn apply_parsed(&self, base: &str, memory: &Memory, edit: &Edit) -> Result<(Written, Patched), StoreError> {
        self.locked(|| {
            if self.read()? == base {
                let patched = crate::edit::apply_parsed(base, memory, edit)?;
                if self.write_over(&patched.text, Some(base))? {
                    return Ok((Written::Applied(Version::of(&patched.text)), patched));
                }
            }
            let (written, text) = self.apply_unlocked(base, edit)?;
            Ok((written, Patched { memory: parse(&text), text, touched: None }))
        })
    }

    /// Replaces the whole file (the raw editor), refused if it changed since `base`.
    pub fn replace_all(&self, base: &str, text: &str) -> Result<Version, StoreError> {
        self.locked(|| {
            let current = self.read()?;
            if current != base {
                return Err(StoreError::Conflict {
                    path: self.path.display().to_string(),
                    conflict: Box::new(Conflict { theirs: current, ours: text.to_owned(), reason: "the whole file was edited".into() }),
                });
            }
            self.write(text)?;
            Ok(Version::of(text))
        })
    }

    /// [`write`](Self::write), unless the file is no longer `expected`
    /// once the new text is on disk, just before the rename (a person's
    /// editor saved meanwhile): then nothing is replaced and `false` says
    /// to merge again. `None` writes regardless.
    fn write_over(&self, text: &str, expected: Option<&str>) -> Result<bool, StoreError> {
        self.write_inner(text, expected)
    }

    /// Atomic write: a temp file beside the target, fsync, rename, fsync the folder.
    fn write(&self, text: &str) -> Result<(), StoreError> {
        self.write_inner(text, None).map(|_| ())
    }

    fn write_inner(&self, text: &str, expected: Option<&str>) -> Result<bool, StoreError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "MEMORY.md".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            // The file as it is just before the rename, kept open: an editor
            // still writing into it after the rename writes there.
            let mut old = std::fs::File::open(&self.path).ok();
            if let Some(expected) = expected {
                let mut now = Vec::new();
                if let Some(f) = old.as_mut() {
                    std::io::Read::read_to_end(f, &mut now)?;
                }
                if now != expected.as_bytes() {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(false);
                }
            }
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()?;
            // Written into after all (the editor's save went on): put its
            // text back, and have the caller merge again on it.
            if let (Some(expected), Some(f)) = (expected, old.as_mut()) {
                let mut later = Vec::new();
                std::io::Seek::rewind(f)?;
                std::io::Read::read_to_end(f, &mut later)?;
                if later != expected.as_bytes() {
                    let back = dir.join(format!(".{name}.{}.tmp", std::process::id()));
                    std::fs::write(&back, &later)?;
                    std::fs::File::open(&back)?.sync_all()?;
                    std::fs::rename(&back, &self.path)?;
                    return Ok(false);
                }
            }
            Ok(true)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewLesson;

    const FILE: &str = "## http\n\n- one\n  - id: one\n- two\n  - id: two\n";

    #[test]
    fn temp_files_of_killed_writers_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("MEMORY.md"));
        let dead = dir.path().join(format!(".MEMORY.md.{}.tmp", u32::MAX - 3));
        let live = dir.path().join(format!(".MEMORY.md.{}.tmp", std::process::id()));
        let other = dir.path().join(".notes.md.1.tmp");
        for p in [&dead, &live, &other] {
            std::fs::write(p, "half a file").unwrap();
        }
        assert_eq!(store.remove_stray_temps(), 1);
        assert!(!dead.exists() && live.exists() && other.exists());
    }

    fn lesson(id: &str, text: &str) -> NewLesson {
        NewLesson { id: Some(id.into()), text: text.into(), ..Default::default() }
    }

    #[test]
    fn an_edit_on_the_current_version_is_applied_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("memory/MEMORY.md"));
        assert_eq!(store.read().unwrap(), "", "a missing file is empty");
        store.replace_all("", FILE).unwrap();
        let (w, returned) = store.apply(FILE, &Edit::Replace { id: "one".into(), lesson: lesson("one", "uno") }).unwrap();
        let text = store.read().unwrap();
        assert_eq!(w, Written::Applied(Version::of(&text)));
        assert_eq!(returned, text);
        assert_eq!(text, "## http\n\n- uno\n  - id: one\n- two\n  - id: two\n");
        // The file and the writers' lock file, nothing else.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("memory")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 2, "no temp files left: {leftovers:?}");
        assert!(dir.path().join("memory/.MEMORY.md.lock").exists());
    }

    #[test]
    fn an_edit_of_another_lesson_is_merged_over_a_change_made_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("MEMORY.md"));
        store.replace_all("", FILE).unwrap();
        // Another editor changes lesson two.
        let theirs = FILE.replace("- two", "- two, edited in vim");
        std::fs::write(store.path(), &theirs).unwrap();
        // The app, still on the old version, edits lesson one: both survive.
        let (w, _) = store.apply(FILE, &Edit::Replace { id: "one".into(), lesson: lesson("one", "uno") }).unwrap();
        assert!(matches!(w, Written::Merged(_)));
        let text = store.read().unwrap();
        assert!(text.contains("- uno") && text.contains("- two, edited in vim"), "{text}");
        // Adding a lesson merges too.
        store.apply(FILE, &Edit::Add { section: "http".into(), lesson: lesson("three", "tres") }).unwrap();
        let m = parse(&store.read().unwrap());
        assert_eq!(m.lessons().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
    }

    #[test]
    fn an_edit_of_a_lesson_changed_elsewhere_is_a_conflict_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("MEMORY.md"));
        store.replace_all("", FILE).unwrap();
        let theirs = FILE.replace("- one", "- one, edited in vim");
        std::fs::write(store.path(), &theirs).unwrap();
        let err = store.apply(FILE, &Edit::Replace { id: "one".into(), lesson: lesson("one", "uno") }).unwrap_err();
        let StoreError::Conflict { conflict, .. } = err else { panic!("{err}") };
        assert_eq!(conflict.theirs, theirs);
        assert!(conflict.ours.contains("- uno"));
        assert_eq!(store.read().unwrap(), theirs, "the file was not touched");
        // Deleting it is a conflict too; so is a whole-file save.
        assert!(matches!(store.apply(FILE, &Edit::Delete { id: "one".into() }), Err(StoreError::Conflict { .. })));
        assert!(matches!(store.replace_all(FILE, "x"), Err(StoreError::Conflict { .. })));
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("MEMORY.md"));
        std::fs::write(store.path(), b"## ok\n\n- fine\n- bad \xff here\n").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.ends_with("MEMORY.md:4: the file is not UTF-8 text"), "{err}");
    }
}
