//! Run ownership (issue 12): a run belongs to the live process that holds
//! its lease, an exclusive lock on `<data dir>/runs/<run id>.lock` taken
//! with `flock(2)` (std's [`File::try_lock`]). The operating system ends
//! the lease when the process dies, however it dies (`kill -9`, a crash,
//! the machine going down), so "is anyone running this?" never rests on a
//! status column that a dead process cannot update.
//!
//! The lease is held for a run's whole life (a run waiting at a terminal
//! prompt included). A process that wants to go on with a run whose owner
//! died (a person deciding its pending request, `mend runs resume`, the
//! desktop app at its next start) takes the lease first; two of them at once
//! get it one at a time. The file holds the owner's pid, its start time and
//! what it is, for people and for [`peek`]; the lock, not the contents, is
//! the truth. The owner removes the file when it lets go; a process that
//! locked a file its owner had just removed sees that the path no longer
//! names it and tries again, so two processes never both hold a run.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds a run's lease, as its lease file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The owner's process id.
    pub pid: u32,
    /// The owner's start time in clock ticks since boot (`/proc/PID/stat`
    /// field 22), so a reused pid is not mistaken for the owner.
    #[serde(default)]
    pub start_ticks: u64,
    /// When it took the lease (ms since epoch).
    pub since_ms: i64,
    /// What it is: `mend run jobs/backup.toml`, `mend-desktop`, …
    pub what: String,
    /// The process group a call of the run is running in right now, if any:
    /// when the holder dies mid-call, the group goes on without it, and
    /// whoever takes the run over stops it ([`Lease::stop_orphan`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<Child>,
}

/// A call's processes, as the lease file records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    /// The group's id (its leader's pid).
    pub pgid: u32,
    /// The leader's start time in clock ticks since boot.
    pub start_ticks: u64,
    /// The value of `MEND_CALL` in every process of the call: what tells
    /// the call's processes from others (a group id can be reused).
    #[serde(default)]
    pub marker: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}, `{}`", self.pid, self.what)
    }
}

/// A run's lease, held until dropped: dropping it removes the lease file
/// and releases the lock.
#[derive(Debug)]
pub struct Lease {
    file: File,
    path: PathBuf,
    run_id: String,
    /// What the file said before we took it: the previous holder, if it
    /// died holding the run.
    previous: Option<Holder>,
    /// What the file says now (a std mutex: held only to rewrite the file).
    holder: std::sync::Mutex<Holder>,
    /// The previous holder's process group that [`stop_orphan`](Self::stop_orphan) stopped.
    stopped: Option<String>,
}

impl Lease {
    /// The run it is for.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The holder before us, when the lease file was left by a holder that
    /// died (`kill -9`, a crash): who it was and what it was running.
    pub fn previous(&self) -> Option<&Holder> {
        self.previous.as_ref()
    }

    /// Records the process group a call of the run runs in and the mark its
    /// processes carry (`None`: none now; group `0`: about to start, the
    /// group not known yet), so whoever takes the run over if
    /// we die can stop them. One write to
    /// the lease file, no fsync: it must survive our death, not the machine's.
    pub fn note_child(&self, child: Option<(u32, &str)>) {
        let Ok(mut h) = self.holder.lock() else { return };
        h.child = child.map(|(pgid, marker)| Child {
            pgid,
            start_ticks: if pgid == 0 { 0 } else { start_ticks(pgid).unwrap_or(0) },
            marker: marker.to_owned(),
        });
        // One write, padded with spaces over whatever was longer (JSON allows
        // trailing blanks): a truncate first would leave an empty file to a
        // kill between the two, and the takeover nothing to go on.
        let mut text = serde_json::to_string(&*h).unwrap_or_default();
        let was = self.file.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        if was > text.len() {
            text.push_str(&" ".repeat(was - text.len()));
        }
        let _ = std::os::unix::fs::FileExt::write_all_at(&self.file, text.as_bytes(), 0);
    }

