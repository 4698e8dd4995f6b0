//! The tool trait and the registry that holds tools by name with the JSON
//! schema of their arguments.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::outcome::{Outcome, ToolError};
use crate::safety::Intent;

/// What a call does to the world, as the tool itself judges from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only reads.
    ReadOnly,
    /// Changes something that can be changed back.
    Mutating,
    /// Deletes or overwrites what cannot be brought back: needs approval first.
    Destructive,
}

/// What a call knows about where it runs.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Relative paths (fs paths, exec cwd) resolve against this: the job file's folder.
    pub base_dir: PathBuf,
    /// The run this call belongs to.
    pub run_id: String,
    /// Where a tool notes the process groups it starts, if the run keeps
    /// track (issue 12).
    pub processes: Option<Processes>,
    /// The idempotency key of the step this call belongs to, when the step
    /// declares one (`idempotency_key`, issue 14): a tool that
    /// [takes keys](Tool::takes_idempotency_key) sends it with the call
    /// (`http`: as the header; `exec`: as `MEND_IDEMPOTENCY_KEY`).
    pub idempotency_key: Option<IdempotencyKey>,
    /// The MCP servers the job may call (issue 16), for the `mcp` tool.
    pub mcp_servers: std::sync::Arc<Vec<crate::mcp::McpServer>>,
    /// The run's environment (`${env:NAME}` in a server's `env`).
    pub env: std::sync::Arc<Vec<(String, String)>>,
    /// What a tool saw happen beyond its call's own outcome (an MCP server's
    /// circuit opening, a fall-over to its backup): the engine journals each
    /// as a `guardrail` event after the call (issue 16).
    pub notes: Notes,
}

/// A tool's notes for the run's journal, shared by the calls of one run
/// (the engine takes them after each call). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<std::sync::Mutex<Vec<(crate::payload::Guardrail, String)>>>);

impl Notes {
    /// Adds one: what happened, and the event's message.
    pub fn push(&self, what: crate::payload::Guardrail, message: impl Into<String>) {
        if let Ok(mut v) = self.0.lock() {
            v.push((what, message.into()));
        }
    }

    /// Takes those added so far, oldest first.
    pub fn take(&self) -> Vec<(crate::payload::Guardrail, String)> {
        self.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

/// An idempotency key and where it goes (IETF httpapi
/// `draft-ietf-httpapi-idempotency-key-header`): the same value on every
/// attempt of one step in one run, so a server that saw the first attempt
/// answers the next ones without doing the work twice.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IdempotencyKey {
    /// The header it is sent in (`Idempotency-Key` unless the step names another).
    pub header: String,
    /// The key: a UUID (RFC 9562 version 8) derived from the run id and the
    /// step's name, so it survives a takeover of the run.
    pub value: String,
}

impl IdempotencyKey {
    /// The key of step `step` in run `run_id`, sent in `header`.
    pub fn derive(header: &str, run_id: &str, step: &str) -> Self {
        let fnv = |seed: u64| {
            let mut h = seed;
            for b in run_id.bytes().chain([0]).chain(step.bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h
        };
        let (hi, lo) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
        // Version 8 (custom) in bits 48..52, variant 0b10 in bits 64..66 (RFC 9562 §5.8).
        let hi = (hi & !0xf000) | 0x8000;
        let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
        let value =
            format!("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & 0xffff_ffff_ffff);
        IdempotencyKey { header: header.to_owned(), value }
    }
}

/// Where a tool notes the process group it started and when it is gone, so
/// that if this process dies mid-call, whoever takes the run over can find
/// the group still running and stop it (issue 12). Implemented by the
/// run's lease (`mend_agent::lease`).
pub trait ProcessNote: Send + Sync {
    /// A call marked `MEND_CALL=marker` is about to be started; its group is
    /// not known yet. Noted first so that a death between the spawn and
    /// [`started`](Self::started) still leaves the mark for the takeover to
    /// find (the CI run of stop 20 lost that race). Default: nothing.
    fn starting(&self, _marker: &str) {}
    /// A process group (its leader's pid) was started for the call; each of
    /// its processes has `MEND_CALL=marker` in its environment.
    fn started(&self, pgid: u32, marker: &str);
    /// That group is gone (ended or killed).
    fn ended(&self, pgid: u32);
}

/// A shared [`ProcessNote`].
#[derive(Clone)]
pub struct Processes(pub std::sync::Arc<dyn ProcessNote>);

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Processes")
    }
}

/// A changed set of arguments that a tool proposes for its own failure: a
/// longer timeout, a path found by searching, a bounded chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repair {
    /// The complete new arguments.
    pub args: Value,
    /// Why this might work, for a person.
    pub reason: String,
}

