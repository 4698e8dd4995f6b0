//! The job file format (TOML): named steps, each a tool call with optional
//! alternatives, a verify call, budgets and an approval rule.
//!
//! The format is a versioned contract owned by this module and documented in
//! `docs/job-format.md`. Every error names the file, line, column and field.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::approval::OnTimeout;
use crate::code::ErrorCode;
use crate::config::Config;
use crate::safety::{Gate, SafetyConfig};
use crate::schedule::Schedule;
use crate::tool::ToolRegistry;

/// The job format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A problem in a job file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The file (as given).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The field path (`steps[2].args.url`), empty when the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All the problems found in one job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobErrors(pub Vec<JobError>);

impl fmt::Display for JobErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for JobErrors {}

/// A tool call as declared in a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Tool name.
    pub tool: String,
    /// Arguments (may hold `${env:NAME}` and `${job_dir}` templates).
    pub args: Value,
    /// Where it was declared (1-based line, 0 if built in code).
    pub line: usize,
}

impl Call {
    /// A call built in code.
    pub fn new(tool: &str, args: Value) -> Self {
        Call { tool: tool.to_owned(), args, line: 0 }
    }
}

/// When the retry_same action applies and how it backs off.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// At most this many `retry_same` attempts per error code.
    pub max: u32,
    /// First backoff delay; doubles each time (equal jitter: between half the delay and the whole).
    pub base_ms: u64,
    /// Cap on one delay (a longer Retry-After escalates instead of waiting).
    pub max_delay_ms: u64,
    /// Codes to retry even though they are not retryable by default
    /// (e.g. `NON_ZERO_EXIT` for a flaky script).
    pub also_on: Vec<ErrorCode>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max: 3, base_ms: 250, max_delay_ms: 30_000, also_on: Vec::new() }
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique within the job.
    pub name: String,
    /// The call.
    pub call: Call,
    /// Declared alternatives, tried in order by `use_alternative`.
    pub alternatives: Vec<Call>,
    /// A read-only check that the step's goal holds (for `verify_state`).
    pub verify: Option<Call>,
    /// Backoff.
    pub retry: RetryPolicy,
    /// Healing attempts allowed for this step.
    pub max_attempts: u32,
    /// Wall-clock budget of the step, its call and all its healing
    /// (excluding time waiting for a person).
    pub wall_clock_ms: Option<u64>,
    /// Always ask a person before the call runs.
    pub needs_approval: bool,
    /// A failure of this step does not fail the job.
    pub optional: bool,
    /// Whether the step's calls (its own, its alternatives, and healing
    /// changes of them; not its verify call) are safe to send again when
    /// their outcome is unknown (issue 14). `None`: the tool judges from
    /// the call ([`crate::tool::Tool::idempotent`]: an HTTP method,
    /// an `fs` operation; an `exec` command is not, since Mend cannot know
    /// what it does).
    pub idempotent: Option<bool>,
    /// The header the step's idempotency key goes in (`idempotency_key =
    /// true` means `Idempotency-Key`, a string names another header); a
    /// call with a key is safe to send again (issue 14).
    pub idempotency_key: Option<String>,
}

/// Limits for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Healing attempts across all steps.
    pub max_attempts: u32,
    /// Wall-clock limit of the run (excluding time waiting for a person).
    pub wall_clock_ms: u64,
    /// LLM tokens the diagnosis may spend.
    pub tokens: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_attempts: 30, wall_clock_ms: 30 * 60_000, tokens: 20_000 }
    }
}

/// How long to wait for a person, and what then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalPolicy {
    /// Wait at most this long; `None` waits as long as the approver does.
    pub timeout_ms: Option<u64>,
    /// What happens when nobody answers in time.
    pub on_timeout: OnTimeout,
}

