//! The safety gate before every call (issue 11): the gate's verdict on a
//! call in this run's environment, a healing change that would send a
//! secret somewhere new, and the before-run request a person approves —
//! held to exactly the call that was shown (its digest and source).

use super::{Current, EngineError, Origin, Resolution, Run, StepState};
use crate::approval::{ApprovalKind, ApprovalOption, CallSource, Choice, Danger, DecidedBy};
use crate::code::ErrorCode;
use crate::event::{Event, Level};
use crate::job::{Call, Step};
use crate::outcome::{Outcome, ToolError};
use crate::payload::{Body, Guardrail};
use crate::report::StepStatus;
use crate::safety::{Category, Context, Finding, Intent, destination};
use crate::tool::Effect;

impl Run<'_> {
    /// Asks for approval before a call runs when the step requires it, the
    /// gate finds a destructive part in it, or a healing proposal would send
    /// a secret somewhere new (issue 11). Every call the engine makes comes
    /// through here: the step's own, alternatives, verify calls, every
    /// modified call from every layer, a person's retry of a changed call.
    /// `from` is the call a healing proposal replaces. `None` means go
    /// ahead; `Some(status)` ends the step.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn gate(
        &mut self,
        step: &Step,
        st: &mut StepState,
        cur: &Current,
        origin: Origin,
        from: Option<&Current>,
        required: bool,
    ) -> Result<Option<StepStatus>, EngineError> {
        let Some(tool) = self.e.registry.get(&cur.tool) else { return Ok(None) };
        // What the gate reads must be known first (an MCP tool's annotations).
        tool.prepare(&cur.args, &self.ctx).await;
        let rendered = tool.render(&cur.args);
        let intent = tool.intent(&cur.args, &self.job.base_dir);
        let verdict = self.check(cur, &intent, &rendered);
        for (f, rule) in &verdict.allowed {
            let ev = self.event(
                Body::Guardrail(Guardrail::Allowed { finding: serde_json::to_value(f).unwrap_or_default(), allow: rule.clone() }),
                Level::Info,
                Some(&step.name),
                format!("`{}` ({}) runs unasked: allowed by `{rule}`", f.command, f.rule),
            );
            self.emit(ev);
        }
        let mut danger = verdict.asks.first().cloned();
        if danger.is_none()
            && origin == Origin::Healer
            && let Some(from) = from
        {
            danger = self.secret_move(from, cur, &intent, &rendered);
        }
        if danger.is_none() && !required {
            return Ok(None);
        }
        let shown = self.redactor.text(&rendered);
        let what = |d: &Finding| format!("{} (rule `{}`, {}) in `{}`", d.why, d.rule, d.category.as_str(), self.redactor.text(&d.command));
        let why = match (&danger, origin) {
            (Some(d), _) if d.category == Category::SecretDestination => {
                format!("Healing proposes a change that {}. A secret never changes destination unasked.", self.redactor.text(&d.why))
            }
            (Some(d), _) if d.category == Category::Unknown => {
                format!("The gate cannot tell what this runs: {}. It asks rather than guess.", what(d))
            }
            (Some(d), Origin::Job) => format!("The job runs a destructive call: {}. Approval is required before it runs.", what(d)),
            (Some(d), Origin::Healer) => format!("Healing proposes a destructive call that the job did not declare: {}.", what(d)),
            (None, _) => "The step is marked `approval = \"required\"`.".to_owned(),
        };
        let (run_opt, skip, abort) = (ApprovalOption::run(&shown), ApprovalOption::skip(), ApprovalOption::abort());
        let (options, recommendation) = match origin {
            Origin::Job => {
                (vec![run_opt, skip, abort], "The job's author declared this call; approve it if now is the right time.".to_owned())
            }
            Origin::Healer => (vec![abort, skip, run_opt], "A destructive fix nobody declared should not run unreviewed.".to_owned()),
        };
        let mut req = self.request(
            step,
            st,
            ApprovalKind::BeforeRun,
            match &danger {
                Some(d) => format!("Approve `{shown}`? ({}: {})", d.category.as_str(), d.rule),
                None => format!("Approve `{shown}`?"),
            },
            format!("Step `{}` is about to run `{shown}`.", step.name),
            why,
            recommendation,
            options,
        );
        req.call = Some(shown.clone());
        req.call_digest = Some(self.digest(cur));
        req.call_source = Some(self.source_of(step, cur));
        req.tool = Some(cur.tool.clone());
        req.danger = danger.as_ref().map(|d| Danger {
            category: d.category.as_str().to_owned(),
            rule: self.redactor.text(&d.rule),
            command: self.redactor.text(&d.command),
            why: self.redactor.text(&d.why),
            span: d.span.and_then(|sp| self.shown_span(&rendered, sp)),
        });
        // A remembered "run" is a person's word on the job's own call; it
        // never approves a destructive call healing made up, nor a secret's
        // new destination (issue 11).
        let remembered_ok = origin == Origin::Job && danger.as_ref().is_none_or(|d| d.category != Category::SecretDestination);
        match self.ask(step, st, req, remembered_ok).await? {
            Resolution::Waiting => Ok(Some(StepStatus::Waiting)),
            Resolution::Chose(Choice::Run | Choice::Retry, _) => Ok(None),
            Resolution::Chose(Choice::Skip, _) => Ok(Some(StepStatus::Skipped)),
            Resolution::Chose(Choice::Abort, d) => {
                self.stop = Some(matches!(d.decided_by, DecidedBy::Person { .. }));
                let ev = Event {
                    code: Some("BLOCKED".into()),
                    ..self.event(
                        Body::Guardrail(Guardrail::Approval {
                            rule: danger.as_ref().map(|d| d.rule.clone()),
                            command: danger.as_ref().map(|d| d.command.clone()),
                        }),
                        Level::Warn,
                        Some(&step.name),
                        format!("`{shown}` was not approved"),
                    )
                };
                self.emit(ev);
                st.rep.final_outcome = Some(Outcome::failure(ToolError::new(ErrorCode::BLOCKED, format!("`{shown}` was not approved"))));
                Ok(Some(if matches!(d.decided_by, DecidedBy::Person { .. }) { StepStatus::Aborted } else { StepStatus::Failed }))
            }
            Resolution::Chose(Choice::Alternative { .. }, _) => Ok(Some(StepStatus::Failed)),
        }
    }

    /// The gate's verdict on a call, in this run's environment.
    pub(super) fn verdict(&self, cur: &Current) -> crate::safety::Verdict {
        let Some(tool) = self.e.registry.get(&cur.tool) else { return Default::default() };
        self.check(cur, &tool.intent(&cur.args, &self.job.base_dir), &tool.render(&cur.args))
    }

    /// The gate's verdict on a call whose intent and rendering are at hand.
    fn check(&self, cur: &Current, intent: &Intent, rendered: &str) -> crate::safety::Verdict {
        let destructive = self.e.registry.get(&cur.tool).is_some_and(|t| t.effect(&cur.args) == Effect::Destructive);
        let env = |name: &str| self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        self.safety.check(intent, rendered, destructive, &Context { env: &env, probe: self.e.probe.as_deref() })
    }

    /// A digest of everything a call is (tool and every argument: stdin,
    /// env, cwd — not only what `render` shows), redacted: an approval
    /// holds only for the call with the same digest. FNV-1a, 64 bits, so it
    /// is the same in every process and version.
    pub(super) fn digest(&self, cur: &Current) -> String {
        crate::approval::call_digest(&cur.tool, &self.redactor.redacted(&cur.args))
    }

    /// Which of the step's calls `cur` is (a healing proposal if none).
    pub(super) fn source_of(&self, step: &Step, cur: &Current) -> CallSource {
        let same = |c: &Call| {
            let e = self.expand(c);
            e.tool == cur.tool && e.args == cur.args
        };
        if same(&step.call) {
            CallSource::Step
        } else if let Some(index) = step.alternatives.iter().position(same) {
            CallSource::Alternative { index }
        } else if step.verify.as_ref().is_some_and(same) {
            CallSource::Verify
        } else {
            CallSource::Proposal { tool: cur.tool.clone(), args: self.redactor.redacted(&cur.args) }
        }
    }

    /// The first part of a call the gate would ask about.
    pub(super) fn danger(&self, cur: &Current) -> Option<Finding> {
        self.verdict(cur).asks.into_iter().next()
    }

    /// Where a highlighted byte range of the rendered call falls in the
    /// redacted text shown to people, if it can be placed.
    fn shown_span(&self, rendered: &str, (a, b): (usize, usize)) -> Option<(usize, usize)> {
        let pre = self.redactor.text(rendered.get(..a)?);
        let mid = self.redactor.text(rendered.get(a..b)?);
        let shown = self.redactor.text(rendered);
        let end = pre.len() + mid.len();
        (shown.get(pre.len()..end) == Some(mid.as_str())).then_some((pre.len(), end))
    }

    /// A healing proposal that would send a secret somewhere new (issue 11
    /// item 5): an HTTP call carrying a secret (a secret header or key, a
    /// secret value, URL userinfo) whose scheme, host or port changes, or a
    /// command whose text changes and that references a secret variable or
    /// value.
    fn secret_move(&self, from: &Current, to: &Current, intent: &Intent, rendered: &str) -> Option<Finding> {
        let tool = self.e.registry.get(&to.tool)?;
        if from.tool != to.tool {
            return None;
        }
        let finding = |rule: &str, why: String| Finding {
            category: Category::SecretDestination,
            rule: rule.to_owned(),
            command: rendered.to_owned(),
            why,
            span: Some((0, rendered.len())),
        };
        match (intent, tool.intent(&from.args, &self.job.base_dir)) {
            (Intent::Http { url, .. }, Intent::Http { url: old, .. }) => {
                let (a, b) = (destination(&old), destination(url));
                let carries = self.redactor.redacted(&to.args) != to.args;
                (a != b && carries).then(|| {
                    let show =
                        |d: Option<crate::safety::Destination>| d.map(|d| d.to_string()).unwrap_or_else(|| "an unreadable URL".into());
                    finding("secret to a new destination", format!("sends a secret to {} instead of {}", show(b), show(a)))
                })
            }
            (Intent::Exec { env, stdin, .. }, old) => {
                // Anything the child gets: the command, its input, its
                // variables, its folder (not only what `render` shows).
                if *intent == old {
                    return None;
                }
                // Names that hold a secret: the job's, any that look secret,
                // and the call's own variables whose value is one (`AUTH =
                // "${env:MY_API_TOKEN}"`).
                let mut names: Vec<String> = self.job.secrets.clone();
                names.extend(self.env.iter().filter(|(k, _)| crate::redact::looks_secret(k)).map(|(k, _)| k.clone()));
                names.extend(
                    env.iter().filter(|(k, v)| crate::redact::looks_secret(k) || self.redactor.text(v) != *v).map(|(k, _)| k.clone()),
                );
                let mut text = rendered.to_owned();
                for part in stdin.iter().chain(env.iter().map(|(_, v)| v)) {
                    text.push('\n');
                    text.push_str(part);
                }
                let named: Vec<&String> = names.iter().filter(|n| mentions(&text, n)).collect();
                let value = self.redactor.text(&text) != text;
                let dumps = ["printenv", "/environ", "compgen", "export -p", "declare -x", "declare -p", "typeset -x"]
                    .iter()
                    .any(|w| text.contains(w))
                    || bare_dump(&text);
                let proxy =
                    env.iter().any(|(k, _)| k.to_ascii_lowercase().ends_with("_proxy")) || text.to_ascii_lowercase().contains("_proxy=");
                (value || dumps || proxy || !named.is_empty()).then(|| {
                    let what = if let Some(n) = named.first() {
                        format!("`{n}`")
                    } else if value {
                        "a secret value".to_owned()
                    } else if proxy {
                        "a proxy setting (every request, secrets included, would go through it)".to_owned()
                    } else {
                        "the whole environment (secrets included)".to_owned()
                    };
                    finding("secret in a changed command", format!("changes a command that can reach {what}"))
                })
            }
            _ => None,
        }
    }
}

