// Typed fixtures for the browser tests (issue 15): `tsc` checks them
// against the IPC types generated from Rust (src/ipc.ts), so a fixture
// cannot hold an action, a kind or a field the engine never emits. Built to
// test-dist/fixtures.js by vite.fixtures.config.ts; the tests import it.
import type { Event, Outcome, ServerView } from "../src/ipc";

const ok: Outcome = { status: "success", duration_ms: 0 };
const failed = (code: string, message: string): Outcome => ({
  status: "error",
  code,
  message,
  retryable: true,
  recoverable: true,
  severity: "warning",
  duration_ms: 20,
});

/** The runs view's run: a step healed by a lesson after a retry, then a step that went well. */
export function runEvents(t0: number): Event[] {
  const at = (dt: number, step: string | null = null) => ({ ts_ms: t0 + dt, run_id: "run-1", job: "nightly-sync", step, level: "info" as const });
  return [
    {
      ...at(0),
      kind: "run_started",
      message: "run_started",
      data: {
        steps: 2,
        budget: { max_attempts: 30, wall_clock_ms: 1_800_000, tokens: 20_000 },
        job_path: "/jobs/nightly.toml",
        resumed_from: null,
        restarted: false,
        in_doubt: null,
        start_step: "fetch",
      },
    },
    { ...at(10, "fetch"), kind: "step_started", message: "step_started", data: { continued: false } },
    {
      ...at(40, "fetch"),
      level: "warn",
      kind: "call",
      tool: "http",
      ok: false,
      code: "SERVER_ERROR",
      duration_ms: 30,
      message: "call",
      data: { purpose: "call", args: { url: "https://shop.example/inventory" }, outcome: failed("SERVER_ERROR", "503 upstream busy"), call: null, idempotency_key: null },
    },
    {
      ...at(41, "fetch"),
      kind: "diagnosis",
      code: "SERVER_ERROR",
      action: "retry_same",
      message: "diagnosis",
      data: {
        diagnosis: { action: "retry_same", delay_ms: 500, root_cause: "the service is overloaded; it usually recovers", layer: "policy", tokens: 0, lesson: null, advice: null, model: null },
        rejected: [],
        lessons: [],
      },
    },
    {
      ...at(600, "fetch"),
      kind: "attempt",
      tool: "http",
      code: "SERVER_ERROR",
      action: "retry_same",
      ok: false,
      duration_ms: 20,
      message: "attempt",
      data: {
        layer: "policy",
        lesson: null,
        delay_ms: 500,
        attempt: {
          n: 1,
          action: "retry_same",
          layer: "policy",
          lesson: null,
          alternative: null,
          root_cause: "transient",
          fixing: "SERVER_ERROR",
          tool: "http",
          args_diff: [],
          delay_ms: 500,
          outcome: failed("SERVER_ERROR", "503 again"),
          duration_ms: 20,
        },
      },
    },
    {
      ...at(1700, "fetch"),
      kind: "attempt",
      tool: "http",
      code: "SERVER_ERROR",
      action: "retry_modified",
      ok: true,
      duration_ms: 25,
      message: "attempt",
      data: {
        layer: "lesson",
        lesson: "http-5xx-longer",
        delay_ms: 1000,
        attempt: {
          n: 2,
          action: "retry_modified",
          layer: "lesson",
          lesson: "http-5xx-longer",
          alternative: null,
          root_cause: "a lesson",
          fixing: "SERVER_ERROR",
          tool: "http",
          args_diff: [{ path: "/timeout_ms", before: 2000, after: 4000 }],
          delay_ms: 1000,
          outcome: ok,
          duration_ms: 25,
        },
      },
    },
    {
      ...at(1701, "fetch"),
      kind: "recovery",
      code: "SERVER_ERROR",
      ok: true,
      duration_ms: 1660,
      message: "recovery",
      data: { attempts: 2, ttr_ms: 1660, final_action: "retry_modified", layer: "lesson", lesson: "http-5xx-longer" },
    },
    { ...at(1702, "fetch"), kind: "step_finished", ok: true, duration_ms: 1692, message: "step_finished", data: { status: "healed", attempts: 2, failed_first: true, person: false } },
    { ...at(1710, "report"), kind: "step_started", message: "step_started", data: { continued: false } },
    {
      ...at(1800, "report"),
      kind: "call",
      tool: "http",
      ok: true,
      duration_ms: 90,
      message: "call",
      data: { purpose: "call", args: { url: "https://shop.example/report" }, outcome: ok, call: null, idempotency_key: null },
    },
    { ...at(1801, "report"), kind: "step_finished", ok: true, duration_ms: 91, message: "step_finished", data: { status: "succeeded", attempts: 0, failed_first: false, person: false } },
    {
      ...at(1802),
      kind: "lesson",
      action: "confirmed",
      message: "lesson `http-5xx-longer` healed SERVER_ERROR on `shop.example` (http) (seen 4 times)",
      data: { lesson: "http-5xx-longer", change: "confirmed" },
    },
  ];
}

/** A guardrail streamed into the open run. */
export function guardrail(ts_ms: number): Event {
  return {
    ts_ms,
    run_id: "run-1",
    job: "nightly-sync",
    step: "report",
    level: "warn",
    kind: "guardrail",
    message: "attempt budget of the step reached",
    data: { guardrail: "budget" },
  };
}

/** The Servers screen: one of each state (running, down, disabled by the circuit breaker, disabled by hand, never started). */
export function servers(now: number): ServerView[] {
  const base = { transport: "stdio", backup: null, declared_in: null, tools: [], tools_error: null, stderr: [], calls: 0, failures: 0 };
  return [
    {
      ...base,
      name: "files",
      target: "node /srv/mcp/server-filesystem/dist/index.js /data",
      status: { state: "running", pid: 4100 },
      tools: [
        { name: "read_text_file", description: "Read a file as text.\nMore detail.", read_only: true, destructive: false, idempotent: null },
        { name: "write_file", description: "Create or overwrite a file.", read_only: false, destructive: true, idempotent: true },
      ],
      stderr: ["Secure MCP Filesystem Server running on stdio", "Allowed directories: [ '/data' ]"],
      calls: 12,
      failures: 1,
    },
    {
      ...base,
      name: "broken",
      target: "/nonexistent",
      backup: "files",
      status: { state: "down", reason: "could not start `/nonexistent`: No such file or directory (os error 2)" },
      tools_error: "down: could not start `/nonexistent` (it starts again at its next call, or Restart)",
      calls: 3,
      failures: 3,
    },
    {
      ...base,
      name: "flaky",
      target: "mend-fault-mcp --crash-after 1",
      declared_in: "/jobs/orders.toml",
      status: { state: "disabled", until_ms: now + 30 * 60_000, reason: "3 failures within 60 s; the last: the server's connection is closed" },
      tools_error: "disabled: 3 failures within 60 s",
      stderr: ["panicked at crash-after"],
      calls: 5,
      failures: 4,
    },
    {
      ...base,
      name: "legacy",
      target: "https://mcp.example/mcp",
      transport: "http",
      status: { state: "disabled", until_ms: null, reason: "maintenance (by alice)" },
      tools_error: "disabled: maintenance (by alice)",
    },
    { ...base, name: "spare", target: "node spare.js", status: { state: "never_started" } },
  ];
}