/// A parsed, checked job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The folder relative paths resolve against.
    pub base_dir: PathBuf,
    /// Run limits.
    pub budget: Budget,
    /// Approval timeouts.
    pub approval: ApprovalPolicy,
    /// Safety rules on top of the built-in ones.
    pub safety: SafetyConfig,
    /// Environment variables whose values are secrets.
    pub secrets: Vec<String>,
    /// When the job runs by itself (`mend daemon`), if ever.
    pub schedule: Option<Schedule>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The MCP servers its steps can call: the config's, with the job's own
    /// `[[mcp.servers]]` over them by name (issue 16).
    pub mcp_servers: Vec<crate::mcp::McpServer>,
}

// ---- raw serde form -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    version: Option<Spanned<u32>>,
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    schedule: Option<Spanned<String>>,
    #[serde(default)]
    budget: RawBudget,
    #[serde(default)]
    approval: RawApproval,
    #[serde(default)]
    safety: Option<Spanned<SafetyConfig>>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    mcp: crate::mcp::RawMcp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    max_attempts: Option<u32>,
    wall_clock: Option<Spanned<DurationText>>,
    tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    timeout: Option<Spanned<DurationText>>,
    on_timeout: Option<OnTimeout>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<Spanned<String>>,
    tool: Spanned<String>,
    #[serde(default)]
    args: Option<Spanned<toml::Table>>,
    #[serde(default)]
    alternatives: Vec<Spanned<RawCall>>,
    verify: Option<Spanned<RawCall>>,
    #[serde(default)]
    retry: RawRetry,
    max_attempts: Option<u32>,
    wall_clock: Option<Spanned<DurationText>>,
    #[serde(default)]
    approval: Option<Spanned<String>>,
    #[serde(default)]
    optional: bool,
    idempotent: Option<bool>,
    idempotency_key: Option<Spanned<KeyText>>,
}

/// `idempotency_key = true` or a header name.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum KeyText {
    On(bool),
    Header(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    tool: Spanned<String>,
    #[serde(default)]
    args: Option<Spanned<toml::Table>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max: Option<u32>,
    base: Option<Spanned<DurationText>>,
    max_delay: Option<Spanned<DurationText>>,
    #[serde(default)]
    on: Vec<ErrorCode>,
}

/// A duration written as `"250ms"`, `"30s"`, `"5m"`, `"1h"` or a number of ms.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum DurationText {
    Millis(u64),
    Text(String),
}

impl DurationText {
    /// Its length in ms (`Err` says why the text is not a duration).
    pub(crate) fn ms(&self) -> Result<u64, String> {
        match self {
            DurationText::Millis(n) => Ok(*n),
            DurationText::Text(t) => parse_duration_ms(t),
        }
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or plain milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (use 250ms, 30s, 5m, 1h)"))?;
    let mult = match unit.trim() {
        "" | "ms" => 1.0,
        "s" | "sec" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        u => return Err(format!("unknown duration unit `{u}` in `{s}` (use ms, s, m, h, d)")),
    };
    let ms = n * mult;
    if !ms.is_finite() || !(0.0..=1e15).contains(&ms) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(ms as u64)
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col_start = before.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
    let column = String::from_utf8_lossy(&before[col_start..]).chars().count() + 1;
    (line, column)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offset of each line's start, for line numbers without rescanning.
    lines: Vec<usize>,
    errors: Vec<JobError>,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.lines.partition_point(|&start| start <= offset)
    }

    fn err(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(JobError { file: self.file.to_owned(), line, column, field: field.into(), message: message.into() });
    }

    fn duration(&mut self, d: &Option<Spanned<DurationText>>, field: &str) -> Option<u64> {
        let d = d.as_ref()?;
        match d.get_ref() {
            DurationText::Millis(ms) => Some(*ms),
            DurationText::Text(t) => match parse_duration_ms(t) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    self.err(d.span(), field, e);
                    None
                }
            },
        }
    }

    fn call(&mut self, tool: &Spanned<String>, args: &Option<Spanned<toml::Table>>, span: Range<usize>) -> Call {
        // Schema errors are about the arguments: point at them, else at the tool.
        let at = args.as_ref().map(|a| a.span().start).unwrap_or(tool.span().start).max(span.start);
        let args = match args {
            Some(a) => serde_json::to_value(a.get_ref()).unwrap_or(Value::Null),
            None => Value::Object(Default::default()),
        };
        Call { tool: tool.get_ref().clone(), args, line: self.line_of(at) }
    }
}

