//! Claude Code's own tools through Mend (issue 17, item 5): what `mend hook
//! claude` does with a hook event, apart from reading stdin and printing.
//!
//! Claude Code runs its built-in tools (Bash, Edit, Write, MultiEdit,
//! NotebookEdit) itself, never over MCP. Its hooks let Mend see each call
//! first (`PreToolUse`, `PermissionRequest`) and each failure after
//! (`PostToolUseFailure`). Nothing here re-implements the gate: a call is
//! the one step of a job `claude-code` whose tool is [`ClaudeCodeTool`], a
//! pseudo-tool that reads like the equivalent Mend call (Bash as `exec`,
//! Write and the edits as `fs`) and runs nothing. [`judge`] runs that job
//! through [`Agent::execute`]: the engine's gate, remembered decisions, the
//! journal and the approval request (the desktop popup, `mend approvals`)
//! are the same as for any job. [`failure`] classifies a failure's text
//! with the classifiers `exec` uses, finds the memory's lessons for it and
//! journals it as a failed call of the pseudo-tool.
//!
//! A call the gate does not hold gets no opinion ([`Verdict::NoOpinion`]):
//! Mend never widens what Claude Code's own permissions allow. A held call
//! waits for a person up to a bound (Claude Code gives a hook 60 s); without
//! a decision Claude Code is told to ask its user, and the request stays
//! pending: a decision made on it later answers the same call when Claude
//! Code makes it again ([`HookApprover`]), once.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mend_core::approval::{Answer, ApprovalRequest, Approver, DecidedBy, Decision};
use mend_core::clock::now_ms;
use mend_core::config::Config;
use mend_core::engine::EngineError;
use mend_core::event::{Event, Journal, Level};
use mend_core::job::{ApprovalPolicy, Budget, Call, Job, RetryPolicy, Step};
use mend_core::lesson::{FailureQuery, LessonMatch, subject_of};
use mend_core::payload::{Body, BudgetInfo, CallMade, CallPurpose, RunEnd, RunFinished, RunStarted, StepFinished, StepStarted};
use mend_core::redact::Redactor;
use mend_core::report::{RunReport, StepStatus};
use mend_core::safety::Intent;
use mend_core::tool::{CallContext, Effect, Tool, ToolRegistry};
use mend_core::{ErrorCode, Outcome, ToolError};
use mend_tools::exec::{ExecTool, classify_curl, classify_output, command_row, telling_lines};
use mend_tools::fs::FsTool;
use serde_json::{Value, json};

use crate::lease::Taken;
use crate::{Agent, AgentError, Ended, RunSpec};

/// The agent every hook run is journaled as (`mend logs --agent
/// claude-code`), named in its requests' titles; rules made on its
/// requests hold for it only.
pub const AGENT: &str = "claude-code";
/// The job every hook run belongs to: one step, named after Claude Code's
/// tool (`Bash`, `Write`, …). `--remember job` on one of its requests
/// holds for every call of Claude Code the gate holds; `--remember step`
/// for every call of that tool.
pub const JOB: &str = "claude-code";
/// The pseudo-tool's name in the journal and the dashboard.
pub const TOOL: &str = "claude_code";
/// How long a held call waits for a decision by default: under the 60 s
/// Claude Code gives a hook command.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(50);
/// Who closes an earlier run whose decision answered the same call again.
const CLOSER: &str = "mend hook claude";
/// How often a waiting call looks for a decision on an earlier request
/// about the same call (its own request is watched by the agent).
const POLL: Duration = Duration::from_millis(500);
/// Lessons shown after a failure, at most.
const LESSONS_SHOWN: usize = 3;
/// A file tool's text argument longer than this (bytes) is journaled as
/// its length and digest, not its text.
const SUMMARY_OVER: usize = 200;
/// Claude Code's file tools and the argument naming the file.
const FILE_TOOLS: [(&str, &str); 4] =
    [("Write", "file_path"), ("Edit", "file_path"), ("MultiEdit", "file_path"), ("NotebookEdit", "notebook_path")];

/// The hook events `mend hook claude` handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// Before Claude Code runs a tool: allow, deny, ask, or no opinion.
    PreToolUse,
    /// Claude Code is about to show its permission dialog: allow, deny,
    /// or no opinion (the dialog is shown).
    PermissionRequest,
    /// A tool call failed: context for Claude, nothing to decide.
    PostToolUseFailure,
}

impl HookEvent {
    /// The name Claude Code gives it (`hook_event_name`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PermissionRequest => "PermissionRequest",
            HookEvent::PostToolUseFailure => "PostToolUseFailure",
        }
    }

    fn parse(s: &str) -> Option<HookEvent> {
        [HookEvent::PreToolUse, HookEvent::PermissionRequest, HookEvent::PostToolUseFailure].into_iter().find(|e| e.as_str() == s)
    }
}

/// Why a hook event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// What Claude Code sent is not what its hook contract says: the field
    /// (`stdin` for the whole input, `tool_input.command`, …) and why.
    #[error("`{field}`: {message}")]
    BadInput {
        /// The field, as a path into the input.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The journal or the memory failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The engine could not run the call's job.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> HookError {
    HookError::BadInput { field: field.into(), message: message.into() }
}