    /// Stops the processes of the call the previous holder was running, if
    /// any still run: their supervisor died, and a call of Mend's never goes
    /// on unsupervised (issue 12). They are found by the mark each carries
    /// in its environment (`MEND_CALL`), never by a group id alone, which
    /// another process may have been given since. Returns which were
    /// stopped (``process 4242, `sleep 30` ``), for the person asked whether
    /// the call ran.
    pub fn stop_orphan(&mut self) -> Option<String> {
        let stopped = self.stop_previous_child();
        if stopped.is_some() {
            self.stopped = stopped.clone();
        }
        stopped
    }

    /// What [`stop_orphan`](Self::stop_orphan) stopped, if anything.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    fn stop_previous_child(&self) -> Option<String> {
        let c = self.previous.as_ref()?.child.as_ref()?;
        if c.marker.is_empty() {
            // Recorded by a version that did not mark its calls: a group id
            // alone could name someone else's processes. Left alone.
            return None;
        }
        // The call's own processes are those in its group that carry its
        // mark (the mark tells them from a group id given out again). Those
        // with the mark outside the group left it on purpose (`setsid`, a
        // service, a terminal multiplexer whose later sessions inherit the
        // mark): named for the person, never killed — as at a timeout.
        // Our own process and its ancestors are never touched. A few
        // rounds, in case one forks while we look.
        let spared = ancestors();
        // Noted before its spawn and never after (we died in between): the
        // call's group is the one whose leader carries the mark as its own
        // (last) — the leader the call was started as.
        let pgid = match c.pgid {
            0 => marked(&c.marker)
                .into_iter()
                .find(|(p, _)| group_of(*p) == Some(*p) && own_mark(*p).as_deref() == Some(c.marker.as_str()))
                .map(|(p, _)| p)
                .unwrap_or(0),
            g => g,
        };
        let mut stopped: Vec<(u32, String)> = Vec::new();
        let mut left: Vec<(u32, String)> = Vec::new();
        for _ in 0..5 {
            let found: Vec<(u32, String)> = marked(&c.marker).into_iter().filter(|(p, _)| !spared.contains(p)).collect();
            let mut killed_any = false;
            for (pid, cmd) in found {
                if stopped.iter().chain(&left).any(|(x, _)| *x == pid) {
                    continue;
                }
                if group_of(pid) != Some(pgid) {
                    left.push((pid, cmd));
                    continue;
                }
                let Ok(p) = i32::try_from(pid) else { continue };
                if nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL).is_ok() {
                    stopped.push((pid, cmd));
                    killed_any = true;
                }
            }
            if !killed_any {
                break;
            }
        }
        // Gone before anything looks (the verify call): a killed process is
        // a zombie until it is reaped, and a zombie still answers `kill -0`.
        let t0 = std::time::Instant::now();
        while stopped.iter().any(|(p, _)| std::path::Path::new(&format!("/proc/{p}")).exists())
            && t0.elapsed() < std::time::Duration::from_secs(2)
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let list = |v: &[(u32, String)]| match v {
            [] => String::new(),
            [(p, cmd)] => format!("process {p}, `{cmd}`"),
            [(_, cmd), ..] => {
                format!("{} processes: {}; the first `{cmd}`", v.len(), v.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(", "))
            }
        };
        let outside = |v: &[(u32, String)]| format!("{} still running outside its process group, left for you to check", list(v));
        match (stopped.is_empty(), left.is_empty()) {
            (true, true) => None,
            (false, true) => Some(format!("stopped {}", list(&stopped))),
            (true, false) => Some(outside(&left)),
            (false, false) => Some(format!("stopped {}; {}", list(&stopped), outside(&left))),
        }
    }
}

/// The run's lease as the engine's [`ProcessNote`](mend_core::tool::ProcessNote):
/// each call's process group is written to the lease file while it runs.
pub struct Note(pub std::sync::Arc<Lease>);

