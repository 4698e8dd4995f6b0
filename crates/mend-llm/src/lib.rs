//! The optional third diagnosis layer: a chain of models (primary first,
//! then fallbacks) asked about failures the lesson and policy layers could
//! not fix. The model is advice; the engine validates whatever it says
//! exactly as it validates the other layers, and a destructive call it
//! proposes still waits for a person.
//!
//! - [`client`]: OpenAI-compatible chat completions and Anthropic messages.
//! - [`prompt`]: the prompt, redacted, with tool output fenced as data.
//! - [`parse`]: a tolerant reader of replies (JSON or `ACTION:` text).
//! - [`Chain`]: a model call is healed like a tool call: timeouts, 5xx and
//!   429 (after its Retry-After) are retried, a model that keeps failing is
//!   set aside for a while and the next one asked, the primary again once
//!   its pause is over. No model answering means no proposal: the job goes
//!   on with what the other layers decided, or escalates — it never fails
//!   because a model is down.

pub mod client;
pub mod parse;
pub mod prompt;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mend_core::action::{Action, Diagnosis};
use mend_core::config::LlmModel;
use mend_core::diagnose::{Diagnoser, DiagnosisContext, backoff_ms};
use mend_core::lesson::merge_patch;
use serde_json::Value;

use client::{CallError, Client, Completion};

/// How long a model that failed is set aside before it is asked again.
pub const PAUSE: Duration = Duration::from_secs(30);
/// Calls to one model per question (the first and two retries).
const TRIES: u32 = 3;
/// The longest wait between retries of a model call.
const MAX_WAIT_MS: u64 = 5_000;

/// The models, primary first.
pub struct Chain {
    clients: Vec<Client>,
    paused_until: Mutex<Vec<Option<Instant>>>,
    pause: Duration,
}

/// What a question to the chain got.
#[derive(Debug)]
pub struct Answer {
    /// The reply.
    pub completion: Completion,
    /// The model that gave it.
    pub model: String,
    /// Failed calls on the way (`model: why`).
    pub failures: Vec<String>,
}

impl Chain {
    /// A chain of the configured models; a model whose key cannot be read is
    /// an error naming it.
    pub fn new(models: &[LlmModel]) -> Result<Chain, CallError> {
        let clients = models.iter().cloned().map(Client::new).collect::<Result<Vec<_>, _>>()?;
        let n = clients.len();
        Ok(Chain { clients, paused_until: Mutex::new(vec![None; n]), pause: PAUSE })
    }

    /// Sets how long a failing model is set aside (default [`PAUSE`]).
    pub fn with_pause(mut self, pause: Duration) -> Chain {
        self.pause = pause;
        self
    }

