//! How a gateway call waits for a person (issue 17, item 2).
//!
//! The request is durable in the journal before the approver is asked (the
//! engine saves it first), so the desktop popup and `mend approvals` see it
//! at once. The caller (an agent host) has its own timeout, often about
//! 60 s, so the call waits at most [`Waiting::wait`], telling the caller
//! it is still waiting every [`Waiting::progress_every`] (MCP
//! `notifications/progress`), and offers the choice through the host's
//! elicitation when the host has it. A decision made elsewhere reaches the
//! call through the journal (`mend_agent`'s `Watched`). When the wait is
//! over the run is left waiting ([`Answer::Pending`]) and the caller gets
//! the request to show its user; the same call made again later is
//! answered by the decision taken meanwhile ([`mend_agent::repeat`]),
//! without a second popup.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mend_core::approval::{Answer, ApprovalKind, ApprovalRequest, Approver, DecidedBy, Decision};

/// Sends the caller a progress message (MCP `notifications/progress`).
pub type Progress = Arc<dyn Fn(String) + Send + Sync>;

/// Offers a request's options to the caller's user through the host (MCP
/// elicitation); `None` when the user declined or the host cannot ask.
#[async_trait]
pub trait Elicit: Send + Sync {
    /// `message` for the user; `options` as (id, label), recommended first.
    /// The chosen option's id.
    async fn choose(&self, message: String, options: Vec<(String, String)>) -> Option<String>;
}

/// The approver of a gateway call.
pub struct Waiting {
    /// The journal (for the decision an earlier identical call got).
    pub journal: PathBuf,
    /// How long to wait for a person before answering the caller, ms.
    pub wait: Duration,
    /// How often to tell the caller the call still waits.
    pub progress_every: Duration,
    /// Where progress goes, if the caller asked for it.
    pub progress: Option<Progress>,
    /// The host's elicitation, if it has it.
    pub elicit: Option<Arc<dyn Elicit>>,
    /// Who the caller is (the host's `clientInfo.name`), for the journal.
    pub caller: String,
    /// The data directory (run leases).
    pub data_dir: PathBuf,
    /// The earlier request whose decision answered, once one did: its run
    /// is closed after this call (the decision has been acted on).
    pub reused: std::sync::Mutex<Option<mend_agent::repeat::Reused>>,
    /// The last request this call asked (to find the same call's other
    /// waiting runs once it is answered).
    pub asked: std::sync::Mutex<Option<ApprovalRequest>>,
}

#[async_trait]
impl Approver for Waiting {
    async fn decide(&self, req: &ApprovalRequest) -> Answer {
        if let Ok(mut a) = self.asked.lock() {
            *a = Some(req.clone());
        }
        // A failure Mend could not heal goes back to the calling agent at
        // once, as an `isError` result with the diagnosis (issue 17, item
        // 3): the agent's model decides what to do next, not a popup. What
        // waits for a person is a call the gate holds and a call that may
        // have run.
        if req.kind == ApprovalKind::Escalation {
            return Answer::Decided(Decision {
                option: "abort".into(),
                instructions: Some(format!("returned to {} with the diagnosis", self.caller)),
                decided_by: DecidedBy::Policy { rule: format!("mend mcp serve: {} decides after an unhealed failure", self.caller) },
                decided_ms: mend_core::clock::now_ms(),
            });
        }
        if let Some(r) = mend_agent::repeat::earlier_decision(&self.data_dir, &self.journal, req, "mend mcp serve") {
            let answer = r.answer();
            if let Ok(mut slot) = self.reused.lock() {
                *slot = Some(r);
            }
            return Answer::Decided(answer);
        }
        let t0 = std::time::Instant::now();
        let progress = async {
            let Some(p) = &self.progress else { return std::future::pending::<()>().await };
            loop {
                tokio::time::sleep(self.progress_every).await;
                p(format!("waiting {} s for a person to decide request {} in Mend: {}", t0.elapsed().as_secs(), req.id, req.title));
            }
        };
        let elicited = async {
            let Some(e) = &self.elicit else { return std::future::pending::<Decision>().await };
            let options = req.options.iter().map(|o| (o.id.clone(), o.label.clone())).collect();
            let message =
                format!("{}\n\n{}\n\nMend recommends: {} — {}", req.title, req.what_happened, req.recommended, req.recommendation);
            match e.choose(message, options).await {
                Some(option) if req.option(&option).is_some() => Decision {
                    option,
                    instructions: Some(format!("chosen in {} (MCP elicitation)", self.caller)),
                    decided_by: DecidedBy::Person { who: format!("{} user", self.caller) },
                    decided_ms: mend_core::clock::now_ms(),
                },
                // Declined or cancelled in the host: the popup may still answer.
                _ => std::future::pending::<Decision>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(self.wait) => Answer::Pending,
            _ = progress => Answer::Pending,
            d = elicited => Answer::Decided(d),
        }
    }
}
