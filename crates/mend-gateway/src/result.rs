//! What the agent gets back (issue 17, item 3): an MCP `CallToolResult`
//! (MCP spec 2025-06-18, "Tool Result"). A call that succeeded — at once or
//! after healing — answers with the upstream server's own result; one that
//! Mend could not heal, that waits for a person, or that a person refused,
//! answers `isError: true` with text the host's model can act on (the
//! code, whether to retry, what was tried, the lesson that applies) and
//! the same facts in `structuredContent.mend`. Never a success for a
//! failure, never a bare JSON-RPC error once the call ran.

use mend_core::approval::ApprovalRequest;
use mend_core::report::{RunReport, StepReport, StepStatus};
use serde_json::{Value, json};

fn text_result(text: String, is_error: bool, mend: Value) -> Value {
    json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"mend": mend},
        "isError": is_error,
    })
}

/// The attempts as one line each: `retry_same (policy): RATE_LIMITED`.
fn tried(step: &StepReport) -> Vec<String> {
    step.attempts
        .iter()
        .map(|a| {
            let how = match a.outcome.code() {
                Some(c) if !a.outcome.is_ok() => format!("failed again: {c}"),
                _ => a.outcome.status.as_str().to_owned(),
            };
            let changed: Vec<String> = a.args_diff.iter().map(|c| format!("{} {} → {}", c.path, c.before, c.after)).collect();
            let changed = if changed.is_empty() { String::new() } else { format!(" ({})", changed.join(", ")) };
            let lesson = a.lesson.as_ref().map(|l| format!(", lesson `{l}`")).unwrap_or_default();
            format!("{} [{}{lesson}]{changed}: {how}", a.action.as_str(), a.layer)
        })
        .collect()
}

/// The result of a finished run of a gateway call. `pending` are the
/// requests it waits on (a run left waiting for a person); `lessons` the
/// memory's lessons for its failure.
pub fn from_report(name: &str, report: &RunReport, pending: &[ApprovalRequest], lessons: &[String]) -> Value {
    let Some(step) = report.steps.first() else {
        return text_result(format!("Mend ran nothing for `{name}`."), true, json!({"run_id": report.run_id}));
    };
    let healed: Vec<String> = tried(step);
    let base = json!({
        "run_id": report.run_id,
        "status": step.status,
        "attempts": healed,
    });
    match step.status {
        StepStatus::Succeeded | StepStatus::Healed | StepStatus::Verified | StepStatus::Partial => {
            let out = step.final_outcome.as_ref().map(|o| o.output.clone()).unwrap_or(Value::Null);
            let mut result = match out.get("result") {
                // An upstream server's own result, as it gave it.
                Some(r @ Value::Object(_)) if out.get("server").is_some() => r.clone(),
                // One of Mend's own tools: its output as text and structured content.
                _ => {
                    let text = match &out {
                        Value::String(s) => s.clone(),
                        other => serde_json::to_string_pretty(other).unwrap_or_default(),
                    };
                    let mut r = json!({"content": [{"type": "text", "text": text}], "isError": false});
                    if out.is_object() {
                        r["structuredContent"] = out.clone();
                    }
                    r
                }
            };
            // How Mend got there, for a host that reads `_meta`.
            if let Some(o) = result.as_object_mut() {
                let mut meta = o.remove("_meta").unwrap_or_else(|| json!({}));
                meta["mend"] =
                    json!({"run_id": report.run_id, "healed": !healed.is_empty(), "attempts": healed, "served_by": out.get("served_by")});
                o.insert("_meta".into(), meta);
            }
            result
        }
        StepStatus::Waiting => {
            let Some(req) = pending.first() else {
                return text_result(format!("`{name}` waits for a person in Mend (run {}).", report.run_id), true, base);
            };
            let options: Vec<String> = req.options.iter().map(|o| format!("`{}` ({})", o.id, o.label)).collect();
            let text = format!(
                "Mend is holding `{name}` for a person: {title}\n\
                 What happened: {what}\n\
                 Diagnosis: {diag}\n\
                 Recommended: `{rec}` — {why}\n\
                 Options: {opts}.\n\
                 Request {id} is waiting in Mend (its approval popup, or `mend approvals decide {id} OPTION`). \
                 Tell your user; once they have decided, call `{name}` again with the same arguments: the decision answers it, without asking again.",
                title = req.title,
                what = req.what_happened,
                diag = req.diagnosis,
                rec = req.recommended,
                why = req.recommendation,
                opts = options.join(", "),
                id = req.id,
            );
            let mut mend = base;
            mend["pending_request"] = json!({
                "id": req.id,
                "title": req.title,
                "diagnosis": req.diagnosis,
                "recommended": req.recommended,
                "recommendation": req.recommendation,
                "options": req.options.iter().map(|o| json!({"id": o.id, "label": o.label})).collect::<Vec<_>>(),
            });
            text_result(text, true, mend)
        }
        // Failed, and given back to the agent (see `approve`): a failure.
        StepStatus::Skipped | StepStatus::Aborted | StepStatus::Failed
            if step.failure.is_some() && step.final_outcome.as_ref().is_some_and(|o| !o.is_ok()) =>
        {
            failed(name, step, base, &healed, lessons)
        }
        StepStatus::Skipped | StepStatus::Aborted | StepStatus::NotRun => {
            let decision = step.escalations.iter().rev().find_map(|e| e.decision.clone());
            let who = decision.as_ref().map(|d| format!("{:?}", d.decided_by)).unwrap_or_default();
            let note = decision.as_ref().and_then(|d| d.instructions.clone()).map(|n| format!(" Their note: {n}")).unwrap_or_default();
            let text = format!(
                "`{name}` was not run: {} chose `{}` in Mend.{note} Do not call it again unless your user asks you to.",
                if who.contains("Person") { "a person" } else { "a remembered rule" },
                decision.as_ref().map(|d| d.option.as_str()).unwrap_or("abort"),
            );
            let mut mend = base;
            mend["decision"] = json!(decision);
            text_result(text, true, mend)
        }
        StepStatus::Failed => failed(name, step, base, &healed, lessons),
    }
}

