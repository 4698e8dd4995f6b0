// The approval popup: the waiting requests as a queue, the recommended
// option first and marked, keyboard first (Enter = recommended, digits pick
// others, Esc = decide later), free-text instructions, and "remember this
// decision" with an explicit scope.
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { AgentBadge } from "./agents";
import { api, errorText, events, failed } from "./api";
import { afterPaint, ago, applyTheme, clock } from "./format";
import type { ApprovalRequest, Event, IpcErrorCode, Pending, Remember } from "./ipc";
import "./style.css";

// `code`: an error's kind; a conflict or a request that is gone offers to reload the queue.
type Notice = { tone: "ok" | "warn" | "error"; text: string; code?: IpcErrorCode };

const SCOPES: { value: Remember | ""; label: string }[] = [
  { value: "", label: "Just this once" },
  { value: "step", label: "Always for this step of this job" },
  { value: "job", label: "Always for this job" },
  { value: "failure", label: "Always for this failure on this tool" },
  { value: "always", label: "Always, for every request of this kind" },
];

function kindLabel(r: ApprovalRequest): string {
  return r.kind === "before_run" ? "Before a destructive call" : r.kind === "in_doubt" ? "A call may have run" : "Healing stopped";
}

// The call as the gate read it, with the part that asks marked. The span is
// a UTF-8 byte range of `call` (Rust's), so it is cut on the encoded bytes.
function Call({ r }: { r: ApprovalRequest }) {
  if (!r.call) return null;
  const d = r.danger ?? null;
  let parts: [string, string, string] = [r.call, "", ""];
  if (d?.span) {
    const bytes = new TextEncoder().encode(r.call);
    const [a, b] = d.span;
    if (a < b && b <= bytes.length) {
      const dec = new TextDecoder();
      parts = [dec.decode(bytes.slice(0, a)), dec.decode(bytes.slice(a, b)), dec.decode(bytes.slice(b))];
    }
  }
  return (
    <section class="call">
      <h3>The call</h3>
      <pre class="mono call-text">
        {parts[0]}
        {parts[1] && <mark class="danger" title={d ? `rule ${d.rule}` : undefined}>{parts[1]}</mark>}
        {parts[2]}
      </pre>
      {d && (
        <p class="gate">
          <span class="pill bad">{d.category.replace(/_/g, " ")}</span> rule <code>{d.rule}</code>: {d.why}
          {d.command && (
            <>
              {" "}— in <code>{d.command}</code>
            </>
          )}
        </p>
      )}
    </section>
  );
}

function Attempts({ r }: { r: ApprovalRequest }) {
  if (r.attempts.length === 0) return null;
  return (
    <details class="attempts">
      <summary>
        {r.attempts.length} attempt{r.attempts.length === 1 ? "" : "s"} so far
      </summary>
      <ol>
        {r.attempts.map((a: any, i) => (
          <li key={i}>
            <span class="mono">{String(a.action ?? "")}</span>
            {a.layer ? <span class="muted"> · {String(a.layer)}</span> : null}
            <span class={a.status === "success" ? "pill ok" : "pill bad"}>{String(a.status ?? "")}</span>
            {a.code ? <span class="mono muted"> {String(a.code)}</span> : null}
          </li>
        ))}
      </ol>
    </details>
  );
}

/** A notice; one about a request decided or gone meanwhile offers to reload the queue. */
function NoticeLine({ notice, onReload, role }: { notice: Notice; onReload: () => void; role?: "status" }) {
  return (
    <div class={`notice ${notice.tone}`} role={role} data-code={notice.code}>
      {notice.text}
      {(notice.code === "conflict" || notice.code === "not_found") && (
        <button class="link" onClick={onReload}>
          Reload
        </button>
      )}
    </div>
  );
}