/// A tool: a named, schema-described capability that turns every failure
/// into an [`Outcome`] with a stable code. Implementations never panic and
/// never return a Rust error for a failure of the world.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name jobs use (`exec`, `http`, `fs`).
    fn name(&self) -> &str;
    /// One line for `mend tools`.
    fn description(&self) -> &str;
    /// JSON schema (draft 2020-12) of the arguments.
    fn schema(&self) -> Value;
    /// One line that says what the call does (`GET http://…`, `rm -rf /tmp/x`):
    /// shown to people and matched by the safety policy.
    fn render(&self, args: &Value) -> String;
    /// What the call does to the world.
    fn effect(&self, args: &Value) -> Effect;
    /// Whether [`Tool::effect`] already knows what the call does, or will
    /// only after [`Tool::prepare`] (an MCP tool before its server listed
    /// its annotations). Default: it knows.
    fn knows_effect(&self, _args: &Value) -> bool {
        true
    }
    /// Learns what [`Tool::effect`] needs before the safety gate reads it
    /// (an MCP server's `tools/list` annotations; issue 16, red team).
    /// Called by the engine before every gate check. Default: nothing.
    async fn prepare(&self, _args: &Value, _ctx: &CallContext) {}
    /// Whether sending this call a second time leaves the world as sending
    /// it once does (idempotent), so a call whose outcome is unknown (a
    /// timeout, a dropped connection) may be sent again (issue 14). HTTP by
    /// its method (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT and
    /// DELETE are; POST and PATCH are not). The default: only read-only
    /// calls. A step's `idempotent` flag overrides this.
    fn idempotent(&self, args: &Value) -> bool {
        self.effect(args) == Effect::ReadOnly
    }
    /// Whether the tool sends a step's idempotency key with its calls
    /// ([`CallContext::idempotency_key`]); only then does a key make a call
    /// safe to send again. Default: no.
    fn takes_idempotency_key(&self) -> bool {
        false
    }
    /// What the call would do, in the form the safety gate reads (issue
    /// 11): an `exec` call's argv or script, an HTTP method and URL, an `fs`
    /// operation and path. `base_dir` is the job's folder (relative paths
    /// resolve against it). The default, [`Intent::Opaque`], leaves only
    /// [`Tool::effect`] and the job's own patterns to judge the call.
    fn intent(&self, _args: &Value, _base_dir: &std::path::Path) -> Intent {
        Intent::Opaque
    }
    /// Runs the call.
    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome;
    /// Argument changes that may fix `error`, best first. The tool may look
    /// at the world to find them (e.g. search for a missing path).
    async fn repairs(&self, _args: &Value, _error: &ToolError, _ctx: &CallContext) -> Vec<Repair> {
        Vec::new()
    }
}

/// One problem with a call's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgProblem {
    /// JSON pointer into the arguments (`""` is the whole object).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ArgProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() { write!(f, "{}", self.message) } else { write!(f, "at {}: {}", self.pointer, self.message) }
    }
}

struct Entry {
    tool: Arc<dyn Tool>,
    validator: jsonschema::Validator,
}

/// The tools a run may call, by name.
#[derive(Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a tool. Fails if its schema is not a valid JSON schema or the
    /// name is taken.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), String> {
        let name = tool.name().to_owned();
        if self.tools.contains_key(&name) {
            return Err(format!("tool `{name}` is registered twice"));
        }
        let validator =
            jsonschema::validator_for(&tool.schema()).map_err(|e| format!("tool `{name}` has an invalid argument schema: {e}"))?;
        self.tools.insert(name, Entry { tool, validator });
        Ok(())
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|e| &e.tool)
    }

    /// Every tool name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }

    /// Every tool, sorted by name.
    pub fn tools(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.values().map(|e| &e.tool)
    }

    /// Checks arguments against the tool's schema. Values are masked in the
    /// messages so a secret in an argument never reaches an error text.
    pub fn validate(&self, name: &str, args: &Value) -> Result<(), Vec<ArgProblem>> {
        let Some(entry) = self.tools.get(name) else {
            let known = self.names().join(", ");
            return Err(vec![ArgProblem { pointer: String::new(), message: format!("no tool named `{name}` (known: {known})") }]);
        };
        let problems: Vec<ArgProblem> = entry
            .validator
            .iter_errors(args)
            .map(|e| ArgProblem { pointer: e.instance_path().to_string(), message: e.masked().to_string() })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}
