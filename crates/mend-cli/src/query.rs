//! `mend logs`, `mend metrics`, `mend approvals`, `mend codes`, `mend tools`.

use std::path::Path;

use clap::{Args, Subcommand};
use mend_core::event::{EventKind, Level};
use mend_core::job::parse_duration_ms;
use mend_journal::{LogFilter, Reader};

use crate::{EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK};

/// `mend logs` flags.
#[derive(Args)]
pub struct LogsArgs {
    /// At least this level: debug, info, warn, error.
    #[arg(long)]
    level: Option<String>,
    /// Only events newer than this (e.g. 30m, 24h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only this tool.
    #[arg(long)]
    tool: Option<String>,
    /// Only this error code.
    #[arg(long)]
    code: Option<String>,
    /// Only this run id.
    #[arg(long)]
    run: Option<String>,
    /// Only this job.
    #[arg(long)]
    job: Option<String>,
    /// Only this kind (call, diagnosis, attempt, recovery, escalation, decision, …).
    #[arg(long)]
    kind: Option<String>,
    /// Text the message or data contains.
    #[arg(long)]
    grep: Option<String>,
    /// Only the calls of this agent (an MCP host's name through `mend mcp
    /// serve`, `claude-code` for `mend hook claude`).
    #[arg(long)]
    agent: Option<String>,
    /// The newest N events (0 = all).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// `mend metrics` flags.
#[derive(Args)]
pub struct MetricsArgs {
    /// Only the last span of time (e.g. 24h, 7d); default: everything.
    #[arg(long)]
    since: Option<String>,
    /// JSON.
    #[arg(long)]
    json: bool,
}

/// `mend approvals` subcommands.
#[derive(Subcommand)]
pub enum ApprovalsCmd {
    /// Requests waiting for a decision.
    List {
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// One request in full, with its decision.
    Show {
        /// Request id.
        id: String,
    },
    /// Decide a waiting request and resume its run from that step.
    Decide {
        /// Request id.
        id: String,
        /// The option's id (`run`, `retry`, `alt-0`, `skip`, `abort`, …).
        option: String,
        /// Instructions kept with the decision.
        #[arg(long)]
        note: Option<String>,
        /// Record the decision only; do not resume the run.
        #[arg(long)]
        no_resume: bool,
        /// Print the resumed run's JSON report on stdout.
        #[arg(long)]
        json: bool,
        /// How later approvals in the resumed run are answered.
        #[arg(long, value_enum)]
        approve: Option<crate::ApproveMode>,
        /// Remember this decision for later requests: of this job, of this
        /// step, for this failure on this tool, or always.
        #[arg(long, value_enum)]
        remember: Option<RememberScope>,
    },
    /// Remembered decisions.
    Rules {
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget a remembered decision.
    Forget {
        /// The rule's id (see `mend approvals rules`).
        id: String,
    },
}

/// What a remembered decision applies to.
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum RememberScope {
    /// Requests of this job.
    Job,
    /// Requests of this job's step.
    Step,
    /// This failure (error code) on this tool, in any job.
    Failure,
    /// Every request of this kind.
    Always,
}

impl From<RememberScope> for mend_agent::Remember {
    fn from(s: RememberScope) -> Self {
        match s {
            RememberScope::Job => mend_agent::Remember::Job,
            RememberScope::Step => mend_agent::Remember::Step,
            RememberScope::Failure => mend_agent::Remember::Failure,
            RememberScope::Always => mend_agent::Remember::Always,
        }
    }
}

/// Why a command failed: the exit code and the message for stderr.
pub struct Fail(pub u8, pub String);

fn bad(msg: impl std::fmt::Display) -> Fail {
    Fail(EXIT_BAD_INPUT, msg.to_string())
}

fn internal(msg: impl std::fmt::Display) -> Fail {
    Fail(EXIT_INTERNAL, msg.to_string())
}

/// Prints a failure and gives the exit code.
pub fn exit(r: Result<(), Fail>) -> u8 {
    match r {
        Ok(()) => EXIT_OK,
        Err(Fail(code, msg)) => {
            eprintln!("mend: {msg}");
            code
        }
    }
}

fn since_ms(s: &Option<String>) -> Result<Option<i64>, Fail> {
    match s {
        None => Ok(None),
        Some(s) => parse_duration_ms(s).map(|d| Some(mend_core::clock::now_ms() - d as i64)).map_err(|e| bad(format!("--since: {e}"))),
    }
}

fn open(dir: &Path) -> Result<Reader, Fail> {
    Reader::open(&dir.join(mend_journal::FILE_NAME)).map_err(internal)
}

pub(crate) fn fmt_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    let s = httpdate::fmt_http_date(t);
    // "Sun, 22 Nov 2026 17:05:26 GMT" → "22 Nov 17:05:26"
    s.split_whitespace().skip(1).take(4).enumerate().filter(|(i, _)| *i != 2).map(|(_, p)| p).collect::<Vec<_>>().join(" ")
}

/// `mend logs`.
pub fn logs(dir: &Path, a: LogsArgs) -> Result<(), Fail> {
    let min_level = match a.level.as_deref() {
        Some(l) => Some(Level::parse(l).ok_or_else(|| bad(format!("--level: `{l}` is not debug, info, warn or error")))?),
        None => None,
    };
    let kind = match &a.kind {
        Some(k) => Some(
            serde_json::from_value::<EventKind>(serde_json::Value::String(k.clone()))
                .map_err(|_| bad(format!("--kind: `{k}` is not an event kind")))?,
        ),
        None => None,
    };
    let since = since_ms(&a.since)?;
    let r = open(dir)?;
    let f = LogFilter {
        min_level,
        since_ms: since,
        until_ms: None,
        tool: a.tool,
        code: a.code,
        run_id: a.run,
        job: a.job,
        kind,
        text: a.grep,
        agent: a.agent,
        limit: a.limit,
    };
    for e in r.logs(&f).map_err(internal)? {
        if a.json {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
        } else {
            println!(
                "{} {:<5} {:<13} {:<16} {}",
                fmt_ts(e.ts_ms),
                e.level.as_str(),
                e.kind().as_str(),
                e.step.as_deref().unwrap_or("-"),
                e.message
            );
        }
    }
    Ok(())
}

/// `mend metrics`.
pub fn metrics(dir: &Path, a: MetricsArgs) -> Result<(), Fail> {
    let since = since_ms(&a.since)?;
    let m = open(dir)?.metrics(since).map_err(internal)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
        return Ok(());
    }
    let runs: Vec<String> = m.runs.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("Runs:        {}", if runs.is_empty() { "none".into() } else { runs.join(", ") });
    println!("Calls:       {} ({} failed)", m.calls, m.failed_calls);
    println!(
        "Healing:     {} of {} failing steps healed without a person ({:.0}%), {} with a person",
        m.healing.autonomous,
        m.healing.failed_first,
        m.healing.autonomous_rate * 100.0,
        m.healing.with_person
    );
    println!(
        "Recovery:    {} recoveries, {:.1} attempts each, time to recover p50 {} ms, p95 {} ms, max {} ms",
        m.recovery.recovered, m.recovery.attempts_avg, m.recovery.ttr_p50_ms, m.recovery.ttr_p95_ms, m.recovery.ttr_max_ms
    );
    let list = |v: &[(String, i64)]| {
        if v.is_empty() { "-".to_owned() } else { v.iter().map(|(o, n)| format!("{o} {n}")).collect::<Vec<_>>().join(", ") }
    };
    println!(
        "Escalations: {} raised, {} pending, {} took the recommendation; answers: {}; decided by: {}; decision p50 {} ms",
        m.escalations.raised,
        m.escalations.pending,
        m.escalations.took_recommended,
        list(&m.escalations.by_option),
        list(&m.escalations.by_decider),
        m.escalations.decide_p50_ms
    );
    println!("Tokens:      {}", m.tokens);
    if !m.by_code_action.is_empty() {
        println!("\n{:<24} {:<16} {:>8} {:>8} {:>7} {:>9}", "error code", "action", "attempts", "fixed", "rate", "avg ms");
        for x in &m.by_code_action {
            println!("{:<24} {:<16} {:>8} {:>8} {:>6.0}% {:>9.1}", x.code, x.action, x.attempts, x.successes, x.rate * 100.0, x.avg_ms);
        }
    }
    if !m.top_failing.is_empty() {
        println!(
            "\nTop failing: {}",
            m.top_failing.iter().map(|f| format!("{} {} ×{}", f.tool, f.code, f.calls)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// `mend runs`.
pub fn runs(dir: &Path, limit: usize, json: bool) -> Result<(), Fail> {
    let reader = open(dir)?;
    let mut rows = reader.runs(limit).map_err(internal)?;
    // A run whose end is not journaled is `running` only while a live
    // process holds its lease (issue 12); the next Mend process that writes
    // the journal records it as interrupted.
    for r in rows.iter_mut().filter(|r| r.status == "running") {
        if mend_agent::lease::peek(dir, &r.run_id).is_none() {
            r.status = "interrupted".into();
            let who = match mend_agent::lease::last_holder(dir, &r.run_id) {
                Some(h) => format!("its process ({h})"),
                None => "its process".into(),
            };
            r.reason = Some(format!("{who} ended without closing the run"));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(());
    }
    if rows.is_empty() {
        println!("No runs yet.");
    } else {
        println!("{:<16}  {:<15}  {:<11} {:<20} {:>9}  healing", "run", "started", "status", "job", "took");
    }
    // Older runs a person still has to look at, hidden by --limit, are counted.
    let hidden = match rows.last() {
        Some(oldest) if limit > 0 && rows.len() == limit => reader.unfinished_before(oldest.started_ms).map_err(internal)?,
        _ => 0,
    };
    for r in rows {
        let took = r.finished_ms.map(|f| format!("{} ms", f - r.started_ms)).unwrap_or_else(|| "-".into());
        let waiting = if r.pending_approvals > 0 {
            format!("  ⚠ {} waiting: `mend approvals list` (or `mend approvals show ID`)", r.pending_approvals)
        } else {
            String::new()
        };
        println!("{}  {}  {:<11} {:<20} {:>9}  {} attempt(s){waiting}", r.run_id, fmt_ts(r.started_ms), r.status, r.job, took, r.attempts);
        let doing = match (&r.in_flight, &r.step) {
            (Some(c), Some(s)) => format!(" during step `{s}`, while `{c}` was running (it may have run: going on asks first)"),
            (None, Some(s)) => format!(" during step `{s}`"),
            _ => String::new(),
        };
        if r.decided > 0 && !matches!(r.status.as_str(), "succeeded" | "failed" | "aborted") {
            println!("    ↳ decided, not yet gone on with: `mend runs resume {}` goes on (or `mend runs close {}`)", r.run_id, r.run_id);
        } else if r.status == "interrupted" {
            let when = r.last_ms.map(|t| format!(" (last heard of {})", fmt_ts(t))).unwrap_or_default();
            let why = r.reason.as_deref().unwrap_or("stopped before its end");
            println!("    ↳ interrupted{when}{doing}: {why}; `mend runs resume {}` goes on with it", r.run_id);
        }
    }
    if hidden > 0 {
        println!("… and {hidden} older run(s) waiting for a person or interrupted: `mend runs --limit 0` lists them all");
    }
    Ok(())
}

/// `mend approvals list`.
pub fn approvals_list(dir: &Path, json: bool) -> Result<(), Fail> {
    let list = open(dir)?.pending_approvals().map_err(internal)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
    } else if list.is_empty() {
        println!("No approval requests are waiting.");
    } else {
        for q in list {
            let q = &shown(&q);
            println!("{}  {}  {}  (recommended: {})", q.id, fmt_ts(q.created_ms), q.title, q.recommended);
            let options: Vec<String> = q.options.iter().map(|o| format!("{} ({})", o.id, o.label)).collect();
            println!("    job `{}`, step `{}`, run {}; options: {}", q.job, q.step, q.run_id, options.join(", "));
            if let Some(d) = &q.danger {
                println!("    gate: rule `{}` ({}) on `{}`", d.rule, d.category, d.command);
            }
        }
    }
    Ok(())
}

/// `mend approvals show`.
pub fn approval_show(dir: &Path, id: &str) -> Result<(), Fail> {
    let (req, dec) = open(dir)?.approval(id).map_err(internal)?.ok_or_else(|| bad(format!("no approval request `{id}`")))?;
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"request": req, "decision": dec})).unwrap_or_default());
    Ok(())
}

/// `mend approvals rules`.
pub fn rules(dir: &Path, json: bool) -> Result<(), Fail> {
    let rules = open(dir)?.rules().map_err(internal)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rules).unwrap_or_default());
    } else if rules.is_empty() {
        println!("No remembered decisions.");
    } else {
        for rule in rules {
            println!("{}  {}  {}", rule.id, fmt_ts(rule.created_ms), rule.describe());
        }
    }
    Ok(())
}