/// One hook event as Claude Code sends it on stdin (the fields Mend reads;
/// others, such as `transcript_path` and `permission_mode`, are ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct HookInput {
    /// `hook_event_name`.
    pub event: HookEvent,
    /// `session_id`, when sent.
    pub session_id: Option<String>,
    /// `cwd`: where Claude Code runs the tool (absolute); relative paths of
    /// the call resolve against it.
    pub cwd: PathBuf,
    /// `tool_name`: `Bash`, `Write`, `Edit`, `MultiEdit`, `NotebookEdit`,
    /// `Read`, `mcp__server__tool`, …
    pub tool_name: String,
    /// `tool_input`: the tool's arguments (a JSON object).
    pub tool_input: Value,
    /// `tool_use_id`, when sent: names the hook's run (`cc-ID`), so a
    /// call's failure is journaled in the run that judged it.
    pub tool_use_id: Option<String>,
    /// `error` of a `PostToolUseFailure`: the failure's text.
    pub error: Option<String>,
    /// `is_interrupt` of a `PostToolUseFailure`: the person stopped the call.
    pub is_interrupt: bool,
}

impl HookInput {
    /// Reads Claude Code's hook JSON. A field that is missing or of the
    /// wrong type is [`HookError::BadInput`] naming it; so is an event Mend
    /// does not handle, a relative `cwd`, and a tool input without the
    /// field the gate reads (`command` of Bash, `file_path` of Write, Edit
    /// and MultiEdit, `notebook_path` of NotebookEdit).
    pub fn parse(text: &str) -> Result<HookInput, HookError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad("stdin", format!("not JSON ({e}): Claude Code sends one JSON object per event")))?;
        let Some(o) = v.as_object() else { return Err(bad("stdin", "not a JSON object: Claude Code sends one JSON object per event")) };
        let text_of = |k: &str, required: bool| -> Result<Option<String>, HookError> {
            match o.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(Value::String(_)) if required => Err(bad(k, "empty")),
                None | Some(Value::Null) if required => Err(bad(k, "missing")),
                None | Some(Value::Null) | Some(Value::String(_)) => Ok(None),
                Some(other) => Err(bad(k, format!("not a string: {}", kind_of(other)))),
            }
        };
        let name = text_of("hook_event_name", true)?.unwrap_or_default();
        let event = HookEvent::parse(&name).ok_or_else(|| {
            bad(
                "hook_event_name",
                format!("`{name}` is not an event `mend hook claude` handles (PreToolUse, PermissionRequest, PostToolUseFailure)"),
            )
        })?;
        let cwd = PathBuf::from(text_of("cwd", true)?.unwrap_or_default());
        if !cwd.is_absolute() {
            return Err(bad("cwd", format!("`{}` is not an absolute path", cwd.display())));
        }
        let tool_name = text_of("tool_name", true)?.unwrap_or_default();
        let tool_input = match o.get("tool_input") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            None | Some(Value::Null) => return Err(bad("tool_input", "missing")),
            Some(other) => return Err(bad("tool_input", format!("not an object: {}", kind_of(other)))),
        };
        let needed = match tool_name.as_str() {
            "Bash" => Some("command"),
            t => FILE_TOOLS.iter().find(|(n, _)| *n == t).map(|(_, k)| *k),
        };
        if let Some(k) = needed {
            match tool_input.get(k) {
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(Value::String(_)) => return Err(bad(format!("tool_input.{k}"), format!("empty: {tool_name} needs it"))),
                None | Some(Value::Null) => return Err(bad(format!("tool_input.{k}"), format!("missing: {tool_name} needs it"))),
                Some(other) => return Err(bad(format!("tool_input.{k}"), format!("not a string: {}", kind_of(other)))),
            }
        }
        let error = match event {
            HookEvent::PostToolUseFailure => match o.get("error") {
                Some(Value::String(s)) => Some(s.clone()),
                None | Some(Value::Null) => return Err(bad("error", "missing: PostToolUseFailure carries the failure's text")),
                Some(other) => return Err(bad("error", format!("not a string: {}", kind_of(other)))),
            },
            _ => None,
        };
        let is_interrupt = match o.get("is_interrupt") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(bad("is_interrupt", format!("not a boolean: {}", kind_of(other)))),
        };
        Ok(HookInput {
            event,
            session_id: text_of("session_id", false)?,
            cwd,
            tool_name,
            tool_input,
            tool_use_id: text_of("tool_use_id", false)?,
            error,
            is_interrupt,
        })
    }

    /// The pseudo-tool's arguments for this call: `{tool_name, tool_input,
    /// cwd}`. They are what an approval holds for (the request's digest),
    /// so what changes from one try of the same call to the next is left
    /// out (Bash's `description`, `timeout`), and a file tool's long texts
    /// (a Write's `content`, an Edit's strings) are kept as their length
    /// and digest: the journal holds no file contents.
    pub fn call_args(&self) -> Value {
        let input = match self.tool_name.as_str() {
            "Bash" => json!({"command": self.tool_input.get("command").cloned().unwrap_or(Value::Null)}),
            t => match (FILE_TOOLS.iter().find(|(n, _)| *n == t), self.tool_input.as_object()) {
                (Some((_, path)), Some(m)) => Value::Object(
                    m.iter()
                        .map(|(k, v)| {
                            let long = match v {
                                Value::String(s) => s.len() > SUMMARY_OVER,
                                Value::Array(_) | Value::Object(_) => true,
                                _ => false,
                            };
                            (k.clone(), if k != path && long { summary(v) } else { v.clone() })
                        })
                        .collect(),
                ),
                _ => self.tool_input.clone(),
            },
        };
        json!({"tool_name": self.tool_name, "tool_input": input, "cwd": self.cwd.display().to_string()})
    }

    /// The run id this call is journaled under: `cc-` and Claude Code's
    /// `tool_use_id` when it is one a run id can be (letters, digits, `-`
    /// and `_`), so the judgement and a failure of the same call are one
    /// run; `None` otherwise.
    fn run_id(&self) -> Option<String> {
        let id = self.tool_use_id.as_deref()?;
        let ok = !id.is_empty() && id.len() <= 120 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| format!("cc-{id}"))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A long argument as its length and an FNV-1a digest: the same text
