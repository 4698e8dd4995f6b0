// Typed calls into the Rust shell. Every type comes from ./ipc.ts, which is
// generated from the Rust structs (a Rust test fails when it is stale).
// Every call rejects with an `IpcError` (`{ code, message, place? }`).
import { invoke as tauriInvoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AgentSeen,
  AuditFilter,
  DashboardView,
  HitView,
  IpcError,
  IpcErrorCode,
  MemoryEdit,
  MemoryView,
  SaveResult,
  ServerStatus,
  ServerView,
  ApprovalRequest,
  ApprovalStatus,
  DecideInput,
  DecideResult,
  DecisionRule,
  Event,
  JobsView,
  Overview,
  Pending,
  RunEnded,
  RunRow,
  Settings,
} from "./ipc";

const CODES: IpcErrorCode[] = ["conflict", "bad_input", "not_found", "unavailable", "internal"];

/** A rejected call's reason, typed: the shell's `IpcError` as it is; anything
 * else (a string from Tauri itself, an exception) is internal. */
export function toIpcError(e: unknown): IpcError {
  const x = e as Partial<IpcError> | null;
  if (x && typeof x === "object" && CODES.includes(x.code as IpcErrorCode) && typeof x.message === "string") return x as IpcError;
  return { code: "internal", message: typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e) };
}

/** `invoke`, rejecting with an `IpcError`. */
async function invoke<T>(cmd: string, args?: InvokeArgs): Promise<T> {
  try {
    return await tauriInvoke<T>(cmd, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

export const api = {
  overview: () => invoke<Overview>("overview"),
  runs: (limit = 100) => invoke<RunRow[]>("runs_list", { limit }),
  runEvents: (runId: string) => invoke<Event[]>("run_events", { runId }),
  jobs: () => invoke<JobsView>("jobs_list"),
  startJob: (path: string) => invoke<string>("job_start", { path }),
  startDemo: () => invoke<string>("demo_start"),
  cancelRun: (runId: string) => invoke<void>("run_cancel", { runId }),
  rerun: (runId: string) => invoke<string>("run_rerun", { runId }),
  resume: (runId: string) => invoke<string>("run_resume", { runId }),
  openPath: (path: string) => invoke<void>("job_open", { path }),
  pending: () => invoke<Pending[]>("approvals_pending"),
  approval: (id: string) => invoke<ApprovalStatus>("approval_get", { id }),
  decide: (input: DecideInput) => invoke<DecideResult>("approval_decide", { input }),
  defer: () => invoke<void>("approval_defer"),
  showApprovals: () => invoke<void>("approvals_show"),
  rules: () => invoke<DecisionRule[]>("rules_list"),
  forgetRule: (id: string) => invoke<void>("rule_forget", { id }),
  painted: (request?: string) => invoke<void>("ui_painted", { request: request ?? null, pageMs: performance.now() }),
  settings: () => invoke<Settings>("settings_get"),
  setAutostart: (enabled: boolean) => invoke<void>("settings_autostart", { enabled }),
  memoryView: () => invoke<MemoryView>("memory_view"),
  memorySearch: (query: string, tool: string | null, code: string | null, section: string | null, state: string | null) =>
    invoke<HitView[]>("memory_search", { query, tool, code, section, state, limit: 50 }),
  memorySave: (base: string, edit: MemoryEdit) => invoke<SaveResult>("memory_save", { base, edit }),
  memoryRaw: (base: string, text: string) => invoke<SaveResult>("memory_raw", { base, text }),
  memoryOpen: () => invoke<void>("memory_open"),
  /** Every call's numbers, or only `agent`'s (issue 17). */
  dashboard: (sinceMs: number, bucketMs: number, agent: string | null = null) => invoke<DashboardView>("dashboard", { sinceMs, bucketMs, agent }),
  agents: (sinceMs: number | null = null) => invoke<AgentSeen[]>("agents_list", { sinceMs }),
  audit: (filter: AuditFilter) => invoke<Event[]>("audit_events", { filter }),
  auditExport: (filter: AuditFilter) => invoke<string>("audit_export", { filter }),
  servers: (sinceMs: number) => invoke<ServerView[]>("servers_view", { sinceMs }),
  serverDisable: (name: string, reason: string | null) => invoke<ServerStatus>("server_disable", { name, reason }),
  serverEnable: (name: string) => invoke<ServerStatus>("server_enable", { name }),
  serverRestart: (name: string) => invoke<ServerView>("server_restart", { name }),
};

/** Events the shell sends. */

export function on<T>(name: string, f: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(name, (e) => f(e.payload));
}

export const events = {
  runEvent: (f: (e: Event) => void) => on<Event>("run-event", f),
  runStarted: (f: (e: { run_id: string }) => void) => on("run-started", f),
  runEnded: (f: (e: RunEnded) => void) => on<RunEnded>("run-ended", f),
  approval: (f: (r: ApprovalRequest) => void) => on<ApprovalRequest>("approval", f),
  approvalsChanged: (f: (p: unknown) => void) => on("approvals-changed", f),
  /** The journal changed, whoever wrote it (another process's run, a sweep). */
  runsChanged: (f: (p: unknown) => void) => on("runs-changed", f),
  jobsChanged: (f: (p: unknown) => void) => on("jobs-changed", f),
};

/** A command's error as a toast or notice: its sentence and its kind. */
export function failed(e: unknown): { tone: "error"; text: string; code: IpcErrorCode } {
  return { tone: "error", text: errorText(e), code: toIpcError(e).code };
}

/** A command's error as a sentence that says what kind it is: a conflict
 * asks to reload, bad input names its place, not found says so, internal
 * says it is a bug. */
export function errorText(e: unknown): string {
  const err = toIpcError(e);
  switch (err.code) {
    case "conflict":
      return `${err.message} (it changed meanwhile: reload to see what holds now)`;
    case "bad_input":
      // A message that starts with its place (`file:line:col: …`, `fix: …`) says it already.
      return err.place && !err.message.startsWith(err.place.split(" ")[0]) ? `${err.message} (at ${err.place})` : err.message;
    case "not_found":
      return `Not found: ${err.message}`;
    case "unavailable":
      return err.message;
    case "internal":
      return `This is a bug in Mend: ${err.message}`;
  }
}
