// The main window: jobs, live and past runs, and for each run its steps with
// every healing attempt as a timeline. Live: the shell streams each event.
import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { AgentBadge } from "./agents";
import { api, errorText, events, failed } from "./api";
import { afterPaint, ago, applyTheme, clock, duration, toggleTheme } from "./format";
import type { ArgChange, AuditFilter, DecisionRule, Event, IpcErrorCode, JobsView, Overview, RunRow, Settings } from "./ipc";
import { AuditLog } from "./audit";
import { Dashboard, warmCharts } from "./dashboard";
import { MemoryScreen } from "./memory";
import { ServersScreen } from "./servers";
import "./style.css";

// `code`: an error's kind; a conflict's toast stays, with a Reload button.
type Toast = { tone: "ok" | "error"; text: string; code?: IpcErrorCode } | null;

const STATUS_TONE: Record<string, string> = {
  succeeded: "ok",
  healed: "ok",
  running: "run",
  waiting: "warn",
  failed: "bad",
  aborted: "bad",
  interrupted: "bad",
};

function Pill({ status }: { status: string }) {
  return <span class={`pill ${STATUS_TONE[status] ?? ""}`}>{status}</span>;
}

/** The journal's events of a run and those streamed meanwhile, each once, in time order. */
export function mergeEvents(stored: Event[], live: Event[]): Event[] {
  const key = (e: Event) => `${e.ts_ms}|${e.kind}|${e.step ?? ""}|${e.message}`;
  const seen = new Set(stored.map(key));
  const extra = live.filter((e) => !seen.has(key(e)));
  return extra.length === 0 ? stored : [...stored, ...extra].sort((a, b) => a.ts_ms - b.ts_ms);
}

/** One step of a run, folded from its events. */
type StepView = { name: string; events: Event[]; status: string | null; started: number; ended: number | null };

function stepsOf(evs: Event[]): { steps: StepView[]; run: Event[] } {
  const steps = new Map<string, StepView>();
  const run: Event[] = [];
  for (const e of evs) {
    if (!e.step) {
      run.push(e);
      continue;
    }
    let s = steps.get(e.step);
    if (!s) {
      s = { name: e.step, events: [], status: null, started: e.ts_ms, ended: null };
      steps.set(e.step, s);
    }
    s.events.push(e);
    if (e.kind === "step_finished") {
      s.status = e.data.status;
      s.ended = e.ts_ms;
    }
  }
  return { steps: [...steps.values()], run };
}

function argsChanged(diff: ArgChange[] | undefined): string | null {
  if (!diff || diff.length === 0) return null;
  return diff.map((c) => `${c.path.replace(/^\//, "")}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`).join(", ");
}

