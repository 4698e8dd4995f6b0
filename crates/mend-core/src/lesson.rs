//! The lesson layer: what the memory knows about a failure, inside the
//! diagnosis.
//!
//! The engine asks a [`LessonSource`] (the memory file and its index, in
//! `mend-agent`) for the lessons that match a failure, once per diagnosis.
//! [`LessonDiagnoser`], the first layer, applies a trusted lesson's fix
//! directly — one attempt, no model. Every layer sees the matches as
//! context (`DiagnosisContext::lessons`, top-k by relevance, never the
//! whole file), and a person's earlier choice for the same failure becomes
//! the recommendation when the engine has to ask again.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{Action, Diagnosis};
use crate::approval::{ApprovalRequest, Decision};
use crate::diagnose::{Diagnoser, DiagnosisContext, backoff_ms};
use crate::redact::Redactor;
use crate::report::{LessonNote, RunReport};

/// A lesson whose fix failed this many times in a row is no longer applied
/// by itself (it is still shown as context).
pub const TRUST_FAILURES: u32 = 3;

/// How many lessons a diagnosis is handed.
pub const TOP_K: usize = 5;

/// The failure to find lessons for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureQuery {
    /// The tool of the call that failed.
    pub tool: String,
    /// Its error code.
    pub code: String,
    /// The error message (redacted).
    pub message: String,
    /// What the call was about: a URL's host and port, a command's
    /// program, a file's name, an MCP server's name (see [`subject_of`]).
    pub subject: Option<String>,
    /// The whole call as shown to people (`GET https://…`, `read data/x.csv`).
    pub target: String,
}

impl FailureQuery {
    /// Whether a text a lesson's `when:` quotes appears in the failure: its
    /// message, what the call was about, or the call (case-insensitive).
    pub fn mentions(&self, text: &str) -> bool {
        let t = text.to_lowercase();
        [self.message.as_str(), self.subject.as_deref().unwrap_or(""), self.target.as_str()].iter().any(|h| h.to_lowercase().contains(&t))
    }
}

/// A lesson's fix, as written in the memory file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonFix {
    /// One of the seven actions.
    pub action: String,
    /// Its arguments, if any: for `retry_modified` the arguments to change
    /// (merged into the failed call's), for `use_alternative` `{"index": n}`,
    /// for `retry_same` `{"delay_ms": n}`, for `escalate`
    /// `{"recommend": option}` (a person's earlier choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// A lesson found for a failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonMatch {
    /// Its id in the memory file.
    pub id: String,
    /// Its section.
    pub section: String,
    /// What it says.
    pub text: String,
    /// Its fix, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<LessonFix>,
    /// Whether its `when:` names this failure: every tool, code and quoted
    /// text it gives matches (lessons that only share words do not apply).
    pub applies: bool,
    /// How many quoted texts of its `when:` matched (more is more specific).
    pub specificity: u32,
    /// Times seen.
    pub seen: u32,
    /// Times in a row its fix did not work.
    pub failures: u32,
    /// Search relevance.
    pub score: f32,
}

impl LessonMatch {
    /// Whether the diagnosis may apply its fix by itself.
    pub fn trusted(&self) -> bool {
        self.applies && self.failures < TRUST_FAILURES && self.fix.is_some()
    }

    /// The option a person chose the last time, when the lesson records one.
    pub fn recommends(&self) -> Option<&str> {
        let fix = self.fix.as_ref().filter(|f| f.action == "escalate")?;
        fix.args.as_ref()?.get("recommend")?.as_str()
    }
}

/// Where lessons come from (the memory, in `mend-agent`).
pub trait LessonSource: Send + Sync {
    /// The lessons for a failure, best first, at most `k`; applicable ones
    /// (most specific first) before ones that only share words.
    fn find(&self, failure: &FailureQuery, k: usize) -> Vec<LessonMatch>;
}

/// Learns from a finished run, before it is closed in the journal (the
/// memory, in `mend-agent`). Returns what changed; the engine journals each
/// note as a `lesson` event of the run and puts them in the report.
#[async_trait]
pub trait Learner: Send + Sync {
    /// `decided` are the requests people answered during the run; every
    /// text handed over is already redacted, and `redactor` knows the job's
    /// secrets for anything derived from it.
    async fn learn(&self, report: &RunReport, decided: &[(ApprovalRequest, Decision)], redactor: &Redactor) -> Vec<LessonNote>;
}

/// What a call is about, for matching lessons: a URL's `host:port`, a
/// command's program (or a script's first word), a path's file name, an
/// MCP call's server.
pub fn subject_of(tool: &str, args: &Value) -> Option<String> {
    let s = |k: &str| args.get(k).and_then(Value::as_str);
    if let Some(url) = s("url") {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        return (!host.is_empty()).then(|| host.to_ascii_lowercase());
    }
    if let Some(path) = s("path") {
        let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
        return (!name.is_empty()).then(|| name.to_owned());
    }
    if let Some(program) = s("program") {
        return Some(program.rsplit('/').next().unwrap_or(program).to_owned());
    }
    if let Some(script) = s("shell") {
        return script.split_whitespace().next().map(str::to_owned);
    }
    // An MCP call's subject is its server: what fails (unreachable, rate
    // limited) and what a lesson redirects (to its backup, issue 16).
    (tool == "mcp").then(|| s("server").map(str::to_owned)).flatten()
}