/// Whether `name` appears in `text` as a whole word (`$NAME`, `${NAME}`,
/// `printenv NAME`, `${!NAME}`), not inside a longer name.
fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Whether a script runs `env`, `set` or `export` with no operand on its
/// command (`env` and `export` may have options): each prints every
/// variable. `set -e` or `env X=1 cmd` do not. Read conservatively: an
/// end, `;`, `|`, `&`, `)`, a backquote, a newline or a redirection counts
/// as the command's end.
fn bare_dump(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    ["env", "set", "export"].iter().any(|w| {
        text.match_indices(w).any(|(i, _)| {
            if text[..i].chars().next_back().is_some_and(word) || text[i + w.len()..].chars().next().is_some_and(word) {
                return false;
            }
            let mut rest = text[i + w.len()..].trim_start_matches([' ', '\t']);
            if *w != "set" {
                while rest.starts_with('-') {
                    rest = rest.trim_start_matches(|c: char| !c.is_whitespace() && !";|&)`\n".contains(c)).trim_start_matches([' ', '\t']);
                }
            }
            let mut chars = rest.chars();
            match chars.next() {
                None => true,
                Some(c) if ";|&)`\n<>".contains(c) => true,
                Some(c) if c.is_ascii_digit() => chars.next() == Some('>'),
                _ => false,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::bare_dump;

    #[test]
    fn bare_env_set_and_export_print_every_variable() {
        for dumps in
            ["env", "set", "export", "/usr/bin/env", "env -0", "set | grep KEY", "x=$(env)", "`set`", "set 2>&1", "env>o", "a; export\nb"]
        {
            assert!(bare_dump(dumps), "{dumps}");
        }
        for quiet in
            ["set -e; cat data/report.csv", "env FOO=1 make", "export A=1", "reset", "setup.sh", "envsubst < t", "set -- a b", "my_env"]
        {
            assert!(!bare_dump(quiet), "{quiet}");
        }
    }
}
