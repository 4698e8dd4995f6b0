//! Mend's journal: every call, outcome, diagnosis, attempt, recovery,
//! escalation and decision, in one SQLite file.
//!
//! One writer thread owns the write connection and commits events in
//! batches (WAL, `synchronous=NORMAL`; `FULL` for a batch that holds an
//! approval). The writer also keeps hourly rollups up to date in the same
//! transaction, so `mend metrics` reads a few hundred rows however many
//! million events there are. Readers open their own connections
//! ([`reader::Reader`]). Only this crate writes SQL.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use mend_core::approval::{ApprovalRequest, Decision, DecisionRule};
use mend_core::event::{Event, Journal, JournalError};
use rusqlite::Connection;
use tokio::sync::oneshot;

pub mod reader;
mod schema;
mod writer;

pub use reader::{ActionRate, Escalations, Failing, Healing, LogFilter, Metrics, Reader, Recovery, RunRow, RunState, Series, SeriesLine};

/// Commands queued for the writer before senders wait.
const QUEUE: usize = 16_384;

/// The journal file's name inside the data directory.
pub const FILE_NAME: &str = "journal.sqlite3";

/// Errors of the journal crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The schema could not be brought up to date.
    #[error("{path}: migrating the schema: {source}")]
    Migration {
        /// The database file.
        path: String,
        /// What went wrong.
        source: rusqlite_migration::Error,
    },
    /// A stored row could not be decoded.
    #[error("{path}: bad row: {message}")]
    Decode {
        /// The database file.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// The decision that holds, or why none could be stored.
pub(crate) type Resolved = oneshot::Sender<Result<Decision, JournalError>>;

pub(crate) enum Cmd {
    Event(Box<Event>),
    /// An event committed with `synchronous=FULL` before the sender goes on.
    Durable(Box<Event>, oneshot::Sender<Result<(), JournalError>>),
    SaveApproval(Box<ApprovalRequest>, oneshot::Sender<Result<(), JournalError>>),
    /// Request id, decision, whether the run acting on it is the one deciding.
    Resolve(String, Box<Decision>, bool, Resolved),
    Flush(oneshot::Sender<Result<(), JournalError>>),
    SaveRule(Box<DecisionRule>, oneshot::Sender<Result<(), JournalError>>),
    DeleteRule(String, oneshot::Sender<Result<(), JournalError>>),
}

/// The writing side: a cheap handle to the writer thread.
pub struct SqliteJournal {
    path: PathBuf,
    // A std mutex: only taken to send or to close, never across an await.
    // When the bounded queue is full the send waits for the writer: that is
    // the backpressure, and it lasts as long as one batch commit.
    tx: Mutex<Option<mpsc::SyncSender<Cmd>>>,
    // A std mutex: taken once, to join the writer on close.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer thread, to wake it early when someone waits on a commit.
    thread: std::thread::Thread,
    /// The first write failure, reported by the next flush. A std mutex:
    /// held only to read or set the string.
    failed: Arc<Mutex<Option<String>>>,
}

/// Opens (creating if needed) a connection with the journal's pragmas and
/// the schema migrated to the latest version.
///
/// Setting up a file (switching it to WAL, migrating the schema) takes a
/// lock file beside the database, so processes that open the same journal
/// at the same moment (a `mend run` and a `mend approvals list`) set it up
/// one at a time: SQLite answers "database is locked" at once, without
/// waiting, to two connections racing to change the journal mode or both
/// reading then writing the schema version. An up-to-date file takes no lock.
pub fn open(path: &Path) -> Result<Connection, Error> {
    let p = path.display().to_string();
    let sql = |source| Error::Sqlite { path: p.clone(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut conn = Connection::open(path).map_err(sql)?;
    // First, so every later statement waits for other processes' locks.
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql)?;
    if !ready(&conn).map_err(sql)? {
        let _lock = SetupLock::take(path);
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        schema::migrations().to_latest(&mut conn).map_err(|source| Error::Migration { path: p.clone(), source })?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
    // 16 MiB of page cache keeps the indexes' hot pages in memory at millions of rows.
    conn.pragma_update(None, "cache_size", -16_384).map_err(sql)?;
    // Checkpoint every 64 MiB of WAL instead of every 4 MiB: fewer copies and fsyncs under load.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384).map_err(sql)?;
    Ok(conn)
}

/// Whether the file is already in WAL mode with the current schema.
fn ready(conn: &Connection) -> rusqlite::Result<bool> {
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal") && version == schema::VERSION as i64)
}

/// An exclusive advisory lock on `<journal>.setup-lock`, released on drop.
/// Where the lock file cannot be made (a read-only folder), setup goes on
/// without it and SQLite's own locking decides.
struct SetupLock(Option<std::fs::File>);

impl SetupLock {
    fn take(path: &Path) -> SetupLock {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".setup-lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).ok();
        SetupLock(file.filter(|f| f.lock().is_ok()))
    }
}

impl Drop for SetupLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

impl SqliteJournal {
    /// Opens the journal at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<SqliteJournal, Error> {
        let conn = open(path)?;
        // Bounded: a writer that falls behind slows the senders down
        // (backpressure) instead of letting memory grow without limit.
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let f = failed.clone();
        let p = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("mend-journal".into())
            .spawn(move || writer::run(conn, rx, f, p))
            .map_err(|e| Error::Decode { path: path.display().to_string(), message: format!("cannot start the writer: {e}") })?;
        let thread = writer.thread().clone();
        Ok(SqliteJournal { path: path.to_path_buf(), tx: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)), thread, failed })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, cmd: Cmd) -> Result<(), JournalError> {
        let guard = self.tx.lock().map_err(|e| JournalError::Stopped(e.to_string()))?;
        match guard.as_ref() {
            Some(tx) => tx.send(cmd).map_err(|_| JournalError::Stopped("the journal writer stopped".to_owned())),
            None => Err(JournalError::Stopped("the journal is closed".to_owned())),
        }
    }

    async fn round_trip(&self, make: impl FnOnce(oneshot::Sender<Result<(), JournalError>>) -> Cmd) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        // Someone waits on this commit: cut the writer's linger short.
        self.thread.unpark();
        rx.await.map_err(|_| JournalError::Stopped("the journal writer stopped".into()))?
    }

    /// Stores a decision on a request unless it already has one; returns the
    /// decision that holds (this one, or the one stored first). `applied`
    /// says whether the caller acts on it itself (a live run); `false` (a
    /// decision made from outside the run, `mend approvals decide`) leaves
    /// it marked as not acted on until a run resumes from it (issue 12).
    /// An unknown request is an error.
    pub async fn resolve(&self, id: &str, decision: &Decision, applied: bool) -> Result<Decision, JournalError> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Resolve(id.to_owned(), Box::new(decision.clone()), applied, tx))?;
        self.thread.unpark();
        rx.await.map_err(|_| JournalError::Stopped("the journal writer stopped".into()))?
    }

    /// Stores a decision to remember.
    pub async fn save_rule(&self, rule: &DecisionRule) -> Result<(), JournalError> {
        let r = Box::new(rule.clone());
        self.round_trip(|tx| Cmd::SaveRule(r, tx)).await
    }

    /// Forgets a remembered decision; an unknown id is an error.
    pub async fn delete_rule(&self, id: &str) -> Result<(), JournalError> {
        let id = id.to_owned();
        self.round_trip(|tx| Cmd::DeleteRule(id, tx)).await
    }

    /// Stops the writer after it has written everything queued.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl Journal for SqliteJournal {
    fn record(&self, event: Event) {
        if let Err(e) = self.send(Cmd::Event(Box::new(event)))
            && let Ok(mut f) = self.failed.lock()
        {
            f.get_or_insert(e.message().to_owned());
        }
    }

    async fn flush(&self) -> Result<(), JournalError> {
        self.round_trip(Cmd::Flush).await?;
        match self.failed.lock().map_err(|e| JournalError::Stopped(e.to_string()))?.clone() {
            Some(e) => Err(JournalError::Stopped(e)),
            None => Ok(()),
        }
    }

    async fn save_approval(&self, request: &ApprovalRequest) -> Result<(), JournalError> {
        let r = Box::new(request.clone());
        self.round_trip(|tx| Cmd::SaveApproval(r, tx)).await
    }

    async fn resolve_approval(&self, id: &str, decision: &Decision) -> Result<Decision, JournalError> {
        self.resolve(id, decision, true).await
    }

    async fn record_durable(&self, event: Event) -> Result<(), JournalError> {
        let e = Box::new(event);
        self.round_trip(|tx| Cmd::Durable(e, tx)).await
    }
}
