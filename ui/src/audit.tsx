// The audit log: every event in the journal, filtered by time, job, tool,
// code, level, kind, agent (issue 17) and text; an event opens its full
// (redacted) detail; the filtered view is exported as JSON lines.
import { useEffect, useState } from "preact/hooks";
import { AgentBadge, agentChoices } from "./agents";
import { api, errorText, failed } from "./api";
import { clock } from "./format";
import type { AgentSeen, AuditFilter, Event, EventKind, IpcErrorCode, Level } from "./ipc";

type Toast = { tone: "ok" | "error"; text: string; code?: IpcErrorCode };
const KINDS: EventKind[] = ["run_started", "run_finished", "step_started", "step_finished", "call", "diagnosis", "attempt", "recovery", "guardrail", "escalation", "decision", "lesson"];
const LEVELS: Level[] = ["debug", "info", "warn", "error"];
const SINCE: { id: string; label: string; ms: number | null }[] = [
  { id: "1h", label: "last hour", ms: 3_600_000 },
  { id: "24h", label: "last 24 hours", ms: 86_400_000 },
  { id: "7d", label: "last 7 days", ms: 7 * 86_400_000 },
  { id: "all", label: "all time", ms: null },
];

function Detail({ e, onOpenRun }: { e: Event; onOpenRun: (run: string) => void }) {
  const lesson =
    e.kind === "lesson"
      ? e.data.lesson
      : e.kind === "diagnosis"
        ? e.data.diagnosis.lesson
        : e.kind === "attempt"
          ? (e.data.lesson ?? e.data.attempt?.lesson)
          : e.kind === "recovery"
            ? e.data.lesson
            : undefined;
  return (
    <div class="event-detail" data-detail>
      <dl>
        <dt>When</dt>
        <dd>{new Date(e.ts_ms).toLocaleString()}</dd>
        <dt>Run</dt>
        <dd>
          <button class="link mono" onClick={() => onOpenRun(e.run_id)}>
            {e.run_id}
          </button>{" "}
          ({e.job}
          {e.step ? ` › ${e.step}` : ""})
        </dd>
        {e.agent && (
          <>
            <dt>Agent</dt>
            <dd>
              <AgentBadge name={e.agent} />
            </dd>
          </>
        )}
        {lesson && (
          <>
            <dt>Lesson used</dt>
            <dd class="mono" data-lesson-used>
              {lesson}
            </dd>
          </>
        )}
      </dl>
      <pre class="mono">{JSON.stringify(e, null, 2)}</pre>
    </div>
  );
}

export function AuditLog({ initial, onToast, onOpenRun }: { initial: AuditFilter | null; onToast: (t: Toast) => void; onOpenRun: (run: string) => void }) {
  const [since, setSince] = useState(initial?.since_ms != null ? "custom" : "24h");
  const [f, setF] = useState<AuditFilter>(initial ?? {});
  const [rows, setRows] = useState<Event[] | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Every agent the journal has seen, for the picker.
  const [agents, setAgents] = useState<AgentSeen[]>([]);

  useEffect(() => {
    api.agents(null).then(setAgents, (e) => setError(errorText(e)));
  }, []);

  useEffect(() => {
    if (initial) {
      setF(initial);
      setSince(initial.since_ms != null ? "custom" : "all");
    }
  }, [initial]);

  const filter = (): AuditFilter => {
    const s = SINCE.find((x) => x.id === since);
    return { ...f, since_ms: since === "custom" ? f.since_ms ?? null : s?.ms != null ? Date.now() - s.ms : null, limit: 500 };
  };
  useEffect(() => {
    const t = window.setTimeout(() => {
      api.audit(filter()).then(
        (r) => (setRows(r.reverse()), setError(null), setOpen(null)),
        (e) => setError(errorText(e)),
      );
    }, 150);
    return () => clearTimeout(t);
  }, [f, since]);

  const text = (k: keyof AuditFilter) => (e: globalThis.Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value || null });
  return (
    <section class="audit" data-screen="audit">
      <div class="audit-bar">
        <select aria-label="Since" value={since} onChange={(e) => setSince((e.target as HTMLSelectElement).value)}>
          {since === "custom" && <option value="custom">the chart's window</option>}
          {SINCE.map((s) => (
            <option key={s.id} value={s.id}>
              {s.label}
            </option>
          ))}
        </select>
        <input aria-label="Job" placeholder="job" value={f.job ?? ""} onInput={text("job")} />
        <input aria-label="Tool" placeholder="tool" value={f.tool ?? ""} onInput={text("tool")} />
        <input aria-label="Code" placeholder="error code" value={f.code ?? ""} onInput={text("code")} />
        <select aria-label="Level" value={f.level ?? ""} onChange={(e) => setF({ ...f, level: ((e.target as HTMLSelectElement).value || null) as Level | null })}>
          <option value="">any level</option>
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l} and up
            </option>
          ))}
        </select>
        <select aria-label="Kind" value={f.kind ?? ""} onChange={(e) => setF({ ...f, kind: ((e.target as HTMLSelectElement).value || null) as EventKind | null })}>
          <option value="">any kind</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k.replace("_", " ")}
            </option>
          ))}
        </select>
        {(agents.length > 0 || f.agent) && (
          <select aria-label="Agent" value={f.agent ?? ""} onChange={(e) => setF({ ...f, agent: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any agent or job</option>
            {agentChoices(agents, f.agent ?? null).map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        )}
        <input class="search" type="search" aria-label="Text" placeholder="text in the message or data" value={f.text ?? ""} onInput={text("text")} />
        <button
          onClick={() =>
            api.auditExport({ ...filter(), limit: 0 }).then(
              (path) => onToast({ tone: "ok", text: `Exported to ${path}` }),
              (e) => onToast(failed(e)),
            )
          }
        >
          Export JSON lines
        </button>
      </div>
      {error && <div class="notice error">{error}</div>}
      {rows === null ? (
        <div class="state muted">Loading…</div>
      ) : rows.length === 0 ? (
        <div class="state muted">No event matches.</div>
      ) : (
        <table class="events">
          <thead>
            <tr>
              <th>time</th>
              <th>level</th>
              <th>kind</th>
              <th>job › step</th>
              <th>tool</th>
              <th>code</th>
              <th>message</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e, i) => [
              <tr key={i} class={`ev ${e.level}${open === i ? " open" : ""}`} data-kind={e.kind} onClick={() => setOpen(open === i ? null : i)}>
                <td class="mono">{clock(e.ts_ms)}</td>
                <td>{e.level}</td>
                <td>{e.kind.replace("_", " ")}</td>
                <td>
                  {e.job}
                  {e.step ? ` › ${e.step}` : ""}
                  {e.agent && <AgentBadge name={e.agent} />}
                </td>
                <td class="mono">{e.tool ?? ""}</td>
                <td class="mono">{e.code ?? ""}</td>
                <td>{e.message}</td>
              </tr>,
              open === i && (
                <tr key={`${i}-d`} class="ev-detail">
                  <td colSpan={7}>
                    <Detail e={e} onOpenRun={onOpenRun} />
                  </td>
                </tr>
              ),
            ])}
          </tbody>
        </table>
      )}
      {rows && rows.length >= 500 && <p class="muted">Showing the newest 500; narrow the filters or export to see all.</p>}
    </section>
  );
}