/// A step's healing attempts when its file says none.
pub const DEFAULT_STEP_ATTEMPTS: u32 = 6;

impl Step {
    /// A step named `name` that makes `call`, with every setting a job file
    /// leaves out at its default (no alternatives, no verify call, the
    /// default retry policy, [`DEFAULT_STEP_ATTEMPTS`]): the step a job
    /// made in code starts from (an agent's call, issue 17).
    pub fn new(name: &str, call: Call) -> Step {
        Step {
            name: name.to_owned(),
            call,
            alternatives: Vec::new(),
            verify: None,
            retry: RetryPolicy::default(),
            max_attempts: DEFAULT_STEP_ATTEMPTS,
            wall_clock_ms: None,
            needs_approval: false,
            optional: false,
            idempotent: None,
            idempotency_key: None,
        }
    }
}

impl Job {
    /// Parses a job file's text. `file` names it in errors; `base_dir` is
    /// where relative paths resolve. The tool calls are not checked here:
    /// see [`Job::check`].
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Job, JobErrors> {
        Job::parse_with(text, file, base_dir, &Config::default())
    }

    /// Like [`Job::parse`], starting from the user's [`Config`] defaults.
    pub fn parse_with(text: &str, file: &str, base_dir: &Path, defaults: &Config) -> Result<Job, JobErrors> {
        let raw: RawJob = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            JobErrors(vec![JobError { file: file.to_owned(), line, column, field: String::new(), message: e.message().trim().to_owned() }])
        })?;
        let lines = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let mut cx = Ctx { file, text, lines, errors: Vec::new() };

        if let Some(v) = &raw.version
            && *v.get_ref() != FORMAT_VERSION
        {
            cx.err(v.span(), "version", format!("this Mend reads job format {FORMAT_VERSION}, not {}", v.get_ref()));
        }
        if raw.name.get_ref().trim().is_empty() {
            cx.err(raw.name.span(), "name", "the job needs a name");
        }
        let schedule = match &raw.schedule {
            Some(s) => match Schedule::parse(s.get_ref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    cx.err(s.span(), "schedule", e);
                    None
                }
            },
            None => None,
        };
        if raw.steps.is_empty() {
            cx.err(0..0, "steps", "the job has no steps: add at least one [[steps]] table");
        }

        let budget = Budget {
            max_attempts: raw.budget.max_attempts.unwrap_or(Budget::default().max_attempts),
            wall_clock_ms: cx.duration(&raw.budget.wall_clock, "budget.wall_clock").unwrap_or(Budget::default().wall_clock_ms),
            tokens: raw.budget.tokens.unwrap_or(Budget::default().tokens),
        };
        let approval = ApprovalPolicy {
            timeout_ms: cx.duration(&raw.approval.timeout, "approval.timeout").or(defaults.approval_timeout_ms),
            on_timeout: raw.approval.on_timeout.or(defaults.on_timeout).unwrap_or_default(),
        };
        let safety = match &raw.safety {
            Some(s) => {
                if let Err(e) = Gate::new(s.get_ref()) {
                    cx.err(s.span(), "safety", e);
                }
                s.get_ref().clone()
            }
            None => SafetyConfig::default(),
        };
        // The user's defaults add to the job's own rules; the stricter
        // level wins (a job cannot loosen the user's `strict`).
        let safety = SafetyConfig {
            level: safety.level.max(defaults.safety.level),
            destructive: defaults.safety.destructive.iter().chain(&safety.destructive).cloned().collect(),
            allow: defaults.safety.allow.iter().chain(&safety.allow).cloned().collect(),
            delete_hosts: safety.delete_hosts.or_else(|| defaults.safety.delete_hosts.clone()),
        };
        let mut secrets = defaults.secrets.clone();
        secrets.extend(raw.secrets.iter().filter(|s| !defaults.secrets.contains(s)).cloned());

        let mut steps = Vec::new();
        for (i, rs) in raw.steps.iter().enumerate() {
            let span = rs.span();
            let rs = rs.get_ref();
            let name = match &rs.name {
                Some(n) if n.get_ref().trim().is_empty() => {
                    cx.err(n.span(), format!("steps[{i}].name"), "a step name cannot be empty");
                    String::new()
                }
                Some(n) => n.get_ref().clone(),
                None => format!("step-{}", i + 1),
            };
            if steps.iter().any(|s: &Step| s.name == name) {
                let sp = rs.name.as_ref().map(|n| n.span()).unwrap_or(span.clone());
                cx.err(sp, format!("steps[{i}].name"), format!("two steps are named `{name}`"));
            }
            let call = cx.call(&rs.tool, &rs.args, span.clone());
            let alternatives = rs.alternatives.iter().map(|a| cx.call(&a.get_ref().tool, &a.get_ref().args, a.span())).collect();
            let verify = rs.verify.as_ref().map(|v| cx.call(&v.get_ref().tool, &v.get_ref().args, v.span()));
            let mut retry = RetryPolicy::default();
            if let Some(m) = rs.retry.max {
                retry.max = m;
            }
            if let Some(b) = cx.duration(&rs.retry.base, &format!("steps[{i}].retry.base")) {
                retry.base_ms = b;
            }
            if let Some(b) = cx.duration(&rs.retry.max_delay, &format!("steps[{i}].retry.max_delay")) {
                retry.max_delay_ms = b;
            }
            retry.also_on = rs.retry.on.clone();
            let wall_clock_ms = cx.duration(&rs.wall_clock, &format!("steps[{i}].wall_clock"));
            let needs_approval = match &rs.approval {
                None => false,
                Some(a) => match a.get_ref().as_str() {
                    "auto" => false,
                    "required" => true,
                    other => {
                        cx.err(a.span(), format!("steps[{i}].approval"), format!("`{other}` is not `auto` or `required`"));
                        false
                    }
                },
            };
            let idempotency_key = match rs.idempotency_key.as_ref().map(|k| (k.span(), k.get_ref().clone())) {
                None | Some((_, KeyText::On(false))) => None,
                Some((_, KeyText::On(true))) => Some("Idempotency-Key".to_owned()),
                // A header name is an RFC 9110 §5.1 token.
                Some((_, KeyText::Header(h)))
                    if !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) =>
                {
                    Some(h)
                }
                Some((sp, KeyText::Header(h))) => {
                    cx.err(
                        sp,
                        format!("steps[{i}].idempotency_key"),
                        format!("`{h}` is not a header name (letters, digits and !#$%&'*+-.^_`|~)"),
                    );
                    None
                }
            };
            steps.push(Step {
                name,
                call,
                alternatives,
                verify,
                retry,
                max_attempts: rs.max_attempts.unwrap_or(DEFAULT_STEP_ATTEMPTS),
                wall_clock_ms,
                needs_approval,
                optional: rs.optional,
                idempotent: rs.idempotent,
                idempotency_key,
            });
        }

        let (own, problems) = raw.mcp.servers(&defaults.mcp_servers);
        for (span, field, message) in problems {
            cx.err(span, field, message);
        }
        let mcp_servers = crate::mcp::merged(&defaults.mcp_servers, &own);

        if !cx.errors.is_empty() {
            return Err(JobErrors(cx.errors));
        }
        Ok(Job {
            name: raw.name.into_inner(),
            description: raw.description,
            base_dir: base_dir.to_path_buf(),
            budget,
            approval,
            safety,
            secrets,
            schedule,
            steps,
            mcp_servers,
        })
    }

    /// Checks every call against the registry (the tool exists, the
    /// arguments fit its schema) and every `${env:NAME}` against `env`.
    pub fn check(&self, file: &str, registry: &ToolRegistry, env: &[(String, String)]) -> Result<(), JobErrors> {
        let mut errors = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let mut calls = vec![(format!("steps[{i}]"), &step.call)];
            for (j, a) in step.alternatives.iter().enumerate() {
                calls.push((format!("steps[{i}].alternatives[{j}]"), a));
            }
            if let Some(v) = &step.verify {
                calls.push((format!("steps[{i}].verify"), v));
            }
            for (field, call) in calls {
                let err = |f: String, m: String| JobError { file: file.to_owned(), line: call.line, column: 1, field: f, message: m };
                // A verify call checks; it must not do the work again
                // (issue 14). A command cannot be read: the author's word.
                // A tool that cannot tell yet (an MCP server not reached)
                // is judged by the gate when the call is about to run.
                if field.ends_with(".verify")
                    && let Some(t) = registry.get(&call.tool).filter(|t| t.name() != "exec")
                    && registry.validate(&call.tool, &expand(&call.args, env, &self.base_dir)).is_ok()
                    && t.knows_effect(&expand(&call.args, env, &self.base_dir))
                    && t.effect(&expand(&call.args, env, &self.base_dir)) != crate::tool::Effect::ReadOnly
                {
                    let m = format!("a verify call only reads; `{}` changes something", t.render(&call.args));
                    errors.push(err(field.clone(), m));
                }
                let keyed = !field.ends_with(".verify") && step.idempotency_key.is_some();
                if keyed && let Some(t) = registry.get(&call.tool).filter(|t| !t.takes_idempotency_key()) {
                    let m = format!("the `{}` tool cannot send an idempotency key (the `http` and `exec` tools can)", t.name());
                    errors.push(err(format!("steps[{i}].idempotency_key"), m));
                }
                // Templates are checked as they will run: expanded.
                let expanded = expand(&call.args, env, &self.base_dir);
                if let Err(problems) = registry.validate(&call.tool, &expanded) {
                    for p in problems {
                        let f = if registry.get(&call.tool).is_none() {
                            format!("{field}.tool")
                        } else {
                            format!("{field}.args{}", p.pointer.replace('/', "."))
                        };
                        errors.push(err(f, p.message));
                    }
                }
                for name in env_refs(&call.args) {
                    if !env.iter().any(|(k, _)| *k == name) {
                        errors.push(err(format!("{field}.args"), format!("environment variable `{name}` is not set")));
                    }
                }
            }
        }
        // The environment the MCP servers the steps call (and their
        // backups) are started with, or send as headers: a variable not
        // set would reach the server empty (issue 16, red team).
        let mut used: Vec<&str> = self
            .steps
            .iter()
            .flat_map(|s| std::iter::once(&s.call).chain(&s.alternatives).chain(&s.verify))
            .filter(|c| c.tool == "mcp")
            .filter_map(|c| c.args.get("server").and_then(Value::as_str))
            .collect();
        let mut i = 0;
        while i < used.len() {
            if let Some(b) = self.mcp_servers.iter().find(|s| s.name == used[i]).and_then(|s| s.backup.as_deref())
                && !used.contains(&b)
            {
                used.push(b);
            }
            i += 1;
        }
        for server in self.mcp_servers.iter().filter(|s| used.contains(&s.name.as_str())) {
            let (what, pairs) = match &server.transport {
                crate::mcp::McpTransport::Stdio { env: e, .. } => ("env", e),
                crate::mcp::McpTransport::Http { headers, .. } => ("headers", headers),
            };
            let mut names: Vec<(String, String)> = Vec::new();
            for (k, v) in pairs {
                names.extend(env_refs(&Value::String(v.clone())).into_iter().map(|n| (k.clone(), n)));
            }
            // A header's value may be a bare variable name (`Authorization = "MCP_TOKEN"`).
            if what == "headers" {
                for (k, v) in pairs {
                    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        names.push((k.clone(), v.clone()));
                    }
                }
            }
            for (key, name) in names {
                if !env.iter().any(|(k, _)| *k == name) {
                    let field = if key.is_empty() {
                        format!("mcp.servers[{}].{what}", server.name)
                    } else {
                        format!("mcp.servers[{}].{what}.{key}", server.name)
                    };
                    errors.push(JobError {
                        file: file.to_owned(),
                        line: 0,
                        column: 0,
                        field,
                        message: format!("environment variable `{name}` is not set (MCP server `{}` would get it empty)", server.name),
                    });
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(JobErrors(errors)) }
    }
}

