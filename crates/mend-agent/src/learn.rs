//! Learning: what a run and a person's decisions teach the memory file.
//!
//! After a run, [`from_run`] turns its report into edits of `MEMORY.md`:
//! - a lesson the lesson layer applied is confirmed (`seen` +1, date,
//!   `outcome: healed`, failures back to 0) or marked as failing (`failures`
//!   +1: after [`mend_core::lesson::TRUST_FAILURES`] in a row the diagnosis
//!   stops applying it);
//! - a recovery no lesson explained writes a lesson for that failure (tool,
//!   code, what the call was about) and the fix that worked — or bumps the
//!   lesson that already says so; a lesson for the same failure whose fix
//!   just failed is corrected instead of getting a contradicting twin;
//! - a person's decision on an escalation becomes a lesson whose fix is
//!   `escalate {"recommend": option}`: not applied by itself, it makes that
//!   option the recommendation the next time the failure needs a person.
//!
//! Every text comes from the redacted report and is redacted again with
//! the job's secrets before it is written.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use mend_core::lesson::Learner;

use crate::memory::Lessons;

use mend_core::approval::{ApprovalKind, ApprovalRequest, DecidedBy, Decision};
use mend_core::redact::Redactor;
use mend_core::report::{AttemptReport, FailureReport, LessonChange, LessonNote, RunReport, StepStatus};
use mend_memory::edit::Edit;
use mend_memory::{Fix, Memory, NewLesson, Provenance, When};
use serde_json::{Map, Value, json};

/// Edits for the memory file and what they mean, for the journal.
#[derive(Debug, Default)]
pub struct Learned {
    /// The edits, at most one per lesson.
    pub edits: Vec<Edit>,
    /// One note per lesson touched.
    pub notes: Vec<LessonNote>,
}

/// Pending changes, one per lesson.
struct Pending<'a> {
    memory: &'a Memory,
    today: &'a str,
    redactor: &'a Redactor,
    /// Changed existing lessons, by id.
    changed: HashMap<String, NewLesson>,
    /// New lessons in order: section, lesson.
    added: Vec<(String, NewLesson)>,
    notes: Vec<LessonNote>,
}

/// The section a tool's lessons go to.
fn section_for(tool: &str) -> String {
    match tool {
        "http" => "HTTP services".into(),
        "exec" => "Shell commands".into(),
        "fs" => "Files".into(),
        "mcp" => "MCP tools".into(),
        other => other.to_owned(),
    }
}

fn when_of(f: &FailureReport) -> When {
    When { tool: Some(f.tool.clone()), code: Some(f.code.clone()), matches: f.subject.iter().cloned().collect() }
}

fn same_when(a: &When, b: &When) -> bool {
    let eq = |x: &Option<String>, y: &Option<String>| x.as_deref().map(str::to_lowercase) == y.as_deref().map(str::to_lowercase);
    let ms = |w: &When| {
        let mut m: Vec<String> = w.matches.iter().map(|s| s.to_lowercase()).collect();
        m.sort();
        m
    };
    eq(&a.tool, &b.tool) && eq(&a.code, &b.code) && ms(a) == ms(b)
}

/// Whether a lesson's `when:` covers this failure (every field it gives matches).
fn covers(w: &When, f: &FailureReport) -> bool {
    crate::memory::covers(w, &f.query())
}

/// What a learned lesson's `when:` quotes: for changed arguments the values
/// they had (a fixed path applies to that path only, not to every file of
/// the same name), else what the call was about.
fn matches_for(f: &FailureReport, a: &AttemptReport) -> Vec<String> {
    if a.action == "retry_modified" {
        // Strings of the changed values (inside arrays and objects too) that the call shows.
        fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(m) => m.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        a.args_diff.iter().for_each(|c| strings(&c.before, &mut found));
        let mut before: Vec<String> = Vec::new();
        for s in found {
            if !s.is_empty() && !s.contains("[REDACTED]") && f.target.contains(s) && !before.iter().any(|b| b == s) {
                before.push(s.to_owned());
            }
        }
        if !before.is_empty() {
            return before;
        }
    }
    f.subject.iter().cloned().collect()
}

