// Typed calls into the Rust shell. Every type comes from ./ipc.ts, which is
// generated from the Rust structs (a Rust test fails when it is stale).
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AuditFilter,
  DashboardView,
  HitView,
  MemoryEdit,
  MemoryView,
  SaveResult,
  ApprovalRequest,
  ApprovalStatus,
  DecideInput,
  DecideResult,
  DecisionRule,
  Event,
  JobsView,
  Overview,
  Pending,
  RunRow,
  Settings,
} from "./ipc";

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
  dashboard: (sinceMs: number, bucketMs: number) => invoke<DashboardView>("dashboard", { sinceMs, bucketMs }),
  audit: (filter: AuditFilter) => invoke<Event[]>("audit_events", { filter }),
  auditExport: (filter: AuditFilter) => invoke<string>("audit_export", { filter }),
};

/** Events the shell sends. */
export type RunEnded = { run_id: string; status: string; exit_code?: number; error?: string };

export function on<T>(name: string, f: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(name, (e) => f(e.payload));
}

export const events = {
  runEvent: (f: (e: Event) => void) => on<Event>("run-event", f),
  runStarted: (f: (e: { run_id: string }) => void) => on("run-started", f),
  runEnded: (f: (e: RunEnded) => void) => on<RunEnded>("run-ended", f),
  approval: (f: (r: ApprovalRequest) => void) => on<ApprovalRequest>("approval", f),
  approvalsChanged: (f: (p: unknown) => void) => on("approvals-changed", f),
  jobsChanged: (f: (p: unknown) => void) => on("jobs-changed", f),
};

/** A command's error as text (commands reject with a string). */
export function errorText(e: unknown): string {
  if (typeof e === "string") return e;
  if (e instanceof Error) return e.message;
  return JSON.stringify(e);
}