/// Every `${env:NAME}` referenced in a value.
pub fn env_refs(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_strings(v, &mut |s| {
        let mut rest = s;
        while let Some(i) = rest.find("${env:") {
            let after = &rest[i + 6..];
            match after.find('}') {
                Some(j) => {
                    out.push(after[..j].to_owned());
                    rest = &after[j + 1..];
                }
                None => break,
            }
        }
    });
    out
}

fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// `v` with every `${` in its strings written `$${`, so that [`expand`]
/// gives it back unchanged: arguments that come from an agent (issue 17:
/// `mend mcp serve`, `mend hook claude`) are data, never templates — an
/// agent must not read the environment (`${env:AWS_SECRET_ACCESS_KEY}`)
/// through Mend.
pub fn literal(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("${", "$${")),
        Value::Array(a) => Value::Array(a.iter().map(literal).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), literal(x))).collect()),
        other => other.clone(),
    }
}

/// Expands `${env:NAME}` and `${job_dir}` in every string of `v`; `$${`
/// is a literal `${`.
/// Unknown variables expand to the empty string (the check step rejects
/// them before a run starts).
pub fn expand(v: &Value, env: &[(String, String)], job_dir: &Path) -> Value {
    match v {
        Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                // `$${` is a literal `${` (see [`literal`]).
                if rest[..i].ends_with('$') {
                    out.push_str(&rest[..i - 1]);
                    out.push_str("${");
                    rest = &rest[i + 2..];
                    continue;
                }
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                let Some(j) = after.find('}') else {
                    out.push_str(&rest[i..]);
                    rest = "";
                    break;
                };
                let var = &after[..j];
                if var == "job_dir" {
                    out.push_str(&job_dir.to_string_lossy());
                } else if let Some(name) = var.strip_prefix("env:") {
                    if let Some((_, val)) = env.iter().find(|(k, _)| k == name) {
                        out.push_str(val);
                    }
                } else {
                    out.push_str(&rest[i..i + 2 + j + 1]);
                }
                rest = &after[j + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| expand(x, env, job_dir)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), expand(x, env, job_dir))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GOOD: &str = r#"
name = "sync"
[budget]
wall_clock = "2m"

[[steps]]
name = "fetch"
tool = "http"
wall_clock = "10s"
args = { url = "http://127.0.0.1:1/x", timeout_ms = 500 }
retry = { max = 5, base = "50ms", on = ["NON_ZERO_EXIT"] }

[[steps.alternatives]]
tool = "http"
args = { url = "http://127.0.0.1:2/x" }

[[steps]]
tool = "exec"
args = { program = "true" }
approval = "required"
verify = { tool = "exec", args = { program = "test" } }
"#;

    #[test]
    fn a_good_job_parses_with_defaults() {
        let job = Job::parse(GOOD, "sync.toml", Path::new("/jobs")).unwrap();
        assert_eq!(job.name, "sync");
        assert_eq!(job.budget.wall_clock_ms, 120_000);
        assert_eq!(job.budget.max_attempts, 30);
        assert_eq!(job.steps.len(), 2);
        let s = &job.steps[0];
        assert_eq!(s.retry.max, 5);
        assert_eq!(s.retry.base_ms, 50);
        assert_eq!(s.retry.also_on, vec![ErrorCode::NON_ZERO_EXIT]);
        assert_eq!(s.alternatives[0].args["url"], "http://127.0.0.1:2/x");
        assert_eq!(s.call.line, 10);
        assert_eq!(s.wall_clock_ms, Some(10_000));
        assert_eq!(job.steps[1].wall_clock_ms, None);
        assert_eq!(job.steps[1].name, "step-2");
        assert!(job.steps[1].needs_approval);
        assert!(job.steps[1].verify.is_some());
    }

    fn first_error(text: &str) -> JobError {
        Job::parse(text, "bad.toml", Path::new(".")).unwrap_err().0.remove(0)
    }

    #[test]
    fn syntax_and_type_errors_name_the_line() {
        let e = first_error("name = \"x\"\n[[steps]]\ntool = \"exec\"\nargs = { program = \"true\" \n");
        assert_eq!(e.file, "bad.toml");
        assert_eq!(e.line, 4);
        let e = first_error("name = \"x\"\n\n[[steps]]\ntool = \"exec\"\nargz = {}\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("argz"), "{e}");
        let e = first_error("name = \"x\"\n[[steps]]\ntool = \"exec\"\nretry = { on = [\"lower\"] }\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("SCREAMING_SNAKE"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let e = first_error("name = \"x\"\n[[steps]]\ntool = \"exec\"\nretry = { base = \"5 parsecs\" }\n");
        assert_eq!(e.field, "steps[0].retry.base");
        assert_eq!(e.line, 4);
        let e = first_error("name = \"x\"\n[[steps]]\nname='a'\ntool = \"exec\"\n[[steps]]\nname='a'\ntool='fs'\n");
        assert_eq!(e.field, "steps[1].name");
        assert_eq!(e.line, 6);
        let e = first_error("name = \"x\"\n");
        assert_eq!(e.field, "steps");
        let e = first_error("name = \"x\"\nschedule = \"sometimes\"\n[[steps]]\ntool='exec'\n");
        assert_eq!((e.field.as_str(), e.line), ("schedule", 2));
        let e = first_error("name = \"x\"\n[safety]\ndestructive = [\"(\"]\n[[steps]]\ntool='exec'\n");
        assert_eq!(e.field, "safety");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("250ms").unwrap(), 250);
        assert_eq!(parse_duration_ms("1.5s").unwrap(), 1500);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("42").unwrap(), 42);
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("3 weeks").is_err());
    }

    #[test]
    fn templates_expand_and_env_refs_are_found() {
        let v = json!({"h": {"Authorization": "Bearer ${env:TOK}"}, "p": "${job_dir}/x", "keep": "${other}", "n": 1});
        assert_eq!(env_refs(&v), vec!["TOK".to_owned()]);
        let env = vec![("TOK".to_owned(), "abc".to_owned())];
        let e = expand(&v, &env, Path::new("/j"));
        assert_eq!(e, json!({"h": {"Authorization": "Bearer abc"}, "p": "/j/x", "keep": "${other}", "n": 1}));
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_col("", 10), (1, 1));
    }
}

#[cfg(test)]
mod literal_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_agents_arguments_are_never_templates() {
        let env = vec![("SECRET".to_owned(), "hunter2".to_owned())];
        let given = json!({"q": "${env:SECRET} and ${job_dir} and $${x} and $$ and ${", "n": [1, "${env:SECRET}"]});
        assert_eq!(expand(&literal(&given), &env, Path::new("/j")), given);
        // A job's own templates still expand; `$${` writes `${`.
        assert_eq!(expand(&json!("${env:SECRET} $${env:SECRET}"), &env, Path::new("/j")), json!("hunter2 ${env:SECRET}"));
    }
}