    fn paused(&self) -> std::sync::MutexGuard<'_, Vec<Option<Instant>>> {
        self.paused_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the first model that answers; `Err` lists why none did.
    pub async fn ask(&self, system: &str, user: &str) -> Result<Answer, Vec<String>> {
        let now = Instant::now();
        let paused = self.paused().clone();
        // Models not paused first, in chain order; paused ones last (all of
        // them down is no reason not to try).
        let ready = |i: &usize| paused[*i].is_none_or(|t| t <= now);
        let order: Vec<usize> = (0..self.clients.len()).filter(ready).chain((0..self.clients.len()).filter(|i| !ready(i))).collect();
        let mut failures = Vec::new();
        for i in order {
            let c = &self.clients[i];
            for n in 0..TRIES {
                match c.complete(system, user).await {
                    Ok(completion) => {
                        self.paused()[i] = None;
                        return Ok(Answer { completion, model: c.model().name.clone(), failures });
                    }
                    Err(e) => {
                        failures.push(format!("{}: {e}", c.model().name));
                        if !e.transient() || n + 1 == TRIES {
                            self.paused()[i] = Some(Instant::now() + self.pause);
                            break;
                        }
                        let wait = match e {
                            CallError::RateLimited(Some(ms)) => ms,
                            _ => backoff_ms(250, n, MAX_WAIT_MS, None),
                        };
                        if wait > MAX_WAIT_MS {
                            // A long Retry-After: ask the next model rather than wait.
                            self.paused()[i] = Some(Instant::now() + Duration::from_millis(wait));
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                }
            }
        }
        Err(failures)
    }
}

/// The LLM layer.
pub struct LlmDiagnoser {
    chain: Chain,
}

impl LlmDiagnoser {
    /// The layer over a chain of models.
    pub fn new(chain: Chain) -> LlmDiagnoser {
        LlmDiagnoser { chain }
    }
}

/// What the model's reply proposes, or why it cannot be used.
pub fn action_of(reply: &parse::Reply, cx: &DiagnosisContext<'_>) -> Result<Action, String> {
    let err = cx.error;
    match reply.action.as_str() {
        "retry_same" | "retry" => Ok(Action::RetrySame {
            delay_ms: reply.delay_ms.unwrap_or_else(|| {
                backoff_ms(cx.step.retry.base_ms, cx.retries_for_code, cx.step.retry.max_delay_ms, err.retry_after_ms())
            }),
        }),
        "retry_modified" | "modify_args" | "modify" | "retry_with_args" => match &reply.modified_args {
            Some(patch @ Value::Object(_)) => Ok(Action::RetryModified { args: merge_patch(cx.args, patch) }),
            Some(_) => Err("modified_args is not a JSON object".into()),
            None => Err("retry_modified without modified_args".into()),
        },
        "use_alternative" | "alternative" | "switch_tool" | "use_alternative_tool" => {
            let Some(which) = reply.alternative.as_deref() else {
                return cx
                    .untried_alternatives
                    .first()
                    .map(|&index| Action::UseAlternative { index })
                    .ok_or_else(|| "no untried alternative".into());
            };
            let which = which.trim().trim_matches('`');
            let index = match which.parse::<usize>() {
                Ok(i) => Some(i),
                Err(_) => cx
                    .untried_alternatives
                    .iter()
                    .copied()
                    .find(|&i| cx.step.alternatives.get(i).is_some_and(|a| a.tool.eq_ignore_ascii_case(which))),
            };
            index.map(|index| Action::UseAlternative { index }).ok_or_else(|| format!("the step declares no untried alternative `{which}`"))
        }
        "verify_state" | "verify" => Ok(Action::VerifyState),
        "ask_user" | "ask" => Ok(Action::AskUser { question: reply.user_message.clone().unwrap_or_else(|| reply.root_cause.clone()) }),
        // Stopping the job is a person's call: a model's "abort" is brought to one.
        "escalate" | "abort" | "give_up" | "stop" => Ok(Action::Escalate),
        other => Err(format!("`{other}` is not one of Mend's actions")),
    }
}

#[async_trait]
impl Diagnoser for LlmDiagnoser {
    fn layer(&self) -> &str {
        "llm"
    }

    fn uses_tokens(&self) -> bool {
        true
    }

    async fn diagnose(&self, cx: &DiagnosisContext<'_>) -> Vec<Diagnosis> {
        let cause = format!("{}: {}", cx.error.code, cx.redactor.text(&cx.error.message));
        let escalate = |why: String, tokens: u64, model: Option<String>| {
            let mut d = Diagnosis::new("llm", Action::Escalate, format!("{cause}; {why}"));
            d.tokens = tokens;
            d.model = model;
            vec![d]
        };
        let answer = match self.chain.ask(prompt::SYSTEM, &prompt::user(cx)).await {
            Ok(a) => a,
            Err(failures) => return escalate(format!("no model answered ({})", failures.join("; ")), 0, None),
        };
        let tokens = answer.completion.tokens();
        let reply = match parse::parse(&answer.completion.text) {
            Ok(r) => r,
            Err(e) => return escalate(format!("the model's answer was not usable: {e}"), tokens, Some(answer.model)),
        };
        let root = cx.redactor.text(if reply.root_cause.is_empty() { "no reason given" } else { &reply.root_cause });
        match action_of(&reply, cx) {
            Ok(action) => {
                let mut d = Diagnosis::new("llm", action, root);
                d.tokens = tokens;
                d.advice = reply.user_message.as_deref().map(|m| cx.redactor.text(m));
                d.model = Some(answer.model);
                vec![d]
            }
            Err(why) => {
                escalate(format!("the model proposed something Mend does not allow ({why}); it said: {root}"), tokens, Some(answer.model))
            }
        }
    }
}