/// The fix an attempt applied, as a lesson writes it; `None` when it
/// cannot be written down without a secret.
fn fix_of(a: &AttemptReport) -> Option<Fix> {
    let args = match a.action.as_str() {
        "use_alternative" => a.alternative.map(|i| json!({ "index": i })),
        "retry_modified" => {
            let mut patch = Value::Object(Map::new());
            for c in &a.args_diff {
                if c.after.to_string().contains("[REDACTED]") {
                    return None;
                }
                set_pointer(&mut patch, &c.path, c.after.clone());
            }
            (!a.args_diff.is_empty()).then_some(patch)
        }
        _ => None,
    };
    Some(Fix { action: a.action.to_string(), args })
}

/// Sets `value` at a JSON pointer, creating objects on the way (`null`
/// stays: in a merge patch it removes the key).
fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let parts: Vec<String> = pointer.split('/').skip(1).map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
    let mut at = root;
    for (i, p) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        if i + 1 == parts.len() {
            map.insert(p.clone(), value);
            return;
        }
        at = map.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn text_for(f: &FailureReport, a: &AttemptReport, job: &str, step: &str) -> String {
    let on = f.subject.as_deref().map(|s| format!(" on `{s}`")).unwrap_or_default();
    let changes: Vec<String> = a
        .args_diff
        .iter()
        .take(3)
        .map(|c| format!("`{}` {} → {}", c.path.trim_start_matches('/'), show(&c.before), show(&c.after)))
        .collect();
    let what = match a.action.as_str() {
        "retry_same" => "it went away on retry: wait, then send the same call again".to_owned(),
        "use_alternative" => {
            let alt = a.alternative.map(|i| format!(" {}", i + 1)).unwrap_or_default();
            if changes.is_empty() {
                format!("the step's alternative{alt} works: use it")
            } else {
                format!("the step's alternative{alt} works ({}): use it", changes.join(", "))
            }
        }
        "retry_modified" if !changes.is_empty() => format!("changing {} fixed it", changes.join(", ")),
        "retry_modified" => "the tool's own repair fixed it".to_owned(),
        "verify_state" => "the goal already held (the step's check passed): check it rather than fail".to_owned(),
        other => format!("`{other}` fixed it"),
    };
    format!("`{}` failed with {}{on}: {what}. Learned from job `{job}`, step `{step}`.", f.tool, f.code)
}

