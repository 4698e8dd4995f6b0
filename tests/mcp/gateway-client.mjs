// The official TypeScript SDK's MCP client (@modelcontextprotocol/sdk,
// pinned in package.json) driving `mend mcp serve` over stdio, for the
// gateway's tests (issue 17; crates/mend-cli/tests/gateway.rs). Usage:
//   node gateway-client.mjs PLAN.json
// PLAN: {"command": "...", "args": [...], "env": {...}, or "url": "http://…/mcp", "client": "name",
//        "elicit": "option id or null", "steps": [{"op": "list"} |
//        {"op": "call", "name": "...", "arguments": {...}, "timeout_ms": N} |
//        {"op": "wait_list_changed", "timeout_ms": N}]}
// Prints one JSON line per step: {"op", "tools"} or {"op", "result",
// "progress": [messages], "ms"} or {"op", "error"}.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
// `url`: a gateway already serving streamable HTTP (`mend mcp serve --http`).
const transport = plan.url
  ? new StreamableHTTPClientTransport(new URL(plan.url))
  : new StdioClientTransport({
      command: plan.command,
      args: plan.args ?? [],
      env: { ...process.env, ...(plan.env ?? {}) },
      stderr: "inherit",
    });
const capabilities = plan.elicit ? { elicitation: {} } : {};
const client = new Client({ name: plan.client, version: "1.0.0" }, { capabilities });
if (plan.elicit) {
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { option: plan.elicit } }));
}
let listChanged = 0;
client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
  listChanged += 1;
});
await client.connect(transport);
for (const step of plan.steps) {
  const t0 = Date.now();
  try {
    if (step.op === "wait_list_changed") {
      while (listChanged === 0 && Date.now() - t0 < (step.timeout_ms ?? 5000)) await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ op: step.op, changed: listChanged }));
    } else if (step.op === "list") {
      const r = await client.listTools();
      console.log(JSON.stringify({ op: "list", tools: r.tools }));
    } else {
      const progress = [];
      const r = await client.callTool({ name: step.name, arguments: step.arguments ?? {} }, undefined, {
        timeout: step.timeout_ms ?? 60000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => progress.push(p.message ?? String(p.progress)),
      });
      console.log(JSON.stringify({ op: "call", result: r, progress, ms: Date.now() - t0 }));
    }
  } catch (e) {
    console.log(JSON.stringify({ op: step.op, error: String(e?.message ?? e), code: e?.code ?? null, ms: Date.now() - t0 }));
  }
}
await client.close();
