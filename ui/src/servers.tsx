// The Servers screen (issue 16): each MCP server the config and the jobs
// declare, as the app's supervision sees it — its state, its tools, its
// calls and failures over the dashboard's ranges, its last stderr lines —
// with Disable / Enable / Restart.
import { useEffect, useState } from "preact/hooks";
import { api, errorText, events, failed } from "./api";
import { RANGES, RangePicker } from "./dashboard";
import type { IpcErrorCode, ServerStatus, ServerTool, ServerView } from "./ipc";

type Toast = { tone: "ok" | "error"; text: string; code?: IpcErrorCode };
type Busy = "restarting" | "disabling" | "enabling";

const hhmm = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/** A state in words, with its pill's tone. */
export function stateText(s: ServerStatus, busy?: Busy): { label: string; tone: string; why: string | null } {
  if (busy) return { label: `${busy}…`, tone: "run", why: null };
  switch (s.state) {
    case "never_started":
      return { label: "never started", tone: "", why: null };
    case "running":
      return { label: s.pid != null ? `running (pid ${s.pid})` : "running", tone: "ok", why: null };
    case "down":
      return { label: "down — starts again at its next call", tone: "bad", why: s.reason };
    case "disabled":
      return { label: s.until_ms != null ? `disabled until ${hhmm(s.until_ms)}` : "disabled by hand", tone: "warn", why: s.reason };
  }
}

function hints(t: ServerTool): string {
  const on = [t.read_only && "read-only", t.destructive && "destructive", t.idempotent && "idempotent"].filter(Boolean);
  return on.join(", ");
}

function Server({ s, busy, onAct }: { s: ServerView; busy?: Busy; onAct: (what: Busy, reason?: string) => void }) {
  const [reason, setReason] = useState("");
  const st = stateText(s.status, busy);
  const disabled = s.status.state === "disabled";
  return (
    <section class="panel server" data-server={s.name} data-state={busy ?? s.status.state}>
      <div class="server-head">
        <h3>
          {s.name} <span class={`pill ${st.tone}`}>{st.label}</span>
        </h3>
        <div class="server-actions">
          {disabled ? (
            <button data-act="enable" disabled={!!busy} onClick={() => onAct("enabling")}>
              Enable
            </button>
          ) : (
            <>
              <input aria-label={`Why disable ${s.name}`} placeholder="reason (optional)" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
              <button data-act="disable" class="danger" disabled={!!busy} onClick={() => onAct("disabling", reason)}>
                Disable
              </button>
            </>
          )}
          <button data-act="restart" disabled={!!busy || disabled} title={disabled ? "Enable it first" : "End its process and start it again"} onClick={() => onAct("restarting")}>
            Restart
          </button>
        </div>
      </div>
      {st.why && <div class="notice warn server-why">{st.why}</div>}
      <dl class="server-facts">
        <dt>{s.transport}</dt>
        <dd class="mono">{s.target}</dd>
        <dt>Declared in</dt>
        <dd class="mono">{s.declared_in ?? "the config"}</dd>
        {s.backup && (
          <>
            <dt>Backup</dt>
            <dd class="mono">{s.backup}</dd>
          </>
        )}
        <dt>Calls</dt>
        <dd data-calls>
          <b>{s.calls}</b> in this range, <b class={s.failures > 0 ? "error" : ""}>{s.failures}</b> failed
        </dd>
      </dl>
      <h4>Tools</h4>
      {s.tools.length > 0 ? (
        <ul class="server-tools">
          {s.tools.map((t) => (
            <li key={t.name} data-tool={t.name}>
              <span class="mono">{t.name}</span>
              {hints(t) && <span class={`pill ${t.destructive ? "bad" : t.read_only ? "ok" : ""}`}>{hints(t)}</span>}
              {t.description && <span class="sub muted">{t.description.split("\n")[0]}</span>}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted" data-tools-error>
          {s.tools_error ?? "It lists no tools."}
        </p>
      )}
      <h4>Last stderr lines</h4>
      {s.stderr.length > 0 ? <pre class="mono server-stderr">{s.stderr.join("\n")}</pre> : <p class="muted">Nothing on stderr.</p>}
    </section>
  );
}

export function ServersScreen({ onToast }: { onToast: (t: Toast) => void }) {
  const [range, setRange] = useState(RANGES[1]);
  const [list, setList] = useState<ServerView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<Record<string, Busy>>({});

  const load = () => {
    api.servers(Date.now() - range.ms).then(
      (v) => (setList(v), setError(null)),
      (e) => setError(errorText(e)),
    );
  };
  useEffect(() => {
    load();
    // Live: a run's calls change the counts and the states.
    let pending: number | null = null;
    const off = events.runEvent((e) => {
      if (e.tool === "mcp" && e.kind === "call" && pending == null) pending = window.setTimeout(() => ((pending = null), load()), 500);
    });
    const tick = window.setInterval(load, 15_000);
    return () => {
      off.then((f) => f());
      clearInterval(tick);
      if (pending != null) clearTimeout(pending);
    };
  }, [range]);

  const act = (name: string) => async (what: Busy, reason?: string) => {
    setBusy((b) => ({ ...b, [name]: what }));
    try {
      if (what === "disabling") {
        await api.serverDisable(name, reason?.trim() || null);
        onToast({ tone: "ok", text: `${name} disabled` });
      } else if (what === "enabling") {
        await api.serverEnable(name);
        onToast({ tone: "ok", text: `${name} enabled` });
      } else {
        const v = await api.serverRestart(name);
        onToast(
          v.status.state === "running"
            ? { tone: "ok", text: `${name} restarted` }
            : { tone: "error", text: `${name} did not start again: ${v.tools_error ?? stateText(v.status).label}` },
        );
      }
    } catch (e) {
      onToast(failed(e));
    } finally {
      setBusy((b) => {
        const rest = { ...b };
        delete rest[name];
        return rest;
      });
      load();
    }
  };

  return (
    <section class="servers" data-screen="servers">
      <div class="dash-bar">
        <RangePicker range={range} onChange={setRange} />
        <button onClick={load}>Refresh</button>
      </div>
      {error && <div class="notice error">{error}</div>}
      {list === null ? (
        <div class="state muted">Looking at the servers…</div>
      ) : list.length === 0 ? (
        <div class="state muted">No MCP servers are declared ([[mcp.servers]] in the config or a job).</div>
      ) : (
        <div class="server-list">
          {list.map((s) => (
            <Server key={s.name} s={s} busy={busy[s.name]} onAct={act(s.name)} />
          ))}
        </div>
      )}
    </section>
  );
}