/// gives the same summary in every process.
fn summary(v: &Value) -> Value {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    json!(format!("<{} bytes, fnv {h:016x}>", text.len()))
}

/// The Mend call a Claude Code call reads as.
enum Equivalent {
    /// `exec` with these arguments.
    Exec(Value),
    /// `fs` with these arguments.
    Fs(Value),
    /// Neither: rendered as the tool's name and its input.
    Plain(Effect),
}

fn equivalent(args: &Value) -> Equivalent {
    let input = args.get("tool_input").unwrap_or(&Value::Null);
    let s = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
    match args.get("tool_name").and_then(Value::as_str).unwrap_or("") {
        "Bash" => Equivalent::Exec(json!({"shell": s("command")})),
        // Claude Code's Write replaces a file that exists.
        "Write" => Equivalent::Fs(json!({"op": "write", "path": s("file_path"), "overwrite": true})),
        "Edit" | "MultiEdit" => Equivalent::Fs(json!({"op": "edit", "path": s("file_path")})),
        "NotebookEdit" => Equivalent::Fs(json!({"op": "edit", "path": s("notebook_path")})),
        "Read" => Equivalent::Fs(json!({"op": "read", "path": s("file_path")})),
        "Glob" => {
            Equivalent::Fs(json!({"op": "find", "path": if s("path").is_empty() { "." } else { s("path") }, "pattern": s("pattern")}))
        }
        "Grep" => Equivalent::Plain(Effect::ReadOnly),
        _ => Equivalent::Plain(Effect::Mutating),
    }
}

/// The pseudo-tool `claude_code`: one call of Claude Code's own tools,
/// with arguments `{tool_name, tool_input, cwd}` ([`HookInput::call_args`]).
/// It reads, renders and is judged as the equivalent Mend call — Bash as
/// `exec` with `{shell: command}`, Write as an `fs` write that replaces the
/// file, Edit, MultiEdit and NotebookEdit as `fs` edits, Read and Glob as
/// `fs` reads, Grep read-only, any other tool (`mcp__…`, `WebFetch`) as a
/// mutating call rendered as its name and input, which only the config's
/// `[safety] destructive` patterns hold. Its call runs nothing and
/// succeeds with `{"approved": true}`: Claude Code runs the tool itself
/// once the hook has answered.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClaudeCodeTool;

#[async_trait]
impl Tool for ClaudeCodeTool {
    fn name(&self) -> &str {
        TOOL
    }

    fn description(&self) -> &str {
        "One of Claude Code's own tool calls (Bash, Write, Edit, …), judged before Claude Code runs it (`mend hook claude`); runs nothing"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "tool_name": {"type": "string", "minLength": 1, "description": "Claude Code's tool: Bash, Write, Edit, MultiEdit, NotebookEdit, …"},
                "tool_input": {"type": "object", "description": "the tool's input, as Claude Code sent it (long file texts as length and digest)"},
                "cwd": {"type": "string", "description": "the folder Claude Code runs it in"}
            },
            "required": ["tool_name", "tool_input"],
            "additionalProperties": false
        })
    }

    fn render(&self, args: &Value) -> String {
        match equivalent(args) {
            Equivalent::Exec(a) => ExecTool.render(&a),
            Equivalent::Fs(a) => FsTool.render(&a),
            Equivalent::Plain(_) => format!(
                "{} {}",
                args.get("tool_name").and_then(Value::as_str).unwrap_or("?"),
                args.get("tool_input").map(Value::to_string).unwrap_or_default()
            ),
        }
    }

    fn effect(&self, args: &Value) -> Effect {
        match equivalent(args) {
            Equivalent::Exec(a) => ExecTool.effect(&a),
            Equivalent::Fs(a) => FsTool.effect(&a),
            Equivalent::Plain(e) => e,
        }
    }

    fn intent(&self, args: &Value, base_dir: &Path) -> Intent {
        match equivalent(args) {
            Equivalent::Exec(a) => ExecTool.intent(&a, base_dir),
            Equivalent::Fs(a) => FsTool.intent(&a, base_dir),
            Equivalent::Plain(_) => Intent::Opaque,
        }
    }

    async fn call(&self, _args: &Value, _ctx: &CallContext) -> Outcome {
        Outcome::success(json!({"approved": true}))
    }
}