function TimelineItem({ e }: { e: Event }) {
  switch (e.kind) {
    case "call":
      return (
        <li class={`tl call ${e.ok ? "ok" : "bad"}`}>
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            <b>{e.tool}</b> {e.ok ? "succeeded" : <>failed with <span class="mono">{e.code}</span></>}
            <span class="muted"> {duration(e.duration_ms)}</span>
          </span>
          {!e.ok && e.data.outcome.message && <span class="sub">{e.data.outcome.message}</span>}
        </li>
      );
    case "diagnosis":
      return (
        <li class="tl diagnosis">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            Diagnosis: <span class="mono">{e.code}</span> → <b>{e.data.diagnosis.action}</b>
            <span class="layer">{e.data.diagnosis.layer}</span>
          </span>
          {e.data.diagnosis.root_cause && <span class="sub">{e.data.diagnosis.root_cause}</span>}
        </li>
      );
    case "attempt": {
      const d = e.data;
      const a = d.attempt;
      const changed = argsChanged(a?.args_diff);
      return (
        <li class={`tl attempt ${e.ok ? "ok" : "bad"}`} data-kind="attempt">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            Attempt {a?.n ?? ""}: <b>{e.action}</b> <span class="layer">{d.layer}</span>{" "}
            {d.lesson && <span class="mono lesson-ref">lesson {d.lesson}</span>}{" "}
            {e.ok ? <span class="pill ok">fixed it</span> : <span class="pill bad">did not fix it</span>}
            <span class="muted"> {duration(e.duration_ms)}{d.delay_ms ? ` after waiting ${duration(d.delay_ms)}` : ""}</span>
          </span>
          {changed && <span class="sub mono">changed {changed}</span>}
          {a && a.tool !== e.tool && <span class="sub">with tool {a.tool}</span>}
          {!e.ok && a?.outcome.code && <span class="sub mono">{a.outcome.code}: {a.outcome.message ?? ""}</span>}
        </li>
      );
    }
    case "recovery":
      return (
        <li class="tl recovery ok">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            <b>Healed</b> {e.code} in {e.data.attempts} attempt(s), {duration(e.duration_ms)}
          </span>
        </li>
      );
    case "escalation":
      return (
        <li class="tl escalation warn">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            <b>Asked a person:</b> {e.message}
          </span>
        </li>
      );
    case "decision":
      return (
        <li class="tl decision">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">
            <b>Decision:</b> {e.message}
          </span>
          {e.data.decision.instructions && <span class="sub">“{e.data.decision.instructions}”</span>}
        </li>
      );
    case "guardrail":
      return (
        <li class="tl guardrail warn">
          <span class="when">{clock(e.ts_ms)}</span>
          <span class="what">Guardrail: {e.message}</span>
        </li>
      );
    default:
      return null;
  }
}