/// Merges a lesson's `retry_modified` arguments into the failed call's:
/// keys set, `null` removes, objects merge (RFC 7396).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            let mut out = t.clone();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, p) => p.clone(),
    }
}

/// The first layer: applies trusted lessons.
#[derive(Debug, Default, Clone, Copy)]
pub struct LessonDiagnoser;

#[async_trait]
impl Diagnoser for LessonDiagnoser {
    fn layer(&self) -> &str {
        "lesson"
    }

    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let err = cx.error;
        let mut out = Vec::new();
        for l in cx.lessons.iter().filter(|l| l.trusted()) {
            let Some(fix) = &l.fix else { continue };
            let arg = |k: &str| fix.args.as_ref().and_then(|a| a.get(k));
            let action = match fix.action.as_str() {
                "retry_same" => {
                    let delay = arg("delay_ms").and_then(Value::as_u64).unwrap_or_else(|| {
                        backoff_ms(cx.step.retry.base_ms, cx.retries_for_code, cx.step.retry.max_delay_ms, err.retry_after_ms())
                    });
                    Action::RetrySame { delay_ms: delay }
                }
                "retry_modified" => match &fix.args {
                    Some(patch @ Value::Object(_)) => Action::RetryModified { args: merge_patch(cx.args, patch) },
                    // No arguments: the tool's own repair for this failure.
                    _ => match cx.repairs.first() {
                        Some(r) => Action::RetryModified { args: r.args.clone() },
                        None => continue,
                    },
                },
                "use_alternative" => {
                    let index = match arg("index").and_then(Value::as_u64) {
                        Some(i) => i as usize,
                        None => match cx.untried_alternatives.first() {
                            Some(&i) => i,
                            None => continue,
                        },
                    };
                    Action::UseAlternative { index }
                }
                "verify_state" => Action::VerifyState,
                // A person's earlier choice is a recommendation, not a fix to
                // apply: the engine shows it when it asks.
                "escalate" if l.recommends().is_some() => continue,
                "escalate" => Action::Escalate,
                "ask_user" => match arg("question").and_then(Value::as_str) {
                    Some(q) => Action::AskUser { question: q.to_owned() },
                    None => Action::Escalate,
                },
                "abort" => Action::Abort,
                _ => continue,
            };
            let first_line = l.text.lines().next().unwrap_or("").trim();
            let mut d = Diagnosis::new("lesson", action, format!("{}: {}; lesson `{}`: {first_line}", err.code, err.message, l.id));
            d.lesson = Some(l.id.clone());
            out.push(d);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_name_host_program_and_file() {
        assert_eq!(
            subject_of("http", &json!({"url": "https://user:pw@API.shop.example:8443/v1?x=1"})).as_deref(),
            Some("api.shop.example:8443")
        );
        assert_eq!(subject_of("exec", &json!({"shell": "pg_dump -Fc db | gzip"})).as_deref(), Some("pg_dump"));
        assert_eq!(subject_of("exec", &json!({"program": "/usr/bin/rsync", "args": ["-a"]})).as_deref(), Some("rsync"));
        assert_eq!(
            subject_of("mcp", &json!({"server": "files", "tool": "read_file", "arguments": {"path": "/x"}})).as_deref(),
            Some("files")
        );
        assert_eq!(subject_of("fs", &json!({"op": "read", "path": "/data/report.csv"})).as_deref(), Some("report.csv"));
        assert_eq!(subject_of("fs", &json!({"op": "list"})), None);
    }

    #[test]
    fn a_quoted_text_may_be_in_the_message_the_subject_or_the_call() {
        let q = FailureQuery {
            tool: "fs".into(),
            code: "NOT_FOUND".into(),
            message: "no such file".into(),
            subject: Some("Export.csv".into()),
            target: "read /srv/w/data/Export.csv".into(),
        };
        assert!(q.mentions("NO SUCH") && q.mentions("export.csv") && q.mentions("/srv/w/data/Export.csv"));
        assert!(!q.mentions("/other/data/Export.csv"));
    }

    #[test]
    fn merge_patch_sets_removes_and_merges() {
        let t = json!({"url": "http://x", "headers": {"a": "1", "b": "2"}, "timeout_ms": 100});
        let p = json!({"headers": {"b": null, "c": "3"}, "timeout_ms": 2000});
        assert_eq!(merge_patch(&t, &p), json!({"url": "http://x", "headers": {"a": "1", "c": "3"}, "timeout_ms": 2000}));
    }

    #[test]
    fn trust_needs_a_match_a_fix_and_few_failures() {
        let mut l = LessonMatch {
            id: "x".into(),
            section: "s".into(),
            text: "t".into(),
            fix: Some(LessonFix { action: "retry_same".into(), args: None }),
            applies: true,
            specificity: 0,
            seen: 4,
            failures: TRUST_FAILURES - 1,
            score: 1.0,
        };
        assert!(l.trusted());
        l.failures = TRUST_FAILURES;
        assert!(!l.trusted());
        l.failures = 0;
        l.applies = false;
        assert!(!l.trusted());
        l.applies = true;
        l.fix = Some(LessonFix { action: "escalate".into(), args: Some(json!({"recommend": "alt-0"})) });
        assert_eq!(l.recommends(), Some("alt-0"));
    }
}
