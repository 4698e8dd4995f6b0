//! The SQL schema: a versioned contract, migrated forward with
//! rusqlite_migration. Never edit a released migration; add one.

use rusqlite_migration::{M, Migrations};

/// The schema version `migrations()` brings a database to.
pub(crate) const VERSION: usize = 6;

/// Every migration in order.
pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    ts_ms       INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    job         TEXT NOT NULL,
    step        TEXT,
    kind        TEXT NOT NULL,
    level       TEXT NOT NULL,
    tool        TEXT,
    code        TEXT,
    action      TEXT,
    ok          INTEGER,
    duration_ms INTEGER,
    tokens      INTEGER,
    message     TEXT NOT NULL,
    data        TEXT
);
CREATE INDEX events_ts ON events(ts_ms);
-- Recoveries, escalations and decisions are few: one partial index each
-- (SQLite uses a partial index only when the query repeats its exact
-- WHERE) keeps their queries index-only without slowing the ingest of the
-- many calls and attempts.
CREATE INDEX events_recovery ON events(ts_ms, duration_ms) WHERE kind = 'recovery';
CREATE INDEX events_escalation ON events(ts_ms) WHERE kind = 'escalation';
CREATE INDEX events_decision ON events(ts_ms, duration_ms) WHERE kind = 'decision';

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    job         TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    status      TEXT,
    attempts    INTEGER,
    tokens      INTEGER
) WITHOUT ROWID;

CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    job         TEXT NOT NULL,
    step        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'decided')),
    request     TEXT NOT NULL,
    decision    TEXT,
    decided_ms  INTEGER
) WITHOUT ROWID;
CREATE INDEX approvals_state ON approvals(state, created_ms);

-- Hourly rollups, kept by the writer in the same transaction as the events.
CREATE TABLE rollup_attempts (
    hour      INTEGER NOT NULL,
    code      TEXT NOT NULL,
    action    TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    total_ms  INTEGER NOT NULL,
    PRIMARY KEY (hour, code, action)
) WITHOUT ROWID;

CREATE TABLE rollup_calls (
    hour     INTEGER NOT NULL,
    tool     TEXT NOT NULL,
    code     TEXT NOT NULL,  -- '' for successful calls
    calls    INTEGER NOT NULL,
    total_ms INTEGER NOT NULL,
    PRIMARY KEY (hour, tool, code)
) WITHOUT ROWID;

CREATE TABLE rollup_steps (
    hour         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    failed_first INTEGER NOT NULL,
    person       INTEGER NOT NULL,
    steps        INTEGER NOT NULL,
    PRIMARY KEY (hour, status, failed_first, person)
) WITHOUT ROWID;

CREATE TABLE rollup_recoveries (
    hour       INTEGER NOT NULL,
    code       TEXT NOT NULL,
    recoveries INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    PRIMARY KEY (hour, code)
) WITHOUT ROWID;

CREATE TABLE rollup_decisions (
    hour        INTEGER NOT NULL,
    option      TEXT NOT NULL,
    decider     TEXT NOT NULL,
    recommended INTEGER NOT NULL,
    decisions   INTEGER NOT NULL,
    PRIMARY KEY (hour, option, decider, recommended)
) WITHOUT ROWID;

CREATE TABLE rollup_tokens (
    hour   INTEGER NOT NULL PRIMARY KEY,
    tokens INTEGER NOT NULL
) WITHOUT ROWID;
"#,
        ),
        // 2: the job file of each run, so a run waiting for a person can be resumed.
        M::up("ALTER TABLE runs ADD COLUMN job_path TEXT;"),
        // 3: decisions people asked to remember.
        M::up(
            "CREATE TABLE rules (
                id         TEXT PRIMARY KEY,
                created_ms INTEGER NOT NULL,
                rule       TEXT NOT NULL
            ) WITHOUT ROWID;",
        ),
        // 4: lesson events are few and the memory screen asks which runs used each lesson.
        M::up("CREATE INDEX events_lesson ON events(ts_ms) WHERE kind = 'lesson';"),
        // 5 (issue 12): where each run is, kept by the writer, so a run whose
        // owner died can be continued without reading its events: the step
        // last started and whether it finished, the side-effecting call
        // started and not finished (JSON), when the run was last heard of,
        // why it ended; and whether a decision made outside the run's
        // process has been acted on yet.
        M::up(
            "ALTER TABLE runs ADD COLUMN step TEXT;
             ALTER TABLE runs ADD COLUMN step_open INTEGER;
             ALTER TABLE runs ADD COLUMN in_flight TEXT;
             ALTER TABLE runs ADD COLUMN last_ms INTEGER;
             ALTER TABLE runs ADD COLUMN reason TEXT;
             ALTER TABLE approvals ADD COLUMN applied INTEGER NOT NULL DEFAULT 1;
             CREATE INDEX runs_open ON runs(started_ms) WHERE status IS NULL;
             CREATE INDEX approvals_unapplied ON approvals(run_id) WHERE applied = 0;",
        ),
        // 6 (issue 17): the agent whose call a run is (an MCP host through
        // the gateway, Claude Code through its hook), on each event and run,
        // for the audit log's and the dashboard's filters.
        M::up(
            "ALTER TABLE events ADD COLUMN agent TEXT;
             ALTER TABLE runs ADD COLUMN agent TEXT;
             CREATE INDEX events_agent ON events(agent, ts_ms) WHERE agent IS NOT NULL;",
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    #[test]
    fn version_matches_the_migrations() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, super::VERSION as i64);
    }
}
