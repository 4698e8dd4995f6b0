//! Mend as a healing MCP gateway (issue 17): `mend mcp serve` puts Mend
//! between an agent (Claude Code, Claude Desktop, goose, Codex, Cursor,
//! Zed…) and its tools.
//!
//! The gateway offers the tools of every configured upstream MCP server
//! (`[[mcp.servers]]`), namespaced `SERVER__TOOL` ([`names`]), with their
//! schemas and annotations as the servers give them, and, when `[gateway]
//! own_tools` turns them on, Mend's own tools (`mend__exec`, `mend__http`,
//! `mend__fs`, `mend__read_logs`). Every call is a run of the engine, like
//! a job's step: the safety gate, healing (a restart, the backup, backoff
//! honouring Retry-After, lessons first), the journal with the caller's
//! name ([`Caller`]), and learning. A call that needs a person waits for
//! one within a budget ([`approve`]); one that could not be healed is
//! answered as an `isError` result the agent can act on ([`result`]).
//!
//! [`Gateway`] is the engine side and speaks no MCP; [`server`] is the only
//! code that speaks rmcp's server side.

pub mod approve;
pub mod names;
pub mod result;
pub mod server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mend_agent::{Agent, Ended, RunSpec};
use mend_core::config::Config;
use mend_core::engine::Observer;
use mend_core::event::Event;
use mend_core::job::{ApprovalPolicy, Budget, Call, Job, Step};
use mend_core::payload::Body;
use mend_core::tool::CallContext;
use serde_json::{Map, Value, json};

use approve::{Elicit, Progress, Waiting};
use names::Target;

/// Who is calling: the MCP host, as its `initialize` said (`clientInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// `clientInfo.name` (`claude-code`, `goose`, …); `unknown` when the
    /// host sent none.
    pub name: String,
    /// `clientInfo.version`.
    pub version: String,
}

/// What a call can do while it runs, besides answering: tell the caller it
/// is still going ([`Progress`]) and ask the caller's user ([`Elicit`]).
#[derive(Default, Clone)]
pub struct Hooks {
    /// Progress messages (MCP `notifications/progress`), when the caller
    /// sent a progress token.
    pub progress: Option<Progress>,
    /// The host's elicitation, when it declared the capability.
    pub elicit: Option<Arc<dyn Elicit>>,
}

/// The gateway: the configured servers and Mend's engine behind one MCP
/// server.
pub struct Gateway {
    agent: Arc<Agent>,
    config: Config,
    env: Vec<(String, String)>,
    base_dir: PathBuf,
    /// Name → what it calls, as last listed.
    names: RwLock<HashMap<String, Target>>,
    /// The tools a run can call (built once: it is read at every call).
    registry: mend_core::tool::ToolRegistry,
}

/// The annotations of Mend's own tools (MCP `ToolAnnotations`): what each
/// may do; the safety gate still judges every call by its arguments.
fn own_annotations(tool: &str) -> Value {
    match tool {
        "read_logs" => json!({"readOnlyHint": true, "openWorldHint": false}),
        "http" => json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}),
        _ => json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": false}),
    }
}

impl Gateway {
    /// A gateway over `agent` (its journal, memory and tools) with the
    /// config's servers and `[gateway]` settings; `env` is what the calls'
    /// `${env:NAME}` and secrets read; relative paths resolve against
    /// `base_dir`.
    pub fn new(agent: Arc<Agent>, config: Config, env: Vec<(String, String)>, base_dir: PathBuf) -> Gateway {
        let registry = mend_agent::registry(agent.journal().path());
        Gateway { agent, config, env, base_dir, names: RwLock::new(HashMap::new()), registry }
    }

    /// The agent (journal, memory) behind the gateway.
    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    fn context(&self) -> CallContext {
        CallContext {
            base_dir: self.base_dir.clone(),
            mcp_servers: Arc::new(self.config.mcp_servers.clone()),
            env: Arc::new(self.env.clone()),
            ..CallContext::default()
        }
    }