/// The tools a hook run can call: [`crate::registry`]'s and
/// [`ClaudeCodeTool`] (for [`Agent::with_registry`]).
pub fn registry(journal: &Path) -> ToolRegistry {
    let mut r = crate::registry(journal);
    // A fixed schema and a name no built-in tool has: registration cannot fail.
    let _ = r.register(Arc::new(ClaudeCodeTool));
    r
}

/// The one-step job that judges a call: job `claude-code`, step named
/// after Claude Code's tool, its folder the hook's `cwd`, the config's
/// `[safety]` rules and secrets. No healing (the call runs nothing), and
/// no approval timeout: [`HookApprover`] bounds the wait and leaves the
/// request pending.
pub fn job(input: &HookInput, config: &Config) -> Job {
    // Nothing to heal: the call runs in Claude Code, not here.
    let step = Step {
        retry: RetryPolicy { max: 0, ..RetryPolicy::default() },
        max_attempts: 0,
        // Claude's text is data: never a template that reads the environment.
        ..Step::new(&input.tool_name, Call::new(TOOL, mend_core::job::literal(&input.call_args())))
    };
    Job {
        name: JOB.to_owned(),
        description: "Claude Code's own tool calls, judged by `mend hook claude`".to_owned(),
        base_dir: input.cwd.clone(),
        budget: Budget::default(),
        approval: ApprovalPolicy::default(),
        safety: config.safety.clone(),
        secrets: config.secrets.clone(),
        schedule: None,
        steps: vec![step],
        mcp_servers: vec![],
    }
}

pub use crate::repeat::Reused;

/// The approver of a hook run. A decision a person made on an earlier
/// request about the very same call (same job, agent, kind and call
/// digest: every argument and the folder), after that call's hook had
/// stopped waiting, answers this one without asking again — once: the
/// earlier run is closed when this run ends. Otherwise it waits up to
/// `wait` (the agent's watcher meanwhile reads a decision made on this
/// request elsewhere: the popup, `mend approvals decide`), then leaves the
/// request pending ([`Answer::Pending`]); a timeout is never an answer.
pub struct HookApprover {
    data_dir: PathBuf,
    journal: PathBuf,
    wait: Duration,
    /// Set when an earlier decision answered (a std mutex: held to set or
    /// take it, never across an await).
    reused: Mutex<Option<Reused>>,
}

impl HookApprover {
    /// An approver for runs journaled in `agent`'s data directory, waiting
    /// at most `wait` for a decision.
    pub fn new(agent: &Agent, wait: Duration) -> Self {
        HookApprover {
            data_dir: agent.data_dir().to_path_buf(),
            journal: agent.journal().path().to_path_buf(),
            wait,
            reused: Mutex::new(None),
        }
    }

    /// The earlier request whose decision answered, if one did (taken: asked once).
    pub fn take_reused(&self) -> Option<Reused> {
        self.reused.lock().ok().and_then(|mut r| r.take())
    }

    fn reuse(&self, req: &ApprovalRequest) -> Option<Answer> {
        let r = crate::repeat::earlier_decision(&self.data_dir, &self.journal, req, CLOSER)?;
        let answer = r.answer();
        if let Ok(mut slot) = self.reused.lock() {
            *slot = Some(r);
        }
        Some(Answer::Decided(answer))
    }
}

#[async_trait]
impl Approver for HookApprover {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(a) = self.reuse(req) {
                return a;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Answer::Pending;
            }
            tokio::time::sleep(left.min(POLL)).await;
        }
    }
}

/// What Claude Code is told about a call before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The gate did not hold it: no opinion, Claude Code's own
    /// permissions decide (the hook prints nothing).
    NoOpinion,
    /// The gate held it and a person or a remembered decision approved it.
    Allow {
        /// Who approved it, and what.
        reason: String,
    },
    /// The gate held it and a person or a remembered decision refused it
    /// (`skip` or `abort`).
    Deny {
        /// Who refused it, and their note.
        reason: String,
    },
    /// The gate held it and nobody decided in time (or Mend could not
    /// judge it): Claude Code asks its user.
    Ask {
        /// Why, with the pending request and how to decide it.
        reason: String,
        /// The pending request, if one was made.
        request: Option<String>,
    },
}

