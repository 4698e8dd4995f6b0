// Agents (issue 17): the MCP hosts (an MCP client's `clientInfo.name`) and
// Claude Code, whose calls Mend journals. A badge wherever an event, a run,
// a request or a remembered decision is one agent's, and the pickers' choices.
import type { AgentSeen } from "./ipc";

export function AgentBadge({ name, title = "The agent whose call this is" }: { name: string; title?: string }) {
  return (
    <span class="agent-badge" data-agent={name} title={title}>
      {name}
    </span>
  );
}

/** A picker's choices: the agents seen, and the one picked even when it
 * made no call in the range. */
export function agentChoices(seen: AgentSeen[], picked: string | null): AgentSeen[] {
  return picked && !seen.some((a) => a.name === picked) ? [...seen, { name: picked, calls: 0 }] : seen;
}