impl Pending<'_> {
    /// The lesson as it will be written: pending change, else the file's.
    fn current(&self, id: &str) -> Option<NewLesson> {
        self.changed.get(id).cloned().or_else(|| self.memory.lesson(id).map(NewLesson::from))
    }

    fn note(&mut self, id: &str, change: LessonChange, message: String) {
        self.notes.retain(|n| n.id != id);
        self.notes.push(LessonNote { id: id.to_owned(), change, message });
    }

    /// The first lesson, pending versions first, whose (id, when, fix)
    /// passes `pred`; its id.
    fn find(&self, pred: impl Fn(&str, &When, Option<&Fix>) -> bool) -> Option<String> {
        let added = self.added.iter().map(|(_, l)| (l.id.as_deref().unwrap_or(""), &l.when, l.fix.as_ref()));
        let file = self.memory.lessons().map(|l| match self.changed.get(&l.id) {
            Some(c) => (l.id.as_str(), &c.when, c.fix.as_ref()),
            None => (l.id.as_str(), &l.when, l.fix.as_ref()),
        });
        added.chain(file).find(|(id, w, x)| pred(id, w, *x)).map(|(id, ..)| id.to_owned())
    }

    fn update(&mut self, id: &str, f: impl FnOnce(&mut NewLesson)) {
        if let Some((_, l)) = self.added.iter_mut().find(|(_, l)| l.id.as_deref() == Some(id)) {
            f(l);
            return;
        }
        if let Some(mut l) = self.current(id) {
            f(&mut l);
            self.changed.insert(id.to_owned(), l);
        }
    }

    fn seen(&mut self, id: &str, outcome: &str, healed: Option<bool>) -> u32 {
        let today = self.today.to_owned();
        let mut count = 0;
        self.update(id, |l| {
            l.provenance.seen += 1;
            l.provenance.last = Some(today);
            l.provenance.outcome = Some(outcome.to_owned());
            match healed {
                Some(true) => l.provenance.failures = 0,
                Some(false) => l.provenance.failures += 1,
                None => {}
            }
            count = if healed == Some(false) { l.provenance.failures } else { l.provenance.seen };
        });
        count
    }

    fn new_id(&self, when: &When, fix: &Fix) -> String {
        let base = format!(
            "{}-{}",
            when.tool.as_deref().unwrap_or("any"),
            when.code.as_deref().unwrap_or("failure").to_ascii_lowercase().replace('_', "-")
        );
        let key = format!("{:?}{:?}", when.matches, fix);
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let taken = |id: &str| self.memory.lesson(id).is_some() || self.added.iter().any(|(_, l)| l.id.as_deref() == Some(id));
        let mut id = format!("{base}-{:04x}", h & 0xffff);
        let mut n = 2;
        while taken(&id) {
            id = format!("{base}-{:04x}-{n}", h & 0xffff);
            n += 1;
        }
        id
    }

    /// A new lesson in the tool's section, seen once today; returns its id.
    fn add_new(&mut self, tool: &str, when: When, fix: Fix, text: String, outcome: &str) -> String {
        let id = self.new_id(&when, &fix);
        let lesson = NewLesson {
            id: Some(id.clone()),
            text,
            when,
            fix: Some(fix),
            provenance: Provenance { seen: 1, last: Some(self.today.to_owned()), outcome: Some(outcome.into()), failures: 0 },
        };
        self.add(section_for(tool), lesson);
        id
    }

    fn add(&mut self, section: String, mut lesson: NewLesson) {
        lesson.text = self.redactor.text(&lesson.text);
        lesson.when.matches = lesson.when.matches.iter().map(|m| self.redactor.text(m)).collect();
        if let Some(args) = lesson.fix.as_mut().and_then(|f| f.args.as_mut()) {
            self.redactor.value(args);
        }
        self.added.push((section, lesson));
    }

    /// A recovery the lesson layer did not explain.
    fn recovered(&mut self, f: &FailureReport, a: &AttemptReport, job: &str, step: &str, failed_here: &[String]) {
        let Some(fix) = fix_of(a) else { return };
        let when = When { matches: matches_for(f, a), ..when_of(f) };
        // The same failure, the same fix: it happened again.
        let twin = self.find(|_, w, x| {
            x.is_some_and(|x| x.action == fix.action && (x.args.is_none() || x.args == fix.args)) && (same_when(w, &when) || covers(w, f))
        });
        if let Some(id) = twin {
            let n = self.seen(&id, "healed", Some(true));
            self.note(
                &id,
                LessonChange::Confirmed,
                format!("lesson `{id}` confirmed: {} healed {} by {} (seen {})", f.code, on(f), fix.action, times(n)),
            );
            return;
        }
        // A lesson for exactly this failure whose fix just failed: correct it.
        let wrong = self.find(|id, w, _| same_when(w, &when) && failed_here.iter().any(|x| x == id));
        let text = self.redactor.text(&text_for(f, a, job, step));
        let redactor = self.redactor;
        if let Some(id) = wrong {
            let today = self.today.to_owned();
            self.update(&id, |l| {
                l.text = text;
                l.fix = Some(Fix {
                    args: fix.args.clone().map(|mut v| {
                        redactor.value(&mut v);
                        v
                    }),
                    ..fix.clone()
                });
                l.provenance = Provenance { seen: l.provenance.seen, last: Some(today), outcome: Some("healed".into()), failures: 0 };
            });
            self.note(
                &id,
                LessonChange::Corrected,
                format!("lesson `{id}` corrected: {} {} is now healed by {}", f.code, on(f), fix.action),
            );
            return;
        }
        let id = self.add_new(&f.tool, when, fix.clone(), text, "healed");
        self.note(&id, LessonChange::Learned, format!("learned lesson `{id}`: {} {} is healed by {}", f.code, on(f), fix.action));
    }

    /// A person's decision on an escalation.
    fn decided(&mut self, req: &ApprovalRequest, d: &Decision) {
        if req.kind != ApprovalKind::Escalation || !matches!(d.decided_by, DecidedBy::Person { .. }) {
            return;
        }
        let (Some(tool), Some(code)) = (&req.tool, &req.code) else { return };
        let Some(option) = req.option(&d.option) else { return };
        let f = FailureReport {
            tool: tool.clone(),
            code: code.clone(),
            message: String::new(),
            subject: req.subject.clone(),
            target: String::new(),
            in_doubt: false,
        };
        let when = when_of(&f);
        let fix = Fix { action: "escalate".into(), args: Some(json!({ "recommend": option.id })) };
        let note =
            d.instructions.as_deref().filter(|n| !n.trim().is_empty()).map(|n| format!(" Their note: {}", n.trim())).unwrap_or_default();
        let text = self.redactor.text(&format!(
            "When `{tool}` fails with {code}{} in job `{}` (step `{}`), a person chose “{}” on {}.{note}",
            f.subject.as_deref().map(|s| format!(" on `{s}`")).unwrap_or_default(),
            req.job,
            req.step,
            option.label,
            self.today
        ));
        let earlier = self.find(|_, w, x| same_when(w, &when) && x.is_some_and(|x| x.action == "escalate"));
        if let Some(id) = earlier {
            let today = self.today.to_owned();
            self.update(&id, |l| {
                l.text = text;
                l.fix = Some(fix.clone());
                l.provenance.seen += 1;
                l.provenance.last = Some(today);
                l.provenance.outcome = Some("decided".into());
            });
            self.note(&id, LessonChange::Decided, format!("lesson `{id}`: a person chose `{}` for {code} {}", option.id, on(&f)));
            return;
        }
        let id = self.add_new(tool, when, fix, text, "decided");
        self.note(&id, LessonChange::Decided, format!("learned lesson `{id}`: a person chose `{}` for {code} {}", option.id, on(&f)));
    }

    fn finish(self) -> Learned {
        let mut edits: Vec<Edit> = Vec::new();
        // File order for changes, so the edits read like the file.
        let mut changed: Vec<(String, NewLesson)> = self.changed.into_iter().collect();
        changed.sort_by_key(|(id, _)| self.memory.lesson(id).map(|l| l.range.start).unwrap_or(usize::MAX));
        for (id, lesson) in changed {
            edits.push(Edit::Replace { id, lesson });
        }
        for (section, lesson) in self.added {
            edits.push(Edit::Add { section, lesson });
        }
        Learned { edits, notes: self.notes }
    }
}