/// Judges one call before Claude Code runs it (`PreToolUse`,
/// `PermissionRequest`): runs its [`job`] through `agent` (which must hold
/// [`registry`]'s tools) as agent `claude-code`, waiting at most `wait`
/// for a decision, until `cancel` completes (a signal). The run is
/// journaled; an earlier run whose decision answered it is closed. A
/// `PermissionRequest` for a call `PreToolUse` already judged (same
/// `tool_use_id`) gets no opinion without a second run.
pub async fn judge(
    agent: &Agent,
    input: &HookInput,
    config: &Config,
    env: Vec<(String, String)>,
    wait: Duration,
    cancel: impl Future<Output = String>,
) -> Result<Verdict, HookError> {
    let job = job(input, config);
    let fresh = |id: &String| agent.reader().ok().and_then(|r| r.run_state(id).ok()).flatten().is_none();
    let run_id = input.run_id().filter(fresh);
    // Both hooks installed: `PreToolUse` judged this very call already, and
    // Claude Code's dialog is the person's say on what it held. Judging it
    // again would wait a second time and raise a second request.
    if input.event == HookEvent::PermissionRequest && run_id.is_none() && input.run_id().is_some() {
        return Ok(Verdict::NoOpinion);
    }
    let approver = Arc::new(HookApprover::new(agent, wait));
    let spec = RunSpec { agent: Some(AGENT.to_owned()), run_id, ..RunSpec::new(&job, env) };
    let ended = agent.execute(spec, approver.clone(), None, cancel).await?;
    let report = match ended {
        Ended::Finished(r) => r,
        Ended::Interrupted { run_id } => {
            return Ok(Verdict::Ask {
                reason: format!("Mend was stopped before it judged this call (run {run_id}): check it yourself."),
                request: None,
            });
        }
    };
    let reused = approver.take_reused();
    let shown = reused.as_ref().map(|r| (r.request.clone(), r.decision.clone()));
    // Best effort: the decision has been acted on either way.
    let _ = crate::repeat::close_moot(agent, reused, None, &report.run_id, CLOSER).await;
    Ok(verdict(agent, &report, shown.as_ref(), wait))
}

fn verdict(agent: &Agent, report: &RunReport, reused: Option<&(ApprovalRequest, Decision)>, wait: Duration) -> Verdict {
    let Some(step) = report.steps.first() else { return Verdict::NoOpinion };
    let Some(esc) = step.escalations.last() else {
        return if step.status.is_ok() {
            Verdict::NoOpinion
        } else {
            Verdict::Ask { reason: format!("Mend could not judge this call (run {}): check it yourself.", report.run_id), request: None }
        };
    };
    let request = agent.request(&esc.request_id).ok().map(|(r, _)| r);
    let call = request.as_ref().and_then(|r| r.call.clone()).unwrap_or_else(|| step.name.clone());
    let held = match request.as_ref().and_then(|r| r.danger.as_ref()) {
        Some(d) => format!("Mend's safety gate held `{call}`: {} (rule `{}`, {})", d.why, d.rule, d.category),
        None => format!("Mend's safety gate held `{call}`"),
    };
    let Some(d) = &esc.decision else {
        let id = &esc.request_id;
        return Verdict::Ask {
            reason: format!(
                "{held}. Nobody decided within {}: request {id} waits in Mend (the desktop app, or `mend approvals decide {id} run`; \
                 `skip` or `abort` to refuse). Answer here, or decide it there and have the same call made again.",
                seconds(wait)
            ),
            request: Some(id.clone()),
        };
    };
    // The person's own words, and where the decision came from.
    let (d, on) = match reused {
        Some((request, decision)) => (decision, format!("request {} (the same call, asked earlier)", request.id)),
        None => (d, format!("request {}", esc.request_id)),
    };
    let note = d.instructions.as_deref().map(|n| format!(" Their note: {n}")).unwrap_or_default();
    let who = match &d.decided_by {
        DecidedBy::Person { who } if who.is_empty() => "a person".to_owned(),
        DecidedBy::Person { who } => who.clone(),
        DecidedBy::Policy { rule } => format!("Mend's {rule}"),
        DecidedBy::Timeout => "the timeout policy".to_owned(),
    };
    match step.status {
        s if s.is_ok() && s != StepStatus::Skipped => Verdict::Allow { reason: format!("{held}; {who} approved it on {on}.{note}") },
        StepStatus::Skipped => {
            Verdict::Deny { reason: format!("{held}; {who} chose not to run it (`{}`) on {on}: go on without it.{note}", d.option) }
        }
        _ => Verdict::Deny {
            reason: format!(
                "{held}; {who} refused it (`{}`) on {on}: stop, and ask the user before trying anything like it.{note}",
                d.option
            ),
        },
    }
}

fn seconds(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}

/// How Mend reads a failure's text: its code, and the exit code the text
/// names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The code (`COMMAND_NOT_FOUND`, `TIMEOUT`, …; see `docs/error-codes.md`).
    pub code: ErrorCode,
    /// The exit code the text names (`Exit code 127`), for Bash.
    pub exit_code: Option<i32>,
}

/// Classifies a failed call's error text with the classifiers `exec` uses
/// (its `COMMANDS` table; issue 14): for Bash, the exit code the text names
/// and the known messages in it, else `NON_ZERO_EXIT`; for other tools,
/// the known messages, else `MCP_TOOL_ERROR` for an MCP tool and
/// `IO_ERROR` for the rest.
pub fn classify(tool_name: &str, error: &str) -> Classified {
    let exit_code = exit_code_in(error);
    let known = |c: &str| ErrorCode::parse(c).ok();
    let code = if tool_name == "Bash" {
        command_row(None, exit_code, error).and_then(|r| known(r.code)).or_else(|| classify_curl(error)).unwrap_or(ErrorCode::NON_ZERO_EXIT)
    } else {
        classify_output(error).unwrap_or(if tool_name.starts_with("mcp__") { ErrorCode::MCP_TOOL_ERROR } else { ErrorCode::IO_ERROR })
    };
    Classified { code, exit_code }
}