function Popup() {
  // A new popup window is handed the request that opened it, so it paints
  // before the queue is read.
  const [queue, setQueue] = useState<Pending[] | null>(() => {
    const first = (window as { __MEND_FIRST__?: Pending | null }).__MEND_FIRST__;
    return first ? [first] : null;
  });
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [note, setNote] = useState("");
  const [scope, setScope] = useState<Remember | "">("");
  const [busy, setBusy] = useState(false);
  const painted = useRef<string | null>(null);
  // Read at decision time: a key press can come before the next render.
  const noteRef = useRef("");
  const scopeRef = useRef<Remember | "">("");
  const current = queue?.[0]?.request ?? null;

  const load = useCallback(async () => {
    try {
      setQueue(await api.pending());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  const reload = () => (setNotice(null), load());

  useEffect(() => {
    load();
    const offs = [
      // The event carries the request: show it at once, then read the queue.
      events.approval((r: ApprovalRequest) => {
        setQueue((q) => (q?.some((p) => p.request.id === r.id) ? q : [...(q ?? []), { request: r, live: true }]));
        load();
      }),
      events.approvalsChanged(() => load()),
      events.runEvent((e: Event) => onRunEvent(e)),
    ];
    return () => offs.forEach((p) => p.then((off) => off()));
  }, []);

  // A request answered elsewhere (timeout policy, a remembered rule, the
  // command line) leaves the queue with a word on what happened.
  const onRunEvent = (e: Event) => {
    if (e.kind === "decision") {
      const by = e.data.decision.decided_by;
      if (by.by === "timeout") setNotice({ tone: "warn", text: `Nobody answered in time: the job's policy chose “${e.data.decision.option}”.` });
      else if (by.by === "policy") setNotice({ tone: "ok", text: `Answered by ${by.rule}.` });
      load();
    } else if (e.kind === "guardrail" && e.data.guardrail === "approval_timeout") {
      setNotice({ tone: "warn", text: "Nobody answered in time. The request stays pending: deciding it resumes the run." });
      load();
    }
  };

  useEffect(() => {
    if (current && painted.current !== current.id) {
      painted.current = current.id;
      setNote("");
      setScope("");
      noteRef.current = "";
      scopeRef.current = "";
      afterPaint(() => api.painted(current.id).catch(() => {}));
    }
  }, [current?.id]);

  const decide = async (option: string) => {
    if (!current || busy) return;
    setBusy(true);
    try {
      const res = await api.decide({ id: current.id, option, note: noteRef.current.trim() || null, remember: scopeRef.current || null, clicked_ms: Date.now() });
      const label = current.options.find((o) => o.id === option)?.label ?? option;
      const more = res.also_decided.length ? ` The rule also answered ${res.also_decided.length} other request(s).` : "";
      setNotice({ tone: "ok", text: `Decided: ${label}. ${res.resumed ? "The job goes on." : "Recorded."}${more}` });
      const rest = (queue ?? []).filter((p) => p.request.id !== current.id && !res.also_decided.includes(p.request.id));
      setQueue(rest);
      if (rest.length === 0) setTimeout(() => api.defer().catch(() => {}), 1200);
    } catch (e) {
      setNotice(failed(e));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const onKey = (k: KeyboardEvent) => {
      if (!current) {
        if (k.key === "Escape") api.defer();
        return;
      }
      const typing = (k.target as HTMLElement)?.tagName === "TEXTAREA" || (k.target as HTMLElement)?.tagName === "SELECT";
      if (k.key === "Escape") {
        k.preventDefault();
        api.defer();
      } else if (k.key === "Enter" && (!typing || k.ctrlKey || k.metaKey)) {
        k.preventDefault();
        decide(current.recommended);
      } else if (!typing && /^[1-9]$/.test(k.key)) {
        const o = current.options[Number(k.key) - 1];
        if (o) {
          k.preventDefault();
          decide(o.id);
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  if (error) return <div class="state error">Cannot read the waiting requests: {error}</div>;
  if (queue === null) return <div class="state">Loading…</div>;
  if (!current)
    return (
      <div class="popup-empty">
        {notice && <NoticeLine notice={notice} onReload={reload} />}
        <div class="state">
          <h2>Nothing waits for you</h2>
          <p class="muted">Mend will open this window when a job needs a decision.</p>
          <button onClick={() => api.defer()}>Close (Esc)</button>
        </div>
      </div>
    );

  const r = current;
  const failureScope = !!(r.tool && r.code);
  return (
    <main class="approval" data-request={r.id}>
      {notice && <NoticeLine notice={notice} onReload={reload} role="status" />}
      <header>
        <span class={`kind ${r.kind}`}>{kindLabel(r)}</span>
        {r.agent && <AgentBadge name={r.agent} title="The agent whose call waits for this decision" />}
        {queue.length > 1 && <span class="queue">1 of {queue.length} waiting</span>}
        {!queue[0].live && <span class="queue" title="Deciding resumes the run from this step">from an earlier session</span>}
      </header>
      <h1>{r.title}</h1>
      <p class="meta">
        <b>{r.job}</b> · step <b>{r.step}</b> · asked {ago(r.created_ms)} ({clock(r.created_ms)})
        {r.timeout_ms != null && <> · then {r.on_timeout} after {Math.round(r.timeout_ms / 1000)} s</>}
      </p>
      <Call r={r} />
      <section>
        <h3>What happened</h3>
        <p class="pre">{r.what_happened}</p>
      </section>
      <section>
        <h3>Diagnosis</h3>
        <p class="pre">{r.diagnosis}</p>
      </section>
      <section class="recommendation">
        <h3>Recommendation</h3>
        <p>{r.recommendation}</p>
      </section>
      <div class="options" role="group" aria-label="Options">
        {r.options.map((o, i) => (
          <button
            key={o.id}
            class={o.id === r.recommended ? "option recommended" : "option"}
            data-option={o.id}
            disabled={busy}
            onClick={() => decide(o.id)}
          >
            <kbd>{o.id === r.recommended ? "Enter" : i + 1}</kbd>
            <span class="label">
              {o.label}
              {o.id === r.recommended && <span class="badge">Recommended</span>}
            </span>
            <span class="detail">{o.detail}</span>
          </button>
        ))}
      </div>
      <Attempts r={r} />
      <label class="field">
        <span>Instructions (optional)</span>
        <textarea
          rows={2}
          value={note}
          placeholder="Anything the job or the next person should know"
          onInput={(e) => setNote((noteRef.current = (e.target as HTMLTextAreaElement).value))}
        />
      </label>
      <label class="field inline">
        <span>Remember this decision</span>
        <select value={scope} onChange={(e) => setScope((scopeRef.current = (e.target as HTMLSelectElement).value as Remember | ""))}>
          {SCOPES.map((s) => (
            <option key={s.value} value={s.value} disabled={s.value === "failure" && !failureScope}>
              {s.label}
            </option>
          ))}
        </select>
        {/* A rule made on an agent's request holds for that agent only. */}
        {r.agent && scope && <span class="muted scope-agent" data-scope-agent={r.agent}>for {r.agent} only</span>}
      </label>
      <footer class="hints muted">
        Enter takes the recommended option · 1–{r.options.length} pick · Esc decides later (the request stays pending)
      </footer>
    </main>
  );
}

applyTheme();
render(<Popup />, document.getElementById("app")!);
