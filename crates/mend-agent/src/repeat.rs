//! An agent's call made again (issue 17). An agent (an MCP host through
//! `mend mcp serve`, Claude Code through `mend hook claude`) stops waiting
//! for a person after its own timeout; the request stays pending and the
//! person decides later. The decision is then applied to the agent's next
//! identical call — once — and the run that asked is closed; runs that
//! asked again about the same call meanwhile are superseded. "Identical":
//! same job, agent, request kind and call digest (every argument).

use std::path::Path;

use mend_core::approval::{ApprovalRequest, DecidedBy, Decision};
use mend_journal::Reader;

use crate::lease::{self, Lease, Taken};
use crate::{Agent, AgentError};

/// How many of the newest runs are searched for an earlier request about
/// the same call.
pub const RECENT_RUNS: usize = 500;

/// An earlier request about the same call whose decision answers a new one.
#[derive(Debug)]
pub struct Reused {
    /// That request.
    pub request: ApprovalRequest,
    /// Its decision, as the person made it.
    pub decision: Decision,
    /// Its run's lease, held until that run is closed: no other process
    /// uses the same decision meanwhile.
    pub lease: Lease,
}

impl Reused {
    /// The decision as it answers the new request: the same option and
    /// decider, now, with a note naming the request it was made on.
    pub fn answer(&self) -> Decision {
        let note = format!("decided on request {} for the same call", self.request.id);
        Decision {
            instructions: Some(match &self.decision.instructions {
                Some(i) => format!("{i} ({note})"),
                None => note,
            }),
            decided_ms: mend_core::clock::now_ms(),
            ..self.decision.clone()
        }
    }
}

fn same_call(a: &ApprovalRequest, b: &ApprovalRequest) -> bool {
    a.job == b.job && a.agent == b.agent && a.kind == b.kind && a.call_digest.is_some() && a.call_digest == b.call_digest
}

/// A decision made on an earlier request about the same call as `req` that
/// nothing acted on: its run waits, no live process owns it (its lease is
/// taken here, as `by`, and returned), and the decision is one of `req`'s
/// options. Errors reading the journal count as none.
pub fn earlier_decision(data_dir: &Path, journal: &Path, req: &ApprovalRequest, by: &str) -> Option<Reused> {
    req.call_digest.as_ref()?;
    let reader = Reader::open(journal).ok()?;
    let runs = reader.runs(RECENT_RUNS).ok()?;
    // Waiting, or interrupted while it waited (the gateway or hook that
    // asked was killed): its decision is still to be acted on (red team).
    let open = |s: &str| matches!(s, "waiting" | "interrupted");
    for run in
        runs.iter().filter(|r| r.job == req.job && r.agent == req.agent && open(&r.status) && r.decided > 0 && r.run_id != req.run_id)
    {
        let Ok(Some((old, d))) = reader.unapplied_decision(&run.run_id) else { continue };
        if !same_call(&old, req) || req.option(&d.option).is_none() {
            continue;
        }
        let Ok(Taken::Ours(lease)) = lease::take(data_dir, &run.run_id, by) else { continue };
        // Still not acted on now that the run is ours.
        if matches!(reader.unapplied_decision(&run.run_id), Ok(Some((o, _))) if o.id == old.id) {
            return Some(Reused { request: old, decision: d, lease });
        }
    }
    None
}

/// The other runs still waiting on a request about the same call as `req`
/// (asked again before anyone decided).
pub fn same_call_waiting(journal: &Path, req: &ApprovalRequest) -> Vec<String> {
    let Ok(reader) = Reader::open(journal) else { return Vec::new() };
    let Ok(runs) = reader.runs(RECENT_RUNS) else { return Vec::new() };
    runs.iter()
        .filter(|r| {
            r.job == req.job && r.agent == req.agent && matches!(r.status.as_str(), "waiting" | "interrupted") && r.run_id != req.run_id
        })
        .filter(|r| reader.pending_for_run(&r.run_id).ok().is_some_and(|p| p.iter().any(|o| same_call(o, req))))
        .map(|r| r.run_id.clone())
        .collect()
}

/// Closes what the call answered in run `answered_in` made moot: the run
/// whose decision it used (`reused`), and, when `asked` is given, the other
/// runs still waiting on the same call. Journaled as the policy `by`
/// (`mend mcp serve`, `mend hook claude`), never as a person. Best effort:
/// a run another process holds is left.
pub async fn close_moot(
    agent: &Agent,
    reused: Option<Reused>,
    asked: Option<&ApprovalRequest>,
    answered_in: &str,
    by: &str,
) -> Result<(), AgentError> {
    let policy = || DecidedBy::Policy { rule: format!("{by}: the same call was answered in run {answered_in}") };
    if let Some(r) = reused {
        let note = format!("its decision on request {} answered the same call again in run {answered_in}", r.request.id);
        agent.close_run_as(&r.lease, policy(), Some(&note)).await?;
    }
    if let Some(req) = asked {
        for run_id in same_call_waiting(agent.journal().path(), req) {
            if let Ok(Taken::Ours(lease)) = lease::take(agent.data_dir(), &run_id, by) {
                let note = format!("superseded: the same call was answered in run {answered_in}");
                let _ = agent.close_run_as(&lease, policy(), Some(&note)).await;
            }
        }
    }
    Ok(())
}