/// The number after `exit code` or `exit status` in a text (any case).
fn exit_code_in(text: &str) -> Option<i32> {
    let lower = text.to_lowercase();
    ["exit code", "exit status"].iter().find_map(|w| {
        let at = lower.find(w)? + w.len();
        let rest = lower[at..].trim_start_matches([':', ' ']);
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}

/// The Mend tool, arguments and subject a Claude Code call's failure is
/// looked up as, so the memory's lessons written for `exec`, `fs` and
/// `mcp` match it.
fn lookup_as(input: &HookInput) -> (String, Value) {
    let args = input.call_args();
    match equivalent(&args) {
        Equivalent::Exec(a) => ("exec".to_owned(), a),
        Equivalent::Fs(a) => ("fs".to_owned(), a),
        Equivalent::Plain(_) => match input.tool_name.strip_prefix("mcp__").and_then(|r| r.split_once("__")) {
            Some((server, tool)) => ("mcp".to_owned(), json!({"server": server, "tool": tool})),
            None => (input.tool_name.clone(), input.tool_input.clone()),
        },
    }
}

/// After a call failed in Claude Code (`PostToolUseFailure`): its code,
/// whether retrying can help and the memory's best lessons for it, as a
/// few lines for Claude (`additionalContext`); `None` for a call the
/// person interrupted. Journaled as a failed call of the pseudo-tool, agent
/// `claude-code` (an interrupt as an aborted step), in the run that judged
/// the call when there is one (`cc-` and its `tool_use_id`), else in a new
/// run.
pub async fn failure(agent: &Agent, input: &HookInput, config: &Config, env: &[(String, String)]) -> Result<Option<String>, HookError> {
    let redactor = Redactor::from_env(config.secrets.iter().map(String::as_str), env);
    let args = input.call_args();
    let shown = redactor.text(&ClaudeCodeTool.render(&args));
    let error = redactor.text(input.error.as_deref().unwrap_or(""));
    let step = input.tool_name.as_str();

    // The run that judged the call, when it can be had; a new one otherwise.
    let reader = agent.reader()?;
    let (run_id, existing, _lease) = match input.run_id() {
        Some(id) if reader.run_state(&id).map_err(AgentError::from)?.is_some() => match agent.claim(&id).await? {
            Taken::Ours(l) => (id, true, Some(l)),
            Taken::Held(_) => (mend_core::engine::new_id(), false, None),
        },
        Some(id) => (id, false, None),
        None => (mend_core::engine::new_id(), false, None),
    };
    let ev =
        |body, level, message: String| Event { agent: Some(AGENT.to_owned()), ..Event::new(now_ms(), &run_id, JOB, body, level, message) };
    let in_step = |e: Event| Event { step: Some(step.to_owned()), tool: Some(TOOL.to_owned()), ..e };
    let j = agent.journal();
    if !existing {
        let budget = Budget::default();
        let started = RunStarted {
            steps: 1,
            budget: BudgetInfo { max_attempts: budget.max_attempts, wall_clock_ms: budget.wall_clock_ms, tokens: budget.tokens },
            start_step: Some(step.to_owned()),
            ..Default::default()
        };
        j.record(ev(Body::RunStarted(started), Level::Info, format!("run of `{JOB}` started")));
    }
    let record = |e: Event| j.record(e);
    record(in_step(ev(Body::StepStarted(StepStarted { continued: false }), Level::Info, format!("step `{step}`: {shown}"))));

    if input.is_interrupt {
        let why = "stopped by the person in Claude Code".to_owned();
        let fin = StepFinished { status: StepStatus::Aborted, attempts: 0, failed_first: false, person: true };
        record(Event { ok: Some(false), ..in_step(ev(Body::StepFinished(fin), Level::Warn, format!("step `{step}` aborted: {why}"))) });
        let end = RunFinished { status: RunEnd::Aborted, attempts: Some(0), reason: Some(why.clone()), ..Default::default() };
        record(Event { ok: Some(false), ..ev(Body::RunFinished(end), Level::Warn, format!("run of `{JOB}` aborted: {why}")) });
        j.flush().await.map_err(AgentError::from)?;
        return Ok(None);
    }

    let Classified { code, exit_code } = classify(step, &error);
    let message = if step == "Bash" { telling_lines(&error) } else { first_line(&error) };
    let mut err = ToolError::new(code.clone(), message.clone());
    if let Some(n) = exit_code {
        err = err.hint("exit_code", n);
    }
    let outcome = Outcome::failure(err);
    let made = CallMade { purpose: CallPurpose::Call, args: redactor.redacted(&args), outcome, call: None, idempotency_key: None };
    record(Event {
        code: Some(code.to_string()),
        ok: Some(false),
        duration_ms: Some(0),
        ..in_step(ev(Body::Call(made), Level::Warn, format!("call `{shown}` failed in Claude Code: {code} {message}")))
    });
    let fin = StepFinished { status: StepStatus::Failed, attempts: 0, failed_first: true, person: false };
    record(Event { ok: Some(false), ..in_step(ev(Body::StepFinished(fin), Level::Error, format!("step `{step}` failed"))) });
    let end = RunFinished {
        status: RunEnd::Failed,
        attempts: Some(0),
        reason: Some(format!("`{shown}` failed in Claude Code: {code}")),
        ..Default::default()
    };
    record(Event { ok: Some(false), ..ev(Body::RunFinished(end), Level::Error, format!("run of `{JOB}` failed")) });
    j.flush().await.map_err(AgentError::from)?;

    let (tool, lookup) = lookup_as(input);
    let query = FailureQuery {
        subject: subject_of(&tool, &lookup).map(|s| redactor.text(&s)),
        tool,
        code: code.to_string(),
        message: message.clone(),
        target: shown.clone(),
    };
    let lessons = agent.find_lessons(&query, LESSONS_SHOWN);
    Ok(Some(context(&shown, &message, &code, exit_code, &lessons, &run_id)))
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.chars().count() > 400 { format!("{}…", line.chars().take(399).collect::<String>()) } else { line.to_owned() }
}

/// The lines Claude gets after a failure.
fn context(shown: &str, message: &str, code: &ErrorCode, exit_code: Option<i32>, lessons: &[LessonMatch], run_id: &str) -> String {
    let info = code.info();
    let exit = exit_code.map(|n| format!(" (exit code {n})")).unwrap_or_default();
    let mut out = vec![
        format!("Mend classifies this failure as {code}: {}", info.meaning),
        format!("What failed: `{shown}`{exit}: {message}"),
        match (info.retryable, info.recoverable) {
            (true, _) => "Retry: likely transient; the same call may work after a short wait.".to_owned(),
            (false, true) => "Retry: the same call will fail the same way; a changed call (another command, path or argument) may work.".to_owned(),
            (false, false) => "Retry: neither repeating nor changing the call fixes this by itself; it needs the user (credentials, permissions, disk space).".to_owned(),
        },
    ];
    // The lessons whose `when:` names this failure; when none does, the one
    // that shares the most words, said to be only related.
    let applies: Vec<&LessonMatch> = lessons.iter().filter(|l| l.applies).collect();
    let shown: Vec<&LessonMatch> = if applies.is_empty() { lessons.iter().take(1).collect() } else { applies };
    if shown.is_empty() {
        out.push("Mend's memory has no lesson for it yet.".to_owned());
    } else {
        out.push("Lessons from Mend's memory:".to_owned());
        for l in shown {
            let fix = l.fix.as_ref().map(|f| format!(" (fix: {})", f.action)).unwrap_or_default();
            let fit = if l.applies { "" } else { " [related, not written for this failure]" };
            out.push(format!("- {}{fit}: {}{fix}", l.id, l.text));
        }
    }
    out.push(format!("Journaled in Mend as run {run_id} (`mend logs --run {run_id}`)."));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> Result<HookInput, HookError> {
        HookInput::parse(text)
    }

    fn field(r: Result<HookInput, HookError>) -> String {
        match r {
            Err(HookError::BadInput { field, .. }) => field,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let pre = |tool: &str, input: &str| {
            format!(r#"{{"hook_event_name":"PreToolUse","cwd":"/tmp","tool_name":"{tool}","tool_input":{input},"session_id":"s"}}"#)
        };
        let rows = [
            ("not json".to_owned(), "stdin"),
            ("[1]".to_owned(), "stdin"),
            (r#"{"cwd":"/tmp"}"#.to_owned(), "hook_event_name"),
            (r#"{"hook_event_name":"Stop","cwd":"/tmp"}"#.to_owned(), "hook_event_name"),
            (r#"{"hook_event_name":"PreToolUse","cwd":"rel","tool_name":"Bash","tool_input":{}}"#.to_owned(), "cwd"),
            (r#"{"hook_event_name":"PreToolUse","cwd":"/tmp","tool_input":{}}"#.to_owned(), "tool_name"),
            (r#"{"hook_event_name":"PreToolUse","cwd":"/tmp","tool_name":"Bash"}"#.to_owned(), "tool_input"),
            (r#"{"hook_event_name":"PreToolUse","cwd":"/tmp","tool_name":"Bash","tool_input":"ls"}"#.to_owned(), "tool_input"),
            (pre("Bash", "{}"), "tool_input.command"),
            (pre("Bash", r#"{"command":7}"#), "tool_input.command"),
            (pre("Write", r#"{"content":"x"}"#), "tool_input.file_path"),
            (pre("NotebookEdit", r#"{"new_source":"x"}"#), "tool_input.notebook_path"),
            (r#"{"hook_event_name":"PostToolUseFailure","cwd":"/tmp","tool_name":"Bash","tool_input":{"command":"x"}}"#.to_owned(), "error"),
            (
                r#"{"hook_event_name":"PostToolUseFailure","cwd":"/tmp","tool_name":"Bash","tool_input":{"command":"x"},"error":"e","is_interrupt":"no"}"#
                    .to_owned(),
                "is_interrupt",
            ),
        ];
        for (text, want) in rows {
            assert_eq!(field(input(&text)), want, "{text}");
        }
        // Tools whose input the gate does not read need nothing in particular.
        assert!(input(&pre("mcp__github__create_issue", "{}")).is_ok());
    }

    #[test]
    fn calls_read_as_the_equivalent_mend_call() {
        let args = |tool: &str, input: Value| json!({"tool_name": tool, "tool_input": input, "cwd": "/w"});
        let rows = [
            (args("Bash", json!({"command": "rm -rf build"})), "rm -rf build", Effect::Mutating),
            (args("Write", json!({"file_path": "/w/a.txt", "content": "x"})), "write /w/a.txt", Effect::Mutating),
            (args("Edit", json!({"file_path": "/w/a.txt", "old_string": "a", "new_string": "b"})), "edit /w/a.txt", Effect::Mutating),
            (args("NotebookEdit", json!({"notebook_path": "/w/n.ipynb", "new_source": ""})), "edit /w/n.ipynb", Effect::Mutating),
            (args("Read", json!({"file_path": "/w/a.txt"})), "read /w/a.txt", Effect::ReadOnly),
            (args("Glob", json!({"pattern": "*.rs"})), "find . *.rs", Effect::ReadOnly),
            (args("Grep", json!({"pattern": "x"})), r#"Grep {"pattern":"x"}"#, Effect::ReadOnly),
            (args("mcp__gh__delete_repo", json!({"repo": "r"})), r#"mcp__gh__delete_repo {"repo":"r"}"#, Effect::Mutating),
        ];
        for (a, shown, effect) in rows {
            assert_eq!(ClaudeCodeTool.render(&a), shown);
            assert_eq!(ClaudeCodeTool.effect(&a), effect, "{shown}");
        }
        let bash = args("Bash", json!({"command": "rm -rf build"}));
        assert!(
            matches!(ClaudeCodeTool.intent(&bash, Path::new("/w")), Intent::Exec { script: Some(s), cwd: Some(c), .. } if s == "rm -rf build" && c == Path::new("/w"))
        );
        let write = args("Write", json!({"file_path": "a.txt", "content": "x"}));
        assert!(
            matches!(ClaudeCodeTool.intent(&write, Path::new("/w")), Intent::Fs { op, path, overwrite: true } if op == "write" && path == Path::new("/w/a.txt"))
        );
        assert_eq!(ClaudeCodeTool.intent(&args("WebFetch", json!({})), Path::new("/w")), Intent::Opaque);
    }

    #[test]
    fn an_approval_holds_for_the_call_not_its_description_nor_a_file_text() {
        let text = |input: Value| {
            json!({"hook_event_name": "PreToolUse", "cwd": "/w", "tool_name": if input.get("command").is_some() { "Bash" } else { "Write" }, "tool_input": input})
                .to_string()
        };
        let a = input(&text(json!({"command": "rm -rf build", "description": "clean"}))).unwrap();
        let b = input(&text(json!({"command": "rm -rf build", "description": "Remove the build folder", "timeout": 5000}))).unwrap();
        assert_eq!(a.call_args(), b.call_args());
        let big = "x".repeat(5000);
        let w = input(&text(json!({"file_path": "/w/a.txt", "content": big}))).unwrap().call_args();
        let content = w["tool_input"]["content"].as_str().unwrap();
        assert!(content.starts_with("<5000 bytes, fnv "), "{content}");
        assert_eq!(w["tool_input"]["file_path"], "/w/a.txt");
        let other = input(&text(json!({"file_path": "/w/a.txt", "content": "y".repeat(5000)}))).unwrap().call_args();
        assert_ne!(w, other, "another text is another call");
    }

    #[test]
    fn failures_are_classified_as_exec_classifies_them() {
        let rows = [
            ("Bash", "Exit code 127\nbash: line 1: pg_dump: command not found", "COMMAND_NOT_FOUND", Some(127)),
            ("Bash", "Error: Exit code 1\ncat: x: No such file or directory", "NOT_FOUND", Some(1)),
            ("Bash", "Exit code 2\nusage: tar [-c|-x] ...", "INVALID_ARGS", Some(2)),
            ("Bash", "curl: (7) Failed to connect to localhost port 5432", "CONNECTION_REFUSED", None),
            ("Bash", "Command timed out after 2m 0.0s", "TIMEOUT", None),
            ("Bash", "Exit code 3", "NON_ZERO_EXIT", Some(3)),
            ("Read", "File does not exist.", "NOT_FOUND", None),
            ("Write", "EACCES: permission denied, open '/etc/x'", "PERMISSION_DENIED", None),
            ("Edit", "Something else went wrong", "IO_ERROR", None),
            ("mcp__db__query", "the query planner gave up", "MCP_TOOL_ERROR", None),
        ];
        for (tool, text, code, exit) in rows {
            assert_eq!(classify(tool, text), Classified { code: ErrorCode::parse(code).unwrap(), exit_code: exit }, "{text}");
        }
    }
}
