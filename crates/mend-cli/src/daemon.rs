//! `mend daemon --jobs DIR`: runs the job files of a folder on their
//! schedules, headless (servers, a login session), until stopped.
//!
//! Jobs run one at a time, through the same path as `mend run`: a job whose
//! time comes while another runs starts right after it, and a tick missed
//! while waiting is not queued twice. The folder is re-read every few
//! seconds, so adding, editing or removing a file needs no restart; a file
//! with errors is reported (file, line, field) once per change and skipped.
//! An interval job first runs one interval after the daemon starts; a cron
//! job at its next occurrence. Approvals default to `wait`: a request is
//! left pending (`mend approvals decide` resumes it) and the next job runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::job::Job;

use crate::run::{Output, execute, load};
use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_OK};

/// How often the folder is re-read.
const RESCAN: Duration = Duration::from_secs(2);

struct Entry {
    modified: Option<SystemTime>,
    /// The job and when it is next due, if it loaded and has a schedule.
    job: Option<(Job, i64)>,
}

fn scan(dir: &Path, config: &Config, env: &[(String, String)], entries: &mut BTreeMap<PathBuf, Entry>) -> std::io::Result<()> {
    let mut seen = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        let modified = e.metadata().and_then(|m| m.modified()).ok();
        seen.push(path.clone());
        if entries.get(&path).is_some_and(|old| old.modified == modified) {
            continue;
        }
        let job = match load(&path, config, env) {
            Ok(job) => match job.schedule.clone() {
                Some(s) => {
                    let next = s.next_after(now_ms());
                    eprintln!("mend daemon: {} — `{}` {s}", path.display(), job.name);
                    next.map(|n| (job, n))
                }
                None => {
                    eprintln!("mend daemon: {} has no `schedule`: skipped", path.display());
                    None
                }
            },
            Err(e) => {
                eprintln!("{e}");
                None
            }
        };
        entries.insert(path, Entry { modified, job });
    }
    entries.retain(|p, _| seen.contains(p));
    Ok(())
}

/// `mend daemon`.
pub async fn daemon(data_dir: &Path, config: &Config, dir: &Path, approve: Option<ApproveMode>, max_runs: Option<usize>) -> u8 {
    if !dir.is_dir() {
        eprintln!("mend: {} is not a folder of job files", dir.display());
        return EXIT_BAD_INPUT;
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let approve = Some(approve.unwrap_or(ApproveMode::Wait));
    let mut entries = BTreeMap::new();
    let mut runs = 0usize;
    let mut last_scan = None::<std::time::Instant>;
    loop {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            if let Err(e) = scan(dir, config, &env, &mut entries) {
                eprintln!("mend daemon: reading {}: {e}", dir.display());
            }
            last_scan = Some(std::time::Instant::now());
        }
        let now = now_ms();
        let due = entries.iter().filter_map(|(p, e)| e.job.as_ref().map(|(_, next)| (*next, p.clone()))).min();
        match due {
            Some((next, path)) if next <= now => {
                let Some(entry) = entries.get_mut(&path) else { continue };
                let Some((job, _)) = entry.job.take() else { continue };
                // Due again counted from this start; missed ticks are not queued.
                entry.job = job.schedule.as_ref().and_then(|s| s.next_after(now)).map(|n| (job.clone(), n));
                eprintln!("mend daemon: running `{}` ({})", job.name, path.display());
                let code = execute(data_dir, &job, env.clone(), Some(&path), None, Output { json: false, approve, quiet: false }).await;
                eprintln!("mend daemon: `{}` ended with exit code {code}", job.name);
                if code == crate::EXIT_INTERRUPTED {
                    return code;
                }
                runs += 1;
                if max_runs.is_some_and(|m| runs >= m) {
                    return EXIT_OK;
                }
            }
            other => {
                let wait = other.map(|(next, _)| Duration::from_millis((next - now).max(0) as u64)).unwrap_or(RESCAN).min(RESCAN);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("mend daemon: stopped");
                        return EXIT_OK;
                    }
                }
            }
        }
    }
}