    /// Every tool the gateway offers, as MCP `Tool` objects (`name`,
    /// `description`, `inputSchema`, `annotations`), and, for each server
    /// that could not be listed, why (its tools are left out until it can
    /// be; `mend mcp doctor` says more). Starts the servers not started yet.
    pub async fn tools(&self) -> (Vec<Value>, Vec<String>) {
        let cx = self.context();
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let mut names = HashMap::new();
        for server in &self.config.mcp_servers {
            // A server that cannot be listed now offers its backup's tools
            // under its own name: its calls go there until it is back.
            let mut listed = mend_tools::mcp::servers().list(server, &cx).await;
            if let (Err(why), Some(b)) = (&listed, server.backup.as_deref())
                && let Some(backup) = self.config.mcp_servers.iter().find(|s| s.name == b)
                && let Ok(tools) = mend_tools::mcp::servers().list(backup, &cx).await
            {
                problems.push(format!("`{}`: {why}; its backup `{b}`'s tools are offered in its name", server.name));
                listed = Ok(tools);
            }
            match listed {
                Ok(tools) => {
                    for t in tools {
                        let Some(tool) = t.get("name").and_then(Value::as_str) else { continue };
                        let name = names::distinct(&server.name, tool, |n| names.contains_key(n));
                        let mut t = t.clone();
                        let said = t.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
                        t["name"] = json!(name);
                        t["description"] =
                            json!(format!("{said}\n\n(`{tool}` of MCP server `{}`, through Mend)", server.name).trim_start());
                        names.insert(name, Target::Upstream { server: server.name.clone(), tool: tool.to_owned() });
                        out.push(t);
                    }
                }
                Err(why) => problems.push(format!("`{}`: {why}", server.name)),
            }
        }
        for own in &self.config.gateway.own_tools {
            let Some(t) = self.registry.get(own) else { continue };
            let name = names::namespaced(names::OWN, own);
            out.push(json!({
                "name": name,
                "description": format!("{} (Mend's own `{own}` tool)", t.description()),
                "inputSchema": t.schema(),
                "annotations": own_annotations(own),
            }));
            names.insert(name, Target::Own(own.clone()));
        }
        if let Ok(mut n) = self.names.write() {
            *n = names;
        }
        (out, problems)
    }

    /// What `name` calls, listing the tools again once if it is not known.
    pub async fn resolve(&self, name: &str) -> Option<Target> {
        if let Some(t) = self.names.read().ok().and_then(|n| n.get(name).cloned()) {
            return Some(t);
        }
        self.tools().await;
        self.names.read().ok().and_then(|n| n.get(name).cloned())
    }

    /// The one-step job a call is run as: named after the tool the agent
    /// called, with the config's servers, safety rules and secrets, and a
    /// wall-clock budget of `[gateway] call_budget`.
    fn job(&self, name: &str, caller: &Caller, call: Call) -> Job {
        Job {
            name: name.to_owned(),
            description: format!("`{name}` called by {} through mend mcp serve", caller.name),
            base_dir: self.base_dir.clone(),
            budget: Budget { wall_clock_ms: self.config.gateway.call_budget_ms, ..Budget::default() },
            approval: ApprovalPolicy::default(),
            safety: self.config.safety.clone(),
            secrets: self.config.secrets.clone(),
            schedule: None,
            steps: vec![Step::new(name, call)],
            mcp_servers: self.config.mcp_servers.clone(),
        }
    }

