// Browser-test harness: @tauri-apps/api's mockIPC stands in for the Rust
// shell. Tests set `window.__mend.state` and read `window.__mend.calls`;
// `state.fail[cmd]` is an error (`{ code, message, place? }`) that command
// rejects with, as the shell's commands do;
// `window.__mend.emit(name, payload)` sends an event as the shell would.
import { emit } from "@tauri-apps/api/event";
import { mockIPC } from "@tauri-apps/api/mocks";

type Call = { cmd: string; args: any };
const mend = {
  state: {} as Record<string, any>,
  calls: [] as Call[],
  emit: (name: string, payload: unknown) => emit(name, payload),
};
(window as any).__mend = mend;

mockIPC(
  (cmd, args: any) => {
    mend.calls.push({ cmd, args });
    const s = mend.state;
    if (s.fail?.[cmd]) throw s.fail[cmd];
    switch (cmd) {
      case "overview":
        return s.overview ?? { version: "0.1.0", journal: "/tmp/journal.sqlite3", calls: 0, healed: 0, pending_approvals: 0, live_runs: 0 };
      case "runs_list":
        return s.runs ?? [];
      case "run_events": {
        // A journal that has not committed the newest events yet answers late and without them.
        const stored = (s.events ?? {})[args.runId] ?? [];
        return s.eventsLagMs ? new Promise((ok) => setTimeout(() => ok(stored.slice(0, s.eventsStoredCount ?? stored.length)), s.eventsLagMs)) : stored;
      }
      case "jobs_list":
        return s.jobs ?? { dir: "/tmp/jobs", jobs: [], error: null };
      case "rules_list":
        return s.rules ?? [];
      case "rule_forget":
        s.rules = (s.rules ?? []).filter((r: any) => r.id !== args.id);
        return null;
      case "settings_get":
        return s.settings ?? { version: "0.1.0", journal: "/tmp/j", jobs_dir: "/tmp/jobs", autostart: false, autostart_available: true };
      case "approvals_pending":
        return s.pending ?? [];
      case "approval_decide": {
        const input = args.input;
        const pending = (s.pending ?? []) as any[];
        const req = pending.find((p) => p.request.id === input.id)?.request;
        if (!req) throw { code: "not_found", message: `no approval request \`${input.id}\`` };
        if (!req.options.some((o: any) => o.id === input.option))
          throw { code: "bad_input", message: `\`${input.option}\` is not an option of request ${input.id}`, place: "option" };
        // A remembered rule answers the other waiting requests of the same job.
        const also = input.remember === "job" ? pending.filter((p) => p.request.id !== input.id && p.request.job === req.job).map((p) => p.request.id) : [];
        s.pending = pending.filter((p) => p.request.id !== input.id && !also.includes(p.request.id));
        const rule = input.remember ? { id: "rule-1", scope: input.remember === "failure" ? "failure" : input.remember === "always" ? "always" : "job", job: req.job, step: input.remember === "step" ? req.step : null, kind: req.kind, option: input.option, created_ms: Date.now(), note: input.note } : null;
        return { resumed: true, rule, also_decided: also };
      }
      case "job_start":
      case "demo_start":
      case "run_rerun":
        return "run-new";
      case "run_resume":
        return args.runId;
      case "run_cancel":
      case "job_open":
      case "approval_defer":
      case "approvals_show":
      case "ui_painted":
      case "settings_autostart":
        return null;
      case "memory_view":
        if (s.memoryError) throw s.memoryError;
        return s.memory;
      case "memory_search": {
        // The index is Rust's: tests give the hits per query.
        const q = String(args.query ?? "");
        return (s.hits ?? {})[q] ?? [];
      }
      case "memory_save":
      case "memory_raw": {
        const r = (s.saveResults ?? []).shift() ?? { result: "saved", version: "00000000000000ff", merged: false };
        if (r.result === "saved" && s.memoryAfterSave) s.memory = s.memoryAfterSave;
        return r;
      }
      case "memory_open":
        return null;
      case "dashboard":
        // One agent's numbers when the test gives them (`dashboardByAgent`).
        return (args.agent && s.dashboardByAgent?.[args.agent]) || s.dashboard;
      case "agents_list":
        return s.agents ?? [];
      case "audit_events": {
        const f = args.filter ?? {};
        return (s.audit ?? []).filter(
          (e: any) =>
            (!f.kind || e.kind === f.kind) &&
            (!f.code || e.code === f.code) &&
            (!f.tool || e.tool === f.tool) &&
            (!f.job || e.job === f.job) &&
            (!f.agent || e.agent === f.agent) &&
            (f.since_ms == null || e.ts_ms >= f.since_ms) &&
            (f.until_ms == null || e.ts_ms < f.until_ms) &&
            (!f.text || JSON.stringify(e).toLowerCase().includes(String(f.text).toLowerCase())),
        );
      }
      case "audit_export":
        return "/data/exports/mend-events-1.jsonl";
      case "servers_view":
        return s.servers ?? [];
      case "server_disable":
      case "server_enable":
      case "server_restart": {
        const v = (s.servers ?? []).find((x: any) => x.name === args.name);
        if (!v) throw { code: "not_found", message: `no MCP server is named \`${args.name}\`` };
        if (cmd === "server_disable") v.status = { state: "disabled", until_ms: null, reason: args.reason ?? "disabled in the app" };
        if (cmd === "server_enable") v.status = { state: "running", pid: 4242 };
        if (cmd !== "server_restart") return v.status;
        v.status = { state: "running", pid: (v.status.pid ?? 4000) + 1 };
        // A restart takes a moment: the view shows it restarting meanwhile.
        return new Promise((ok) => setTimeout(() => ok(v), s.restartLagMs ?? 0));
      }
      default:
        throw `unknown command ${cmd}`;
    }
  },
  { shouldMockEvents: true },
);