/// `mend codes`.
pub fn codes(markdown: bool) -> u8 {
    if markdown {
        print!("{}", mend_core::code::markdown_table());
        return EXIT_OK;
    }
    for i in mend_core::code::KNOWN {
        println!(
            "{:<24} retryable={:<5} recoverable={:<5} {:?}\n    {}\n    policy: {}",
            i.code,
            i.retryable,
            i.recoverable,
            i.severity,
            i.meaning,
            i.policy.describe()
        );
    }
    EXIT_OK
}

/// Text a terminal shows as it is: control characters (escape sequences
/// that hide or rewrite what is on screen, newlines that fake a line) as
/// visible `\u{…}` (red team: an agent's name or a command may carry them).
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// A request with every text a person reads [`printable`].
fn shown(q: &mend_core::approval::ApprovalRequest) -> mend_core::approval::ApprovalRequest {
    let mut q = q.clone();
    for t in [&mut q.title, &mut q.job, &mut q.step, &mut q.recommended] {
        *t = printable(t);
    }
    if let Some(d) = q.danger.as_mut() {
        d.command = printable(&d.command);
        d.rule = printable(&d.rule);
    }
    q
}

/// `mend tools`.
///
/// With `--json`, the `mcp` entry has `servers`: each configured MCP
/// server (`mend mcp tools --json`'s object: state, tools or error).
pub fn tools(
    data_dir: &Path,
    json: bool,
    mcp_servers: serde_json::Map<String, serde_json::Value>,
    config: &mend_core::config::Config,
) -> u8 {
    // The tools a job can call, `read_logs` (over this data directory's journal) included.
    let r = mend_agent::registry(&data_dir.join(mend_journal::FILE_NAME));
    if json {
        let mut all: serde_json::Map<String, serde_json::Value> =
            r.tools().map(|t| (t.name().to_owned(), serde_json::json!({"description": t.description(), "schema": t.schema()}))).collect();
        if let Some(m) = all.get_mut("mcp") {
            m["servers"] = serde_json::Value::Object(mcp_servers);
        }
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        let w = r.tools().map(|t| t.name().len()).max().unwrap_or(0);
        let pad = " ".repeat(w + 1);
        for t in r.tools() {
            let props = t.schema()["properties"].as_object().map(|p| p.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default();
            println!("{:<w$} {}\n{pad}args: {props}", t.name(), t.description());
            if t.name() == "mcp" && !config.mcp_servers.is_empty() {
                let names: Vec<&str> = config.mcp_servers.iter().map(|s| s.name.as_str()).collect();
                println!("{pad}servers: {} (their tools: `mend mcp tools`)", names.join(", "));
            }
        }
    }
    EXIT_OK
}