impl mend_core::tool::ProcessNote for Note {
    fn started(&self, pgid: u32, marker: &str) {
        self.0.note_child(Some((pgid, marker)));
    }
    fn starting(&self, marker: &str) {
        self.0.note_child(Some((0, marker)));
    }
    fn ended(&self, _pgid: u32) {
        self.0.note_child(None);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Removed while still locked: whoever opened it meanwhile finds the
        // path gone once it gets the lock, and tries again.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// What [`take`] found.
#[derive(Debug)]
pub enum Taken {
    /// The lease is ours: the run's owner is gone (or it never had one).
    Ours(Lease),
    /// A live process holds it; `None` when its file says nothing yet (it
    /// is being taken right now).
    Held(Option<Holder>),
}

/// The folder of lease files.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("runs")
}

/// A run id as a file name: run ids are Mend's own (hex), but one typed by a
/// person (`mend runs resume ID`) must not name a path elsewhere.
fn file_for(data_dir: &Path, run_id: &str) -> std::io::Result<PathBuf> {
    let ok = !run_id.is_empty() && run_id.len() <= 128 && run_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{run_id}` is not a run id")));
    }
    Ok(dir(data_dir).join(format!("{run_id}.lock")))
}

/// Takes the lease of `run_id` without waiting. `what` says who we are
/// (shown to people who find the run owned). Errors: the data directory
/// cannot be written, or `run_id` is not a run id.
pub fn take(data_dir: &Path, run_id: &str, what: &str) -> std::io::Result<Taken> {
    let path = file_for(data_dir, run_id)?;
    std::fs::create_dir_all(dir(data_dir))?;
    for _ in 0..16 {
        let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Taken::Held(read(&mut file))),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // Its last owner may have removed it between our open and our lock.
        let here = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
        let ours = file.metadata().ok().map(|m| (m.dev(), m.ino()));
        if here.is_none() || here != ours {
            continue;
        }
        let previous = read(&mut file);
        let holder = Holder {
            pid: std::process::id(),
            start_ticks: start_ticks(std::process::id()).unwrap_or(0),
            since_ms: now_ms(),
            what: what.to_owned(),
            child: None,
        };
        file.set_len(0)?;
        std::os::unix::fs::FileExt::write_all_at(&file, serde_json::to_string(&holder).unwrap_or_default().as_bytes(), 0)?;
        return Ok(Taken::Ours(Lease {
            file,
            path,
            run_id: run_id.to_owned(),
            previous,
            holder: std::sync::Mutex::new(holder),
            stopped: None,
        }));
    }
    Err(std::io::Error::other(format!("{}: the lease file keeps being replaced", path.display())))
}

/// Who holds the lease of `run_id`, without taking it: the holder its file
/// names, if that process is alive (same pid and start time). For display
/// only (`mend runs`): it never blocks anyone, and the lock decides who may
/// act on the run.
pub fn peek(data_dir: &Path, run_id: &str) -> Option<Holder> {
    let mut file = File::open(file_for(data_dir, run_id).ok()?).ok()?;
    let h = read(&mut file)?;
    let alive = start_ticks(h.pid).is_some_and(|t| h.start_ticks == 0 || t == h.start_ticks);
    alive.then_some(h)
}

/// The holder a run's lease file names, alive or not (after a `kill -9`
/// the file stays behind and tells who the owner was).
pub fn last_holder(data_dir: &Path, run_id: &str) -> Option<Holder> {
    read(&mut File::open(file_for(data_dir, run_id).ok()?).ok()?)
}

/// Removes lease files nobody holds (left by owners that were killed).
/// Returns how many were removed.
pub fn sweep(data_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(run_id) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else { continue };
        if peek(data_dir, run_id).is_none()
            && let Ok(Taken::Ours(lease)) = take(data_dir, run_id, "cleanup")
        {
            drop(lease);
            n += 1;
        }
    }
    n
}

fn read(file: &mut File) -> Option<Holder> {
    file.rewind().ok()?;
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// The processes whose environment holds `MEND_CALL=marker` (those of other
/// users cannot be read, and are not ours), with their command lines.
fn marked(marker: &str) -> Vec<(u32, String)> {
    // A Mend run inside a call adds its own mark after the one it inherited.
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()).filter(|&p| p != std::process::id()) else { continue };
        let Ok(env) = std::fs::read(e.path().join("environ")) else { continue };
        let has = env
            .split(|&b| b == 0)
            .filter_map(|v| v.strip_prefix(b"MEND_CALL="))
            .any(|v| v.split(|&b| b == b' ').any(|m| m == marker.as_bytes()));
        if has {
            out.push((pid, mend_tools::exec::command_of(pid)));
        }
    }
    out
}

/// The last mark in a process's `MEND_CALL` (its own call's; those before
/// it are of the Mend runs it is nested in).
fn own_mark(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let v = env.split(|&b| b == 0).find_map(|v| v.strip_prefix(b"MEND_CALL="))?;
    let last = v.split(|&b| b == b' ').rfind(|m| !m.is_empty())?;
    String::from_utf8(last.to_vec()).ok()
}

/// The fields of `/proc/PID/stat` from field 3 (the state) on: the
/// command name before them is in parentheses and may hold spaces.
fn stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace().map(str::to_owned).collect())
}

/// A process's group id (field 5).
fn group_of(pid: u32) -> Option<u32> {
    stat(pid)?.get(2)?.parse().ok()
}

/// This process and its ancestors (never stopped at a takeover, whatever
/// their environment says).
fn ancestors() -> Vec<u32> {
    let mut out = vec![std::process::id()];
    let mut pid = std::process::id();
    // The parent is field 4.
    while let Some(parent) = stat(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()).filter(|&p| p > 1 && !out.contains(&p)) {
        out.push(parent);
        pid = parent;
    }
    out
}

/// A process's start time in clock ticks since boot (field 22), `None` if
/// it is gone (a zombie is gone: it has ended and only waits to be reaped).
fn start_ticks(pid: u32) -> Option<u64> {
    let f = stat(pid)?;
    if f.first()? == "Z" {
        return None;
    }
    f.get(19)?.parse().ok()
}

fn now_ms() -> i64 {
    mend_core::clock::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_file_goes_with_the_lease() {
        let d = tempfile::tempdir().unwrap();
        let Taken::Ours(lease) = take(d.path(), "abc", "test").unwrap() else { panic!("free lease") };
        assert!(matches!(take(d.path(), "abc", "other").unwrap(), Taken::Held(Some(h)) if h.pid == std::process::id() && h.what == "test"));
        assert_eq!(peek(d.path(), "abc").map(|h| h.what), Some("test".into()));
        drop(lease);
        assert!(!dir(d.path()).join("abc.lock").exists(), "the file is removed with the lease");
        assert!(peek(d.path(), "abc").is_none());
        assert!(matches!(take(d.path(), "abc", "again").unwrap(), Taken::Ours(_)));
    }

    #[test]
    fn a_run_id_cannot_name_another_path() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", "a b", ".."] {
            assert!(take(d.path(), bad, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_dead_owners_file_blocks_nobody_and_is_swept() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir(d.path())).unwrap();
        // A file left by an owner that died: a pid that is not running.
        let stale = Holder { pid: u32::MAX - 1, start_ticks: 1, since_ms: 0, what: "mend run (killed)".into(), child: None };
        std::fs::write(dir(d.path()).join("dead.lock"), serde_json::to_string(&stale).unwrap()).unwrap();
        assert!(peek(d.path(), "dead").is_none());
        assert_eq!(sweep(d.path()), 1);
        assert!(!dir(d.path()).join("dead.lock").exists());
    }

    /// A dead owner's call is found by its group and the mark its
    /// processes carry: a marked process in the group is stopped; an
    /// unmarked one in the group (a reused id) lives; a marked one that left
    /// the group is named, not stopped (issue 12, red team).
    #[test]
    fn only_the_calls_own_processes_are_stopped_at_takeover() {
        use std::os::unix::process::CommandExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir(d.path())).unwrap();
        let mut leader = std::process::Command::new("sleep").arg("30").env("MEND_CALL", "outer run-x-1").process_group(0).spawn().unwrap();
        let group = leader.id();
        let mut stranger = std::process::Command::new("sleep").arg("31").process_group(group as i32).spawn().unwrap();
        let mut escaped = std::process::Command::new("sleep").arg("32").env("MEND_CALL", "run-x-1").process_group(0).spawn().unwrap();
        let dead = Holder {
            pid: u32::MAX - 1,
            start_ticks: 1,
            since_ms: 0,
            what: "mend run (killed)".into(),
            child: Some(Child { pgid: group, start_ticks: start_ticks(group).unwrap(), marker: "run-x-1".into() }),
        };
        std::fs::write(dir(d.path()).join("x.lock"), serde_json::to_string(&dead).unwrap()).unwrap();
        let Taken::Ours(mut lease) = take(d.path(), "x", "test").unwrap() else { panic!("the owner is dead") };
        // Each has its environment in place before the takeover looks.
        let t0 = std::time::Instant::now();
        while marked("run-x-1").len() < 2 && t0.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let said = lease.stop_orphan().expect("something was found");
        assert!(said.starts_with(&format!("stopped process {group}")), "{said}");
        assert!(said.contains(&format!("process {}, `sleep 32` still running outside its process group", escaped.id())), "{said}");
        assert!(leader.wait().unwrap().code().is_none(), "the marked group member was killed");
        assert!(stranger.try_wait().unwrap().is_none(), "an unmarked process of the group lives");
        assert!(escaped.try_wait().unwrap().is_none(), "a marked process outside the group lives");
        for c in [&mut stranger, &mut escaped] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert_eq!(lease.stopped(), Some(said.as_str()));
    }

    /// An owner killed between noting a call's mark and noting its group
    /// (the lease says group 0): the group is the one whose leader carries
    /// the mark as its own; a nested run's call (the mark inherited, its own
    /// after it) is named, not stopped.
    #[test]
    fn a_call_noted_before_its_group_was_known_is_still_stopped() {
        use std::os::unix::process::CommandExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir(d.path())).unwrap();
        let mut leader = std::process::Command::new("sleep").arg("30").env("MEND_CALL", "run-z-1").process_group(0).spawn().unwrap();
        let group = leader.id();
        let mut member =
            std::process::Command::new("sleep").arg("31").env("MEND_CALL", "run-z-1").process_group(group as i32).spawn().unwrap();
        let mut nested =
            std::process::Command::new("sleep").arg("32").env("MEND_CALL", "run-z-1 inner-2").process_group(0).spawn().unwrap();
        let dead = Holder {
            pid: u32::MAX - 1,
            start_ticks: 1,
            since_ms: 0,
            what: "mend run (killed)".into(),
            child: Some(Child { pgid: 0, start_ticks: 0, marker: "run-z-1".into() }),
        };
        std::fs::write(dir(d.path()).join("z.lock"), serde_json::to_string(&dead).unwrap()).unwrap();
        let Taken::Ours(mut lease) = take(d.path(), "z", "test").unwrap() else { panic!("the owner is dead") };
        let t0 = std::time::Instant::now();
        while marked("run-z-1").len() < 3 && t0.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let said = lease.stop_orphan().expect("something was found");
        assert!(said.starts_with("stopped 2 processes: "), "{said}");
        assert!(said.contains(&format!("process {}, `sleep 32` still running outside its process group", nested.id())), "{said}");
        assert!(leader.wait().unwrap().code().is_none(), "the leader was killed");
        assert!(member.wait().unwrap().code().is_none(), "the member was killed");
        assert!(nested.try_wait().unwrap().is_none(), "the nested run's call lives");
        let _ = nested.kill();
        let _ = nested.wait();
    }

    /// A shorter note over a longer one is still the whole truth: padded,
    /// never truncated first (a kill between the two would leave nothing).
    #[test]
    fn a_shorter_note_over_a_longer_one_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let Taken::Ours(lease) = take(d.path(), "s", "test").unwrap() else { panic!("free") };
        lease.note_child(Some((4242, &"m".repeat(300))));
        assert_eq!(last_holder(d.path(), "s").unwrap().child.unwrap().marker.len(), 300);
        lease.note_child(None);
        let h = last_holder(d.path(), "s").expect("the file parses");
        assert_eq!(h.child, None);
        assert_eq!(h.pid, std::process::id());
    }

    #[test]
    fn our_own_start_time_is_read() {
        assert!(start_ticks(std::process::id()).is_some_and(|t| t > 0));
        assert!(start_ticks(u32::MAX - 1).is_none());
    }
}
