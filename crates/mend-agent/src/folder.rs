//! A folder of job files and their schedules: what `mend daemon` and the
//! desktop app's scheduler run.
//!
//! The folder is re-read on [`JobFolder::scan`]; a file is loaded again only
//! when its modification time changes, so a broken file is reported once
//! per change. An interval job first runs one interval after it is loaded;
//! a cron job at its next occurrence. Missed ticks are not queued.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mend_core::config::Config;
use mend_core::job::Job;

/// One job file of the folder.
#[derive(Debug, Clone)]
pub struct Entry {
    modified: Option<SystemTime>,
    /// The checked job, or why it did not load (file, line, field).
    pub job: Result<Job, String>,
    /// When it is next due (ms since epoch), if it has a schedule.
    pub next_ms: Option<i64>,
}

/// What a scan found that a person should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file (re)loaded.
    Loaded {
        /// The file.
        path: PathBuf,
        /// The job's name.
        name: String,
        /// Its schedule, described.
        schedule: Option<String>,
    },
    /// A file failed to load.
    Broken {
        /// The error, naming file, line and field.
        error: String,
    },
    /// A file went away.
    Removed {
        /// The file.
        path: PathBuf,
    },
}

/// The job files of one folder.
#[derive(Debug)]
pub struct JobFolder {
    dir: PathBuf,
    entries: BTreeMap<PathBuf, Entry>,
}

impl JobFolder {
    /// A folder, not yet read.
    pub fn new(dir: &Path) -> JobFolder {
        JobFolder { dir: dir.to_path_buf(), entries: BTreeMap::new() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads the folder; `now_ms` dates newly loaded schedules.
    pub fn scan(&mut self, config: &Config, env: &[(String, String)], now_ms: i64) -> std::io::Result<Vec<Change>> {
        let mut changes = Vec::new();
        let mut seen = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)?.flatten().collect();
        files.sort_by_key(|e| e.path());
        for e in files {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("toml") {
                continue;
            }
            let modified = e.metadata().and_then(|m| m.modified()).ok();
            seen.push(path.clone());
            if self.entries.get(&path).is_some_and(|old| old.modified == modified) {
                continue;
            }
            let job = crate::load::job(&path, config, env).map_err(|e| e.to_string());
            let next_ms = job.as_ref().ok().and_then(|j| j.schedule.as_ref()).and_then(|s| s.next_after(now_ms));
            changes.push(match &job {
                Ok(j) => Change::Loaded { path: path.clone(), name: j.name.clone(), schedule: j.schedule.as_ref().map(|s| s.to_string()) },
                Err(e) => Change::Broken { error: e.clone() },
            });
            self.entries.insert(path, Entry { modified, job, next_ms });
        }
        self.entries.retain(|p, _| {
            let keep = seen.contains(p);
            if !keep {
                changes.push(Change::Removed { path: p.clone() });
            }
            keep
        });
        Ok(changes)
    }

    /// Every file, in name order.
    pub fn entries(&self) -> impl Iterator<Item = (&Path, &Entry)> {
        self.entries.iter().map(|(p, e)| (p.as_path(), e))
    }

    /// When the next scheduled job is due.
    pub fn next_due(&self) -> Option<i64> {
        self.entries.values().filter_map(|e| e.next_ms).min()
    }

    /// The earliest job due at `now_ms`, if any; its next time is counted
    /// from now (missed ticks are not queued).
    pub fn take_due(&mut self, now_ms: i64) -> Option<(PathBuf, Job)> {
        let (path, entry) =
            self.entries.iter_mut().filter(|(_, e)| e.next_ms.is_some_and(|n| n <= now_ms)).min_by_key(|(_, e)| e.next_ms)?;
        let job = entry.job.as_ref().ok()?.clone();
        entry.next_ms = job.schedule.as_ref().and_then(|s| s.next_after(now_ms));
        Some((path.clone(), job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: &str =
        "version = 1\nname = \"tick\"\nschedule = \"every 1m\"\n[[steps]]\nname = \"s\"\ntool = \"exec\"\nargs = { program = \"true\" }\n";

    #[test]
    fn a_folder_reports_loaded_broken_and_removed_files_and_takes_due_jobs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tick.toml"), EVERY).unwrap();
        std::fs::write(dir.path().join("bad.toml"), "version = 1\nname = 3\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a job").unwrap();
        let mut f = JobFolder::new(dir.path());
        let env = Vec::new();
        let changes = f.scan(&Config::default(), &env, 0).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(matches!(&changes[0], Change::Broken { error } if error.contains("bad.toml:2")), "{changes:?}");
        assert!(matches!(&changes[1], Change::Loaded { name, .. } if name == "tick"), "{changes:?}");
        // Unchanged files are not reported again.
        assert!(f.scan(&Config::default(), &env, 0).unwrap().is_empty());
        assert_eq!(f.next_due(), Some(60_000));
        assert!(f.take_due(59_999).is_none());
        let (path, job) = f.take_due(60_000).unwrap();
        assert!(path.ends_with("tick.toml"));
        assert_eq!(job.name, "tick");
        // Counted from the start that took it.
        assert_eq!(f.next_due(), Some(120_000));
        std::fs::remove_file(dir.path().join("tick.toml")).unwrap();
        let changes = f.scan(&Config::default(), &env, 0).unwrap();
        assert!(matches!(&changes[..], [Change::Removed { path }] if path.ends_with("tick.toml")));
        assert_eq!(f.next_due(), None);
    }
}