function RunDetail({ run, evs, onToast }: { run: RunRow; evs: Event[]; onToast: (t: Toast) => void }) {
  const { steps, run: runEvents } = useMemo(() => stepsOf(evs), [evs]);
  const learned = runEvents.filter((e) => e.kind === "lesson");
  const act = async (f: () => Promise<unknown>, ok: string) => {
    try {
      await f();
      onToast({ tone: "ok", text: ok });
    } catch (e) {
      onToast(failed(e));
    }
  };
  const live = run.status === "running";
  return (
    <section class="detail" data-run={run.run_id}>
      <header class="detail-head">
        <div>
          <h2>
            {run.job}
            {run.agent && <AgentBadge name={run.agent} title="The agent whose call this run is" />}
          </h2>
          <p class="muted">
            <Pill status={run.status} /> started {clock(run.started_ms)}
            {run.finished_ms != null && <> · took {duration(run.finished_ms - run.started_ms)}</>} · {run.attempts} healing attempt
            {run.attempts === 1 ? "" : "s"} · <span class="mono">{run.run_id}</span>
          </p>
          {run.status === "interrupted" && run.reason && (
            <p class="muted interrupted">
              Interrupted{run.last_ms != null && <> (last heard of {clock(run.last_ms)})</>}: {run.reason}.
            </p>
          )}
        </div>
        <div class="actions">
          {run.pending_approvals > 0 && (
            <button class="primary" onClick={() => api.showApprovals()}>
              Decide ({run.pending_approvals})
            </button>
          )}
          {live && <button onClick={() => act(() => api.cancelRun(run.run_id), "Cancelled.")}>Cancel</button>}
          {run.job_path && (run.status === "interrupted" || (run.decided > 0 && run.status === "waiting")) && (
            <button onClick={() => act(() => api.resume(run.run_id), "Going on with it.")}>Resume</button>
          )}
          {run.job_path && !live && <button onClick={() => act(() => api.rerun(run.run_id), "Started again.")}>Re-run</button>}
          {run.job_path && <button onClick={() => act(() => api.openPath(run.job_path!), "Opened the job file.")}>Open job file</button>}
        </div>
      </header>
      {steps.length === 0 ? (
        <div class="state muted">No steps yet.</div>
      ) : (
        <ol class="steps">
          {steps.map((s) => {
            const trouble = s.events.some((e) => e.kind !== "step_started" && e.kind !== "step_finished" && e.kind !== "call") || s.events.some((e) => e.kind === "call" && !e.ok);
            return (
              <li key={s.name} class="step" data-step={s.name}>
                <div class="step-head">
                  <b>{s.name}</b>
                  <Pill status={s.status ?? (live ? "running" : "waiting")} />
                  <span class="muted">{s.ended != null ? duration(s.ended - s.started) : ""}</span>
                </div>
                {trouble && (
                  <ol class="timeline">
                    {s.events
                      // After the first call, each attempt row carries its call's outcome.
                      .filter((e, i) => e.kind !== "call" || s.events.findIndex((x) => x.kind === "call") === i)
                      .map((e, i) => (
                        <TimelineItem key={i} e={e} />
                      ))}
                  </ol>
                )}
              </li>
            );
          })}
        </ol>
      )}
      {learned.length > 0 && (
        <div class="learned">
          <h3>What this run taught the memory</h3>
          <ul>
            {learned.map((e, i) => (
              <li key={i} data-change={String(e.action ?? "")}>
                <span class="pill">{String(e.action ?? "lesson")}</span> {e.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function Jobs({ jobs, onStart, onToast }: { jobs: JobsView | null; onStart: (id: string) => void; onToast: (t: Toast) => void }) {
  const start = async (f: () => Promise<string>) => {
    try {
      onStart(await f());
    } catch (e) {
      onToast(failed(e));
    }
  };
  return (
    <section class="panel jobs">
      <h3>
        Jobs
        <button class="link" title={jobs?.dir} onClick={() => jobs && api.openPath(jobs.dir).catch((e) => onToast(failed(e)))}>
          Open folder
        </button>
      </h3>
      {jobs === null ? (
        <div class="state muted">Loading…</div>
      ) : (
        <ul>
          {jobs.error && <li class="error">{jobs.error}</li>}
          {jobs.jobs.map((j) => (
            <li key={j.path} class={j.error ? "job broken" : "job"} title={j.path}>
              <div class="job-row">
                <b>{j.name}</b>
                <button disabled={!!j.error || j.running} onClick={() => start(() => api.startJob(j.path))}>
                  {j.running ? "Running" : "Run"}
                </button>
              </div>
              {j.error ? (
                <span class="sub error mono">{j.error}</span>
              ) : (
                <span class="sub muted">
                  {j.steps} steps{j.schedule ? ` · ${j.schedule}` : ""}
                  {j.next_ms != null ? ` · next ${clock(j.next_ms)}` : ""}
                </span>
              )}
            </li>
          ))}
          {jobs.jobs.length === 0 && !jobs.error && (
            <li class="sub muted">
              No job files yet. Put <span class="mono">*.toml</span> jobs in <span class="mono">{jobs.dir}</span>.
            </li>
          )}
          <li class="job demo">
            <div class="job-row">
              <b>Demo</b>
              <button onClick={() => start(() => api.startDemo())}>Run</button>
            </div>
            <span class="sub muted">A flaky service healed before your eyes, ending with one decision.</span>
          </li>
        </ul>
      )}
    </section>
  );
}

/** A remembered decision in words (the same as `mend approvals rules`);
 * one made on an agent's request holds for that agent only (issue 17). */
export function describeRule(r: DecisionRule): string {
  const scope =
    r.scope === "job" ? (r.step ? `job ${r.job}, step ${r.step}` : `job ${r.job}`) : r.scope === "failure" ? `${r.code} on ${r.tool}` : "every job";
  return `${scope}, ${r.kind === "before_run" ? "before a call runs" : "when healing stops"}${r.agent ? `, for ${r.agent} only` : ""}`;
}

function Rules({ onToast }: { onToast: (t: Toast) => void }) {
  const [rules, setRules] = useState<DecisionRule[] | null>(null);
  const load = useCallback(() => api.rules().then(setRules, (e) => onToast(failed(e))), []);
  useEffect(() => {
    load();
    const off = events.approvalsChanged(load);
    return () => {
      off.then((f) => f());
    };
  }, []);
  if (!rules || rules.length === 0) return null;
  return (
    <section class="panel rules">
      <h3>Remembered decisions</h3>
      <ul>
        {rules.map((r) => (
          <li key={r.id} class="rule" data-rule={r.id}>
            <div class="job-row">
              <span>
                <b>{r.option}</b> <span class="muted">for {describeRule(r)}</span>
              </span>
              <button
                title="Ask again next time"
                onClick={() =>
                  api.forgetRule(r.id).then(
                    () => (load(), onToast({ tone: "ok", text: "Forgotten: Mend will ask again." })),
                    (e) => onToast(failed(e)),
                  )
                }
              >
                Forget
              </button>
            </div>
            {r.note && <span class="sub muted">“{r.note}”</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function App() {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [runs, setRuns] = useState<RunRow[] | null>(null);
  const [jobs, setJobs] = useState<JobsView | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [evs, setEvs] = useState<Event[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [toast, setToast] = useState<Toast>(null);
  const [screen, setScreen] = useState<"runs" | "memory" | "dashboard" | "audit" | "servers">("runs");
  const [auditFilter, setAuditFilter] = useState<AuditFilter | null>(null);
  const openRun = (id: string) => (setSelected(id), setScreen("runs"));
  const selectedRef = useRef<string | null>(null);
  selectedRef.current = selected;

  const refresh = useCallback(async () => {
    try {
      const [o, r] = await Promise.all([api.overview(), api.runs()]);
      setOverview(o);
      setRuns(r);
      setError(null);
      if (!selectedRef.current && r.length > 0) setSelected(r[0].run_id);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);
  const refreshJobs = useCallback(() => api.jobs().then(setJobs, (e) => setError(errorText(e))), []);

  useEffect(() => {
    refresh().then(() =>
      afterPaint(() => {
        api.painted().catch(() => {});
        // After the first paint, while idle: Chart.js's cold start.
        window.setTimeout(warmCharts, 300);
      }),
    );
    refreshJobs();
    api.settings().then(setSettings, () => {});
    let pending: number | null = null;
    const soon = () => {
      if (pending == null) pending = window.setTimeout(() => ((pending = null), refresh()), 150);
    };
    const offs = [
      events.runEvent((e) => {
        if (e.run_id === selectedRef.current) setEvs((old) => [...old, e]);
        soon();
      }),
      events.runStarted((s) => {
        setSelected(s.run_id);
        soon();
        refreshJobs();
      }),
      events.runEnded(() => {
        soon();
        refreshJobs();
      }),
      events.approvalsChanged(soon),
      events.runsChanged(soon),
      events.jobsChanged(refreshJobs),
    ];
    const tick = window.setInterval(refreshJobs, 15_000);
    return () => {
      offs.forEach((p) => p.then((off) => off()));
      clearInterval(tick);
    };
  }, []);

  useEffect(() => {
    if (!selected) return;
    setEvs([]);
    // Events streamed while the journal was read may not be in what it
    // returns yet (the writer commits in groups): keep both, once each.
    api.runEvents(selected).then((stored) => setEvs((live) => mergeEvents(stored, live)), (e) => setError(errorText(e)));
  }, [selected]);

  useEffect(() => {
    if (!toast || toast.code === "conflict") return;
    const t = setTimeout(() => setToast(null), 4000);
    return () => clearTimeout(t);
  }, [toast]);

  const run = runs?.find((r) => r.run_id === selected) ?? null;
  return (
    <div class="app">
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">◆</span> Mend
        </div>
        <nav class="tabs" aria-label="Screens">
          {(
            [
              ["runs", "Runs"],
              ["memory", "Memory"],
              ["dashboard", "Dashboard"],
              ["audit", "Audit log"],
              ["servers", "Servers"],
            ] as const
          ).map(([id, name]) => (
            <button key={id} class={screen === id ? "tab selected" : "tab"} data-tab={id} aria-current={screen === id ? "page" : undefined} onClick={() => (setScreen(id), id === "runs" && refresh())}>
              {name}
            </button>
          ))}
        </nav>
        {overview && (
          <div class="stats">
            <span>
              <b>{overview.calls}</b> calls
            </span>
            <span>
              <b>{overview.healed}</b> healed by themselves
            </span>
            <span>
              <b>{overview.live_runs}</b> running
            </span>
            {overview.pending_approvals > 0 ? (
              <button class="primary" onClick={() => api.showApprovals()}>
                {overview.pending_approvals} decision{overview.pending_approvals === 1 ? "" : "s"} waiting
              </button>
            ) : (
              <span class="muted">no decisions waiting</span>
            )}
          </div>
        )}
        <div class="tools">
          {settings?.autostart_available && (
            <label class="check" title="Start Mend in the tray when you log in">
              <input
                type="checkbox"
                checked={settings.autostart}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  api.setAutostart(on).then(
                    () => setSettings({ ...settings, autostart: on }),
                    (err) => setToast(failed(err)),
                  );
                }}
              />
              Start at login
            </label>
          )}
          <button class="icon" title="Light or dark theme" aria-label="Toggle theme" onClick={toggleTheme}>
            ◐
          </button>
        </div>
      </header>
      {error && <div class="notice error">{error}</div>}
      {screen === "memory" && (
        <div class="page">
          <MemoryScreen onToast={setToast} onOpenRun={openRun} />
        </div>
      )}
      {screen === "dashboard" && (
        <div class="page">
          <Dashboard onAudit={(f) => (setAuditFilter(f), setScreen("audit"))} />
        </div>
      )}
      {screen === "audit" && (
        <div class="page">
          <AuditLog initial={auditFilter} onToast={setToast} onOpenRun={openRun} />
        </div>
      )}
      {screen === "servers" && (
        <div class="page">
          <ServersScreen onToast={setToast} />
        </div>
      )}
      <div class="body" hidden={screen !== "runs"}>
        <aside>
          <Jobs jobs={jobs} onStart={(id) => (setSelected(id), refresh())} onToast={setToast} />
          <section class="panel runs">
            <h3>Runs</h3>
            {runs === null ? (
              <div class="state muted">Loading…</div>
            ) : runs.length === 0 ? (
              <div class="state muted">No runs yet. Run a job or the demo.</div>
            ) : (
              <ul>
                {runs.map((r) => (
                  <li key={r.run_id}>
                    <button class={r.run_id === selected ? "run selected" : "run"} onClick={() => setSelected(r.run_id)} data-run={r.run_id}>
                      <span class="run-row">
                        <b>{r.job}</b> <Pill status={r.status} />
                      </span>
                      <span class="sub muted">
                        {r.agent && <AgentBadge name={r.agent} title="The agent whose call this run is" />}
                        {ago(r.started_ms)}
                        {r.attempts > 0 ? ` · ${r.attempts} healing attempt${r.attempts === 1 ? "" : "s"}` : ""}
                        {r.pending_approvals > 0 ? ` · ${r.pending_approvals} waiting` : ""}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <Rules onToast={setToast} />
        </aside>
        <main>
          {run ? (
            <RunDetail run={run} evs={evs} onToast={setToast} />
          ) : (
            <div class="state empty">
              <h2>Nothing has run yet</h2>
              <p class="muted">Start a job on the left, or watch the demo heal a flaky service.</p>
              <button class="primary" onClick={() => api.startDemo().then((id) => setSelected(id), (e) => setToast(failed(e)))}>
                Run the demo
              </button>
            </div>
          )}
        </main>
      </div>
      {toast && (
        <div class={`toast ${toast.tone}`} data-code={toast.code}>
          {toast.text}
          {toast.code === "conflict" && (
            <button class="link" onClick={() => (setToast(null), refresh(), refreshJobs())}>
              Reload
            </button>
          )}
        </div>
      )}
    </div>
  );
}

applyTheme();
render(<App />, document.getElementById("app")!);