/// A failure Mend could not heal, as the agent reads it.
fn failed(name: &str, step: &StepReport, base: Value, healed: &[String], lessons: &[String]) -> Value {
    let f = step.failure.as_ref();
    let last = step.final_outcome.as_ref().and_then(|o| o.error.clone());
    let (code, message) = match (&last, f) {
        (Some(e), _) => (e.code.to_string(), e.message.clone()),
        (None, Some(f)) => (f.code.clone(), f.message.clone()),
        (None, None) => ("UNKNOWN".to_owned(), String::new()),
    };
    let info = mend_core::ErrorCode::parse(&code).ok().filter(|c| c.is_known()).map(|c| c.info());
    let in_doubt = f.is_some_and(|f| f.in_doubt);
    let retry = match (&info, in_doubt) {
        (_, true) => "no: it may already have done its work (its outcome is unknown); check before calling it again".to_owned(),
        (Some(i), _) if i.retryable => "later, perhaps: Mend already retried within its budget".to_owned(),
        _ => "no: the same call will fail the same way; change the arguments or ask your user".to_owned(),
    };
    // What the upstream tool itself said, when it answered isError.
    let said = step
        .final_outcome
        .as_ref()
        .and_then(|o| o.output.get("text").and_then(Value::as_str).map(str::to_owned))
        .filter(|t| !t.is_empty())
        .map(|t| format!("\nThe tool said: {t}"))
        .unwrap_or_default();
    let mut text = format!("`{name}` failed and Mend could not heal it: {code} — {message}{said}\nRetry: {retry}.");
    if let Some(i) = &info {
        text.push_str(&format!("\nWhat {code} means: {}", i.meaning));
    }
    if !healed.is_empty() {
        text.push_str(&format!("\nMend tried: {}.", healed.join("; ")));
    }
    if let Some(l) = lessons.first() {
        text.push_str(&format!("\nWhat Mend's memory says: {l}"));
    }
    let mut mend = base;
    mend["code"] = json!(code);
    mend["retry"] = json!(retry);
    mend["in_doubt"] = json!(in_doubt);
    mend["lessons"] = json!(lessons);
    text_result(text, true, mend)
}

/// The result of a call whose run was stopped (the gateway is shutting down).
pub fn stopped(name: &str, run_id: &str) -> Value {
    text_result(
        format!(
            "`{name}` was stopped before it finished (Mend is shutting down, run {run_id}); it may have started: check before calling it again."
        ),
        true,
        json!({"run_id": run_id, "status": "interrupted"}),
    )
}

/// The result of a call Mend itself could not run (its journal failed).
pub fn broken(name: &str, why: &str) -> Value {
    text_result(format!("Mend could not run `{name}`: {why}. Nothing was sent."), true, json!({"status": "not_run", "why": why}))
}

/// The answer to a call not sent because the same call, made earlier, may
/// have run (issue 14's rule across an agent's calls): request `id` of run
/// `run_id` asks a person whether it did; `decided` when one answered
/// ("it happened", "abort").
pub fn in_doubt(name: &str, id: &str, run_id: &str, decided: Option<&mend_core::approval::Decision>) -> Value {
    let text = match decided {
        Some(d) if d.option == "ran" => format!(
            "`{name}` was not sent again: the same call, made earlier (run {run_id}), may have run, and a person said it did \
             (request {id}). Treat it as done."
        ),
        Some(d) => format!(
            "`{name}` was not sent again: the same call, made earlier (run {run_id}), may have run, and a person chose `{}` \
             (request {id}).",
            d.option
        ),
        None => format!(
            "`{name}` was not sent: the same call, made earlier (run {run_id}), may already have run — its outcome is unknown. \
             Request {id} asks a person in Mend whether it did (`mend approvals decide {id} ran|run|abort`). Do not call it again \
             until they have: if they choose to send it again, your next identical call goes out once."
        ),
    };
    text_result(text, true, json!({"status": "in_doubt", "request": id, "run_id": run_id, "decision": decided}))
}

/// The answer to a call not sent because the same call, made earlier, was
/// interrupted while it ran (Mend stopped): it may have happened.
pub fn interrupted(name: &str, run_id: &str) -> Value {
    text_result(
        format!(
            "`{name}` was not sent: the same call, made earlier (run {run_id}), was interrupted while it ran and may have \
             happened. Mend stopped whatever it left running. A person checks, then ends that run with `mend runs close {run_id}`; \
             after that, the same call goes out again."
        ),
        true,
        json!({"status": "in_doubt", "run_id": run_id}),
    )
}