fn times(n: u32) -> String {
    if n == 1 { "once".to_owned() } else { format!("{n} times") }
}

fn on(f: &FailureReport) -> String {
    match &f.subject {
        Some(s) => format!("on `{}` ({})", s, f.tool),
        None => format!("on {}", f.tool),
    }
}

/// What a run and the decisions made in it teach the memory. `decisions`
/// are the requests people answered in the run (see [`Learned`]).
pub fn from_run(
    memory: &Memory,
    report: &RunReport,
    decisions: &[(ApprovalRequest, Decision)],
    today: &str,
    redactor: &Redactor,
) -> Learned {
    let mut p = Pending { memory, today, redactor, changed: HashMap::new(), added: Vec::new(), notes: Vec::new() };
    for step in &report.steps {
        let Some(f) = &step.failure else { continue };
        // Lessons the lesson layer applied: did one of their attempts work?
        let mut applied: Vec<(String, bool)> = Vec::new();
        for a in &step.attempts {
            if let Some(id) = &a.lesson {
                match applied.iter_mut().find(|(x, _)| x == id) {
                    Some((_, ok)) => *ok |= a.outcome.is_ok(),
                    None => applied.push((id.clone(), a.outcome.is_ok())),
                }
            }
        }
        let mut failed_here = Vec::new();
        for (id, healed) in &applied {
            if *healed {
                let n = p.seen(id, "healed", Some(true));
                p.note(id, LessonChange::Confirmed, format!("lesson `{id}` healed {} {} (seen {})", f.code, on(f), times(n)));
            } else {
                let n = p.seen(id, "failed", Some(false));
                let trust = if n >= mend_core::lesson::TRUST_FAILURES { "; no longer applied by itself" } else { "" };
                p.note(id, LessonChange::Failed, format!("lesson `{id}` did not fix {} {} ({} in a row{trust})", f.code, on(f), times(n)));
                failed_here.push(id.clone());
            }
        }
        let healed = matches!(step.status, StepStatus::Healed | StepStatus::Verified | StepStatus::Partial);
        if let Some(last) = step.attempts.last().filter(|a| healed && a.outcome.is_ok() && a.lesson.is_none() && a.action != "escalate") {
            // A fix that sends the call elsewhere is learned only once a
            // person approved it (issue 11 item 5): a lesson never replays an
            // unapproved change of destination.
            let approved = step
                .escalations
                .iter()
                .any(|e| e.decision.as_ref().is_some_and(|d| d.option == "run" && matches!(d.decided_by, DecidedBy::Person { .. })));
            // A call that may have done its work is never learned as sent
            // again (issue 14): the next time, it is checked or asked first.
            let resend = matches!(last.action.as_str(), "retry_same" | "retry_modified" | "use_alternative");
            if f.in_doubt && resend {
                let id = format!("{}-{}", f.tool, f.code.to_ascii_lowercase().replace('_', "-"));
                p.notes.push(LessonNote {
                    id,
                    change: LessonChange::NotLearned,
                    message: format!(
                        "not learned: `{}` may have done its work before it failed with {}, so sending it again is never a lesson (issue 14)",
                        f.target, f.code
                    ),
                });
            } else if approved || !moves_destination(last) {
                p.recovered(f, last, &report.job, &step.name, &failed_here);
            }
        }
    }
    for (req, d) in decisions {
        p.decided(req, d);
    }
    p.finish()
}

