// Typed fixtures for the browser tests (issue 15): `tsc` checks them
// against the IPC types generated from Rust (src/ipc.ts), so a fixture
// cannot hold an action, a kind or a field the engine never emits. Built to
// test-dist/fixtures.js by vite.fixtures.config.ts; the tests import it.
import type { AgentSeen, DashboardView, Event, Outcome, ServerView } from "../src/ipc";

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

const H = 3_600_000;

/** The dashboard over six hours from `t0`, every call's numbers. */
export function dashboard(t0: number): DashboardView {
  return {
    metrics: {
      since_ms: t0,
      runs: [["succeeded", 4]],
      calls: 40,
      failed_calls: 9,
      healing: { steps: 20, failed_first: 8, autonomous: 6, with_person: 1, autonomous_rate: 0.75 },
      by_code_action: [
        { code: "SERVER_ERROR", action: "retry_same", attempts: 6, successes: 4, rate: 0.6667, avg_ms: 12 },
        { code: "CONNECTION_REFUSED", action: "use_alternative", attempts: 2, successes: 2, rate: 1, avg_ms: 5 },
      ],
      recovery: { recovered: 6, attempts_avg: 1.5, ttr_p50_ms: 1200, ttr_p95_ms: 4000, ttr_max_ms: 4100 },
      escalations: { raised: 2, pending: 0, by_option: [["alt-0", 1], ["abort", 1]], by_decider: [["person", 2]], took_recommended: 1, decide_p50_ms: 8000 },
      top_failing: [
        { tool: "http", code: "SERVER_ERROR", calls: 6 },
        { tool: "http", code: "CONNECTION_REFUSED", calls: 3 },
      ],
      tokens: 0,
    },
    series: {
      buckets_ms: [0, 1, 2, 3, 4, 5].map((i) => t0 + i * H),
      bucket_ms: H,
      by_code_action: [
        { code: "SERVER_ERROR", action: "retry_same", attempts: [2, 0, 2, 0, 2, 0], successes: [1, 0, 1, 0, 2, 0] },
        { code: "CONNECTION_REFUSED", action: "use_alternative", attempts: [0, 1, 0, 0, 1, 0], successes: [0, 1, 0, 0, 1, 0] },
      ],
      failed_first: [2, 1, 2, 0, 3, 0],
      autonomous: [1, 1, 1, 0, 3, 0],
      with_person: [1, 0, 0, 0, 0, 0],
      calls: [8, 6, 8, 4, 10, 4],
      failed_calls: [3, 1, 2, 0, 3, 0],
      escalations: [1, 0, 1, 0, 0, 0],
      tokens: [0, 0, 0, 0, 0, 0],
      ttr_ms: [300, 800, 1200, 1500, 3900, 4100],
      recovery_attempts: [1, 1, 1, 2, 2, 2],
      decide_ms: [5000, 11000],
    },
  };
}

/** The agents of the dashboard and audit fixtures (issue 17). */
export const AGENTS: AgentSeen[] = [
  { name: "goose", calls: 7 },
  { name: "claude-code", calls: 3 },
];

/** The same window, goose's calls only: fewer, and one rate-limited tool. */
export function gooseDashboard(t0: number): DashboardView {
  const all = dashboard(t0);
  const zeros = [0, 0, 0, 0, 0, 0];
  return {
    metrics: {
      ...all.metrics,
      runs: [["succeeded", 3]],
      calls: 7,
      failed_calls: 4,
      healing: { steps: 4, failed_first: 4, autonomous: 3, with_person: 1, autonomous_rate: 0.75 },
      by_code_action: [{ code: "RATE_LIMITED", action: "retry_same", attempts: 3, successes: 3, rate: 1, avg_ms: 1500 }],
      recovery: { recovered: 3, attempts_avg: 1, ttr_p50_ms: 1500, ttr_p95_ms: 2000, ttr_max_ms: 2000 },
      escalations: { raised: 1, pending: 1, by_option: [["skip", 1]], by_decider: [["person", 1]], took_recommended: 1, decide_p50_ms: 6000 },
      top_failing: [{ tool: "mcp", code: "RATE_LIMITED", calls: 4 }],
    },
    series: {
      ...all.series,
      by_code_action: [{ code: "RATE_LIMITED", action: "retry_same", attempts: [0, 1, 0, 2, 0, 0], successes: [0, 1, 0, 2, 0, 0] }],
      failed_first: [0, 1, 0, 3, 0, 0],
      autonomous: [0, 1, 0, 2, 0, 0],
      with_person: [0, 0, 0, 1, 0, 0],
      calls: [0, 2, 0, 5, 0, 0],
      failed_calls: [0, 1, 0, 3, 0, 0],
      escalations: [0, 0, 0, 1, 0, 0],
      tokens: zeros,
      ttr_ms: [1000, 1500, 2000],
      recovery_attempts: [1, 1, 1],
      decide_ms: [6000],
    },
  };
}

/** The audit log: a call of Mend's own job, two of goose's (through the gateway) and one of Claude Code's (its hook). */
export function agentAudit(now: number): Event[] {
  const call = (dt: number, run_id: string, job: string, tool: string, agent: string | null, fail: string | null): Event => ({
    ts_ms: now - dt,
    run_id,
    job,
    step: "call",
    level: fail ? "warn" : "info",
    kind: "call",
    tool,
    code: fail ?? undefined,
    ok: fail == null,
    message: `call \`${tool}\` ${fail ? `failed: ${fail}` : "success"}`,
    data: { purpose: "call", args: {}, outcome: fail ? failed(fail, "slow down") : ok, call: null, idempotency_key: null },
    ...(agent ? { agent } : {}),
  });
  return [
    call(5000, "run-1", "nightly", "http", null, null),
    call(4000, "run-2", "files__write_file", "mcp", "goose", "RATE_LIMITED"),
    call(3000, "run-3", "files__write_file", "mcp", "goose", null),
    call(2000, "run-4", "Bash", "exec", "claude-code", null),
  ];
}
