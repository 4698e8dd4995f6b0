//! `mend daemon --jobs DIR`: runs the job files of a folder on their
//! schedules, headless (servers, a login session), until stopped.
//!
//! Jobs run one at a time, through the same path as `mend run`: a job whose
//! time comes while another runs starts right after it, and a tick missed
//! while waiting is not queued twice. The folder is re-read every few
//! seconds (see [`mend_agent::folder`]), so adding, editing or removing a
//! file needs no restart; a file with errors is reported (file, line,
//! field) once per change and skipped. Approvals default to `wait`: a
//! request is left pending (`mend approvals decide` resumes it) and the
//! next job runs. SIGINT, SIGTERM or SIGHUP stops it: a run going on is
//! interrupted (its exit code is the daemon's), an idle daemon exits 0.
//! Every run reads its lessons from, and learns into, the memory file of
//! [`Home`] (`--memory`, as for `mend run`).

use std::path::Path;
use std::time::{Duration, Instant};

use mend_agent::RunSpec;
use mend_agent::folder::{Change, JobFolder};
use mend_core::clock::now_ms;
use mend_core::config::Config;

use crate::print::errln;
use crate::run::{Home, Output, execute};
use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_OK};

/// How often the folder is re-read.
const RESCAN: Duration = Duration::from_secs(2);

/// `mend daemon`.
pub async fn daemon(home: &Home, config: &Config, dir: &Path, approve: Option<ApproveMode>, max_runs: Option<usize>) -> u8 {
    if !dir.is_dir() {
        errln!("mend: {} is not a folder of job files", dir.display());
        return EXIT_BAD_INPUT;
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let approve = Some(approve.unwrap_or(ApproveMode::Wait));
    let mut folder = JobFolder::new(dir);
    let mut runs = 0usize;
    let mut last_scan = None::<Instant>;
    // Listening from here on: a stop caught during a run is seen here too.
    let stop = crate::signal::stop_requested();
    tokio::pin!(stop);
    loop {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            match folder.scan(config, &env, now_ms()) {
                Ok(changes) => changes.iter().for_each(report),
                Err(e) => errln!("mend daemon: reading {}: {e}", dir.display()),
            }
            last_scan = Some(Instant::now());
        }
        let now = now_ms();
        if let Some((path, job)) = folder.take_due(now) {
            errln!("mend daemon: running `{}` ({})", job.name, path.display());
            let spec = RunSpec { job_path: Some(&path), ..RunSpec::new(&job, env.clone()) };
            let code = execute(home, config, spec, Output { json: false, approve, quiet: false }).await;
            errln!("mend daemon: `{}` ended with exit code {code}", job.name);
            if crate::signal::caught().is_some() {
                return code;
            }
            runs += 1;
            if max_runs.is_some_and(|m| runs >= m) {
                return EXIT_OK;
            }
            continue;
        }
        let wait = folder.next_due().map(|next| Duration::from_millis((next - now).max(0) as u64)).unwrap_or(RESCAN).min(RESCAN);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut stop => {
                errln!("mend daemon: stopped");
                return EXIT_OK;
            }
        }
    }
}

fn report(c: &Change) {
    match c {
        Change::Loaded { path, name, schedule: Some(s) } => errln!("mend daemon: {} — `{name}` {s}", path.display()),
        Change::Loaded { path, .. } => errln!("mend daemon: {} has no `schedule`: skipped", path.display()),
        Change::Broken { error } => errln!("{error}"),
        Change::Removed { path } => errln!("mend daemon: {} removed", path.display()),
    }
}
