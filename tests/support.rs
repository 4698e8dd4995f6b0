//! Helpers for the end-to-end scenarios: run a job text through the real
//! engine, tools and SQLite journal in a temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mend_core::approval::Approver;
use mend_core::clock::RecordingClock;
use mend_core::diagnose::Diagnoser;
use mend_core::engine::{Engine, RunOptions};
use mend_core::event::{Event, Stats};
use mend_core::job::Job;
use mend_core::report::RunReport;
use mend_journal::{LogFilter, Reader, SqliteJournal};

/// One run's results: the report, every journaled event, the clock's sleeps.
pub struct Ran {
    /// The report.
    pub report: RunReport,
    /// Every event in the journal, oldest first.
    pub events: Vec<Event>,
    /// Every sleep the loop asked for.
    pub sleeps: Vec<std::time::Duration>,
    /// The journal file.
    pub journal: PathBuf,
}

/// How to run a scenario.
pub struct Setup {
    /// Answers approvals.
    pub approver: Arc<dyn Approver>,
    /// Layers put before the policy.
    pub layers: Vec<Arc<dyn Diagnoser>>,
    /// Measured rates.
    pub stats: Stats,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Go on with a run whose process ended (issue 12).
    pub restart: Option<mend_core::engine::Restart>,
}

impl Setup {
    /// Defaults: the given approver, no extra layers, no stats.
    pub fn new(approver: Arc<dyn Approver>) -> Self {
        Setup { approver, layers: vec![], stats: Stats::default(), env: vec![], restart: None }
    }
}

/// Parses and checks `text` as a job in `dir`, runs it, and reads the
/// journal back.
pub async fn run_job(dir: &Path, text: &str, setup: Setup) -> Ran {
    let registry = Arc::new(mend_tools::default_registry());
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.extend(setup.env);
    let job = Job::parse(text, "job.toml", dir).unwrap_or_else(|e| panic!("{e}"));
    job.check("job.toml", &registry, &env).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("journal.sqlite3");
    let journal = Arc::new(SqliteJournal::open(&path).unwrap());
    let clock = Arc::new(RecordingClock::new(20));
    let mut engine = Engine::new(registry, journal.clone(), setup.approver).with_clock(clock.clone()).with_stats(setup.stats);
    for l in setup.layers {
        engine = engine.with_layer_first(l);
    }
    mend_tools::mcp::prepare(&job, &env).await;
    let report = engine.run(&job, RunOptions { env, restart: setup.restart, ..Default::default() }).await.unwrap();
    journal.close();
    let events = Reader::open(&path).unwrap().logs(&LogFilter::default()).unwrap();
    Ran { report, events, sleeps: clock.sleeps(), journal: path }
}

impl Ran {
    /// The actions of a step's attempts, in order.
    pub fn actions(&self, step: usize) -> Vec<&str> {
        self.report.steps[step].attempts.iter().map(|a| a.action.as_str()).collect()
    }

    /// Events of a kind.
    pub fn kind(&self, kind: mend_core::event::EventKind) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind() == kind).collect()
    }

    /// The diagnoses, in order.
    pub fn diagnoses(&self) -> Vec<&mend_core::payload::Diagnosed> {
        self.events.iter().filter_map(|e| if let mend_core::payload::Body::Diagnosis(d) = &e.body { Some(&**d) } else { None }).collect()
    }

    /// The requests for a person, in order.
    pub fn requests(&self) -> Vec<&mend_core::approval::ApprovalRequest> {
        self.events.iter().filter_map(|e| if let mend_core::payload::Body::Escalation(r) = &e.body { Some(&**r) } else { None }).collect()
    }

    /// Every reason a diagnosis refused a proposal, in order.
    pub fn rejections(&self) -> Vec<String> {
        self.diagnoses().iter().flat_map(|d| d.rejected.iter().map(|r| r.reason.clone())).collect()
    }
}