/// Whether a healing proposal (not a declared alternative) changed where
/// its call goes: a URL's scheme, host or port
/// (`mend_core::safety::destination`).
fn moves_destination(a: &AttemptReport) -> bool {
    a.action == "retry_modified"
        && a.args_diff.iter().any(|c| {
            let url = |v: &Value| v.as_str().map(mend_core::safety::destination);
            c.path.ends_with("/url") && url(&c.before) != url(&c.after)
        })
}

/// Today's date for provenance (`YYYY-MM-DD`, local time).
pub fn today() -> String {
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

/// The redactor for lessons of a job: the job's and the config's secrets,
/// and secret-looking names in the environment.
pub fn redactor(secrets: &[String], env: &[(String, String)]) -> Redactor {
    Redactor::from_env(secrets.iter().map(String::as_str), env)
}

/// Writes what `what` learned to the memory file (one batch, one index
/// commit). A file that cannot be written (a conflict, a full disk) loses
/// nothing already there; the note says why.
pub fn write(lessons: &Lessons, what: impl Fn(&Memory, &str) -> Learned) -> Vec<LessonNote> {
    let today = today();
    let mut learned = lessons.with(|m, _, _| what(m, &today));
    if learned.edits.is_empty() {
        return Vec::new();
    }
    let mut result = lessons.apply(&learned.edits);
    // Someone changed the same lesson meanwhile: learn again from the file
    // as it is now (their edit stays), once.
    if let Err(crate::memory::MemoryError::Store(mend_memory::store::StoreError::Conflict { .. })) = &result
        && lessons.reload().is_ok()
    {
        learned = lessons.with(|m, _, _| what(m, &today));
        result = lessons.apply(&learned.edits);
    }
    match result {
        Ok(_) => learned.notes,
        Err(e) => vec![LessonNote {
            id: String::new(),
            change: LessonChange::Unwritten,
            message: format!("could not write what the run taught to {}: {e}", lessons.path().display()),
        }],
    }
}

/// The engine's learner: the memory file.
pub struct MemoryLearner(pub Arc<Lessons>);

#[async_trait]
impl Learner for MemoryLearner {
    async fn learn(&self, report: &RunReport, decided: &[(ApprovalRequest, Decision)], redactor: &Redactor) -> Vec<LessonNote> {
        write(&self.0, |m, today| from_run(m, report, decided, today, redactor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mend_core::outcome::Outcome;
    use mend_core::report::{ArgChange, StepReport};

    fn report(attempt: AttemptReport) -> RunReport {
        let mut step = StepReport::not_run("read-export");
        step.status = StepStatus::Healed;
        step.failure = Some(FailureReport {
            tool: "fs".into(),
            code: "NOT_FOUND".into(),
            message: "no such file".into(),
            subject: Some("Export.csv".into()),
            target: "read /w/data/Export.csv".into(),
            in_doubt: false,
        });
        step.attempts.push(attempt);
        RunReport { job: "nightly".into(), steps: vec![step], ..RunReport::empty() }
    }

    fn path_fix() -> AttemptReport {
        AttemptReport {
            n: 1,
            action: mend_core::action::ActionKind::RetryModified,
            layer: "policy".into(),
            lesson: None,
            alternative: None,
            root_cause: "NOT_FOUND".into(),
            fixing: "NOT_FOUND".into(),
            tool: "fs".into(),
            args_diff: vec![ArgChange { path: "/path".into(), before: json!("/w/data/Export.csv"), after: json!("/w/data/export.csv") }],
            delay_ms: 0,
            outcome: Outcome::success(json!("sku,qty")),
            duration_ms: 1,
        }
    }

    #[test]
    fn a_fixed_path_is_learned_for_that_path_and_a_repeat_bumps_it() {
        let redactor = Redactor::new(Vec::<(String, String)>::new());
        let text = "## Files\n\nSome prose.\n";
        let learned = from_run(&mend_memory::parse(text), &report(path_fix()), &[], "2026-11-22", &redactor);
        let [Edit::Add { section, lesson }] = &learned.edits[..] else { panic!("{:?}", learned.edits) };
        assert_eq!(section, "Files");
        assert_eq!(lesson.when.matches, ["/w/data/Export.csv"], "the path, not every Export.csv");
        assert_eq!(lesson.fix.as_ref().unwrap().args, Some(json!({"path": "/w/data/export.csv"})));
        assert!(lesson.text.contains("`path` /w/data/Export.csv → /w/data/export.csv"), "{}", lesson.text);

        let after = mend_memory::edit::apply(text, &learned.edits[0]).unwrap();
        let again = from_run(&mend_memory::parse(&after), &report(path_fix()), &[], "2026-11-23", &redactor);
        let [Edit::Replace { lesson, .. }] = &again.edits[..] else { panic!("{:?}", again.edits) };
        assert_eq!((lesson.provenance.seen, lesson.provenance.last.as_deref()), (2, Some("2026-11-23")));
        assert_eq!(again.notes[0].change, "confirmed");
    }

    #[test]
    fn a_change_that_carries_a_secret_is_not_learned() {
        let mut a = path_fix();
        a.args_diff[0].after = json!("/w/[REDACTED]/export.csv");
        let learned = from_run(&mend_memory::parse(""), &report(a), &[], "2026-11-22", &Redactor::new(Vec::<(String, String)>::new()));
        assert!(learned.edits.is_empty(), "{:?}", learned.edits);
    }
}