    /// Calls `name` with `arguments` for `caller`, through the engine, and
    /// answers with an MCP `CallToolResult` (JSON: `content`,
    /// `structuredContent`, `isError`). Errors: only for a name the gateway
    /// does not offer (`Err` with the message); every failure of the call
    /// itself is an `isError` result ([`result`]).
    pub async fn call(&self, caller: &Caller, name: &str, arguments: Map<String, Value>, hooks: Hooks) -> Result<Value, String> {
        let target = self.resolve(name).await.ok_or_else(|| format!("Mend offers no tool `{name}` (see tools/list)"))?;
        // The agent's arguments are data, never templates: `${env:…}` in
        // them reaches the tool as written, not as this machine's secrets.
        let arguments = match mend_core::job::literal(&Value::Object(arguments)) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let call = match &target {
            Target::Upstream { server, tool } => Call::new("mcp", json!({"server": server, "tool": tool, "arguments": arguments})),
            Target::Own(tool) => Call::new(tool, Value::Object(arguments)),
        };
        let job = self.job(name, caller, call.clone());
        // The same call made earlier may have run (its outcome unknown): not
        // sent again before a person decides (issue 14's rule, across calls).
        if let Some(held) = self.held_earlier(name, &job, &call).await {
            return Ok(held);
        }
        let g = &self.config.gateway;
        let waiting = Arc::new(Waiting {
            journal: self.agent.journal().path().to_path_buf(),
            wait: Duration::from_millis(g.approval_wait_ms),
            progress_every: Duration::from_millis(g.progress_every_ms),
            progress: hooks.progress.clone(),
            elicit: hooks.elicit.clone(),
            caller: caller.name.clone(),
            data_dir: self.agent.data_dir().to_path_buf(),
            reused: std::sync::Mutex::new(None),
            asked: std::sync::Mutex::new(None),
        });
        let observer: Option<Arc<dyn Observer>> = hooks.progress.clone().map(|p| Arc::new(Told(p)) as Arc<dyn Observer>);
        let spec = RunSpec { agent: Some(caller.name.clone()), ..RunSpec::new(&job, self.env.clone()) };
        let ended = self.agent.execute(spec, waiting.clone(), observer, std::future::pending::<String>()).await;
        let report = match ended {
            Ok(Ended::Finished(r)) => *r,
            Ok(Ended::Interrupted { run_id }) => return Ok(result::stopped(name, &run_id)),
            Err(e) => return Ok(result::broken(name, &e.to_string())),
        };
        // What this call made moot: the run whose decision it used, and the
        // runs that asked about the same call again meanwhile (issue 17).
        let reused = waiting.reused.lock().ok().and_then(|mut r| r.take());
        let asked = waiting.asked.lock().ok().and_then(|mut a| a.take());
        let answered = report.status != mend_core::report::RunStatus::Waiting;
        let _ = mend_agent::repeat::close_moot(&self.agent, reused, asked.as_ref().filter(|_| answered), &report.run_id, "mend mcp serve")
            .await;
        let pending = match report.status {
            mend_core::report::RunStatus::Waiting => {
                self.agent.reader().ok().and_then(|r| r.pending_for_run(&report.run_id).ok()).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let lessons = self.lessons_for(&report);
        Ok(result::from_report(name, &report, &pending, &lessons))
    }

    /// An earlier run of the very same call (same tool and arguments, by
    /// any agent) whose outcome is unknown: one that waits on an in-doubt
    /// request, one whose in-doubt request was decided and not acted on,
    /// or one interrupted while the call ran. The answer for the agent when
    /// the call must not be sent now; `None` to go ahead (a person chose
    /// "send it again": that run is closed, the call goes out once).
    async fn held_earlier(&self, name: &str, job: &Job, call: &Call) -> Option<Value> {
        use mend_core::approval::ApprovalKind;
        let redactor = mend_core::engine::redactor_for(job, &self.env);
        let expanded = mend_core::job::expand(&call.args, &self.env, &job.base_dir);
        let digest = mend_core::approval::call_digest(&call.tool, &redactor.redacted(&expanded));
        let shown = self.registry.get(&call.tool).map(|t| redactor.text(&t.render(&expanded)));
        let reader = self.agent.reader().ok()?;
        let runs = reader.runs(mend_agent::repeat::RECENT_RUNS).ok()?;
        // Whoever made it: the side effect is in the world for every agent.
        let mine = |r: &&mend_journal::RunRow| r.job == name && r.agent.is_some();
        for run in runs.iter().filter(mine).filter(|r| matches!(r.status.as_str(), "waiting" | "interrupted")) {
            let same =
                |q: &mend_core::approval::ApprovalRequest| q.kind == ApprovalKind::InDoubt && q.call_digest.as_deref() == Some(&digest);
            if let Some(q) = reader.pending_for_run(&run.run_id).ok().and_then(|p| p.into_iter().find(|q| same(q))) {
                return Some(result::in_doubt(name, &q.id, &run.run_id, None));
            }
            if let Ok(Some((q, d))) = reader.unapplied_decision(&run.run_id)
                && same(&q)
            {
                let Ok(mend_agent::lease::Taken::Ours(lease)) = self.agent.claim(&run.run_id).await else {
                    return Some(result::in_doubt(name, &q.id, &run.run_id, None));
                };
                let note = format!("the agent's same call came again: `{}` applied", d.option);
                let by = mend_core::approval::DecidedBy::Policy { rule: "mend mcp serve: an in-doubt call made again".into() };
                let _ = self.agent.close_run_as(&lease, by, Some(&note)).await;
                // "Send it again": this call goes out, once.
                let choice = q.option(&d.option).map(|o| o.choice.clone());
                if choice == Some(mend_core::approval::Choice::Run) {
                    return None;
                }
                return Some(result::in_doubt(name, &q.id, &run.run_id, Some(&d)));
            }
            // Interrupted while this very call ran: whoever takes the run
            // over stops what it left running; a person decides the rest.
            if run.status == "interrupted" && run.in_flight.is_some() && run.in_flight == shown {
                let _ = self.agent.claim(&run.run_id).await;
                return Some(result::interrupted(name, &run.run_id));
            }
        }
        None
    }

    /// The lessons the memory has for the failure a run ended with (text
    /// and fix), best first, at most 3.
    fn lessons_for(&self, report: &mend_core::report::RunReport) -> Vec<String> {
        let Some(step) = report.steps.first() else { return Vec::new() };
        let Some(f) = &step.failure else { return Vec::new() };
        if step.status.is_ok() {
            return Vec::new();
        }
        let Some(lessons) = self.agent.lessons() else { return Vec::new() };
        let q = mend_core::lesson::FailureQuery {
            tool: f.tool.clone(),
            code: f.code.clone(),
            message: f.message.clone(),
            subject: f.subject.clone(),
            target: f.target.clone(),
        };
        use mend_core::lesson::LessonSource;
        // Only lessons whose `when` fits this failure: a near miss in the
        // index is not advice.
        lessons
            .find(&q, 3)
            .into_iter()
            .filter(|l| l.applies)
            .map(|l| {
                let fix = l.fix.as_ref().map(|f| format!(" (fix: {})", f.action)).unwrap_or_default();
                format!("{}{fix}", l.text)
            })
            .collect()
    }
}

/// Healing news sent to the caller as progress: what failed, what Mend
/// tries next.
struct Told(Progress);

impl Observer for Told {
    fn on_event(&self, e: &Event) {
        if matches!(e.body, Body::Diagnosis(_) | Body::Attempt(_) | Body::Recovery(_) | Body::Guardrail(_)) {
            (self.0)(e.message.clone());
        }
    }
}
