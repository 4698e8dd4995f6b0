// The dashboard: whether healing works, in numbers (the same as
// `mend metrics`) and over time, with Chart.js — every call's, or one
// agent's (issue 17). Live while jobs run; any point opens the events
// behind it in the audit log.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { AgentBadge, agentChoices } from "./agents";
import { api, errorText, events } from "./api";
import { duration } from "./format";
import type { AgentSeen, AuditFilter, DashboardView } from "./ipc";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);
// Counts are whole numbers; the text follows the theme.
Chart.defaults.scales.linear.ticks.precision = 0;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.animation = false;
Chart.defaults.normalized = true;
Chart.defaults.plugins.legend.position = "bottom";
Chart.defaults.plugins.legend.labels.boxWidth = 12;
Chart.defaults.color = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#5d6673";

/** Draws one small chart off screen while the app is idle: the first chart
 * of a session pays for Chart.js's cold start (~50 ms), not the dashboard. */
export function warmCharts() {
  const canvas = document.createElement("canvas");
  canvas.width = 40;
  canvas.height = 30;
  const c = new Chart(canvas, { type: "line", data: { labels: ["a", "b"], datasets: [{ label: "x", data: [1, 2] }] }, options: { responsive: false } });
  c.destroy();
}

const HOUR = 3_600_000;
/** A time range of the screens that show one (dashboard, servers). */
export type Range = { id: string; label: string; ms: number; bucket: number };

/** The range picker the dashboard and the servers screen share. */
export function RangePicker({ range, onChange }: { range: Range; onChange: (r: Range) => void }) {
  return (
    <label>
      Range{" "}
      <select aria-label="Time range" value={range.id} onChange={(ev) => onChange(RANGES.find((r) => r.id === (ev.target as HTMLSelectElement).value) ?? RANGES[1])}>
        {RANGES.map((r) => (
          <option key={r.id} value={r.id}>
            {r.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export const RANGES: Range[] = [
  { id: "24h", label: "Last 24 hours", ms: 24 * HOUR, bucket: HOUR },
  { id: "7d", label: "Last 7 days", ms: 7 * 24 * HOUR, bucket: 6 * HOUR },
  { id: "30d", label: "Last 30 days", ms: 30 * 24 * HOUR, bucket: 24 * HOUR },
  { id: "90d", label: "Last 90 days", ms: 90 * 24 * HOUR, bucket: 3 * 24 * HOUR },
];
const COLORS = ["#2f7de1", "#1f9d6b", "#d9822b", "#c23b4b", "#7a5cc7", "#0f9fb5", "#8a8f98", "#b8a21f"];

function label(ms: number, bucket: number): string {
  const d = new Date(ms);
  return bucket >= 24 * HOUR
    ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit" });
}

/** Buckets of a sorted list of values, for a histogram. */
export function histogram(sorted: number[], bins = 10): { labels: string[]; counts: number[]; edges: number[] } {
  if (sorted.length === 0) return { labels: [], counts: [], edges: [] };
  const max = Math.max(sorted[sorted.length - 1], 1);
  const step = Math.max(1, Math.ceil(max / bins));
  const counts = new Array(Math.ceil((max + 1) / step)).fill(0);
  for (const v of sorted) counts[Math.min(counts.length - 1, Math.floor(v / step))] += 1;
  const edges = counts.map((_, i) => i * step);
  return { labels: edges.map((e) => (step === 1 ? `${e}` : `${e}–${e + step - 1}`)), counts, edges };
}

function ChartBox({ id, title, config, empty }: { id: string; title: string; config: ChartConfiguration | null; empty: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  // Charts below the fold are drawn when they scroll into view.
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    if (!canvas.current || visible) return;
    if (canvas.current.getBoundingClientRect().top < window.innerHeight) {
      setVisible(true);
      return;
    }
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setVisible(true));
    io.observe(canvas.current);
    return () => io.disconnect();
  }, [config != null, visible]);
  useEffect(() => {
    if (!canvas.current || !config || !visible) return;
    if (chart.current) {
      // Live updates: new data into the same chart, no re-creation.
      chart.current.data = config.data;
      chart.current.options = config.options ?? {};
      chart.current.update("none");
    } else {
      chart.current = new Chart(canvas.current, config);
      // Tests find the drawn elements through it.
      (canvas.current as unknown as { chart: Chart }).chart = chart.current;
    }
  }, [config, visible]);
  useEffect(() => () => chart.current?.destroy(), []);
  return (
    <section class="panel chart" data-chart={id}>
      <h3>{title}</h3>
      {config ? (
        <div class="chart-box">
          <canvas ref={canvas} />
        </div>
      ) : (
        <div class="state muted">{empty}</div>
      )}
    </section>
  );
}

const pct = (n: number) => `${Math.round(n * 100)}%`;

export function Dashboard({ onAudit }: { onAudit: (f: AuditFilter) => void }) {
  const [range, setRange] = useState(RANGES[1]);
  // null: every call's numbers; else only this agent's.
  const [agent, setAgent] = useState<string | null>(null);
  // The agents seen in the range: asked once per range, not at each live
  // redraw (it reads every agent event of the range; the numbers do not).
  const [agents, setAgents] = useState<AgentSeen[]>([]);
  const [view, setView] = useState<DashboardView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [renderedMs, setRenderedMs] = useState<number | null>(null);
  const since = useRef(0);

  const asked = useRef(0);
  // Only the newest answer is drawn: a slow one for an earlier pick is dropped.
  const seq = useRef(0);
  const load = () => {
    asked.current = performance.now();
    since.current = Date.now() - range.ms;
    const n = ++seq.current;
    api.dashboard(since.current, range.bucket, agent).then(
      (v) => {
        if (n !== seq.current) return;
        setView(v);
        setError(null);
      },
      (e) => n === seq.current && setError(errorText(e)),
    );
  };
  // The events behind a number are the picked agent's too.
  const audit = (f: AuditFilter) => onAudit(agent ? { ...f, agent } : f);
  // After the charts' own effects (children first): mark when it is painted.
  useEffect(() => {
    if (view) requestAnimationFrame(() => setRenderedMs(Math.round(performance.now() - asked.current)));
  }, [view]);
  useEffect(load, [range, agent]);
  useEffect(() => {
    api.agents(Date.now() - range.ms).then(setAgents, (e) => setError(errorText(e)));
  }, [range]);
  useEffect(() => {
    // Live: a run that ends changes the numbers.
    let pending: number | null = null;
    const off = events.runEvent((e) => {
      if ((e.kind === "run_finished" || e.kind === "recovery" || e.kind === "decision") && pending == null) {
        pending = window.setTimeout(() => ((pending = null), load()), 500);
      }
    });
    return () => {
      off.then((f) => f());
      if (pending != null) clearTimeout(pending);
    };
  }, [range, agent]);

  if (error) return <div class="notice error">{error}</div>;
  if (!view) return <div class="state muted">Loading the numbers…</div>;
  const { metrics: m, series: s } = view;
  const labels = s.buckets_ms.map((b) => label(b, s.bucket_ms));
  const window_ = (i: number): AuditFilter => ({ since_ms: s.buckets_ms[i], until_ms: s.buckets_ms[i] + s.bucket_ms });
  const click =
    (f: (i: number, dataset: number) => AuditFilter) =>
    (_: unknown, els: { index: number; datasetIndex: number }[]) => {
      if (els.length > 0) audit(f(els[0].index, els[0].datasetIndex));
    };

  const lines = s.by_code_action.filter((l) => l.attempts.some((a) => a > 0)).slice(0, 8);
  const successConfig: ChartConfiguration | null =
    lines.length === 0
      ? null
      : {
          type: "line",
          data: {
            labels,
            datasets: [
              ...lines.map((l, i) => ({
                label: `${l.code} → ${l.action}`,
                data: l.attempts.map((a, j) => (a > 0 ? Math.round((1000 * l.successes[j]) / a) / 10 : null)),
                borderColor: COLORS[i % COLORS.length],
                backgroundColor: COLORS[i % COLORS.length],
                spanGaps: true,
                tension: 0.2,
              })),
              {
                label: "recovered without a person",
                data: s.failed_first.map((n, j) => (n > 0 ? Math.round((1000 * s.autonomous[j]) / n) / 10 : null)),
                borderColor: "#8a8f98",
                borderDash: [6, 4],
                backgroundColor: "#8a8f98",
                spanGaps: true,
              },
            ],
          },
          options: {
            animation: false,
            responsive: true,
            scales: { y: { min: 0, max: 100, title: { display: true, text: "% fixed" } } },
            onClick: click((i, d) => (d < lines.length ? { ...window_(i), code: lines[d].code, kind: "attempt" } : { ...window_(i), kind: "recovery" })),
          },
        };
  const ttr = histogram(s.ttr_ms.map((x) => Math.round(x / 1000)));
  const ttrConfig: ChartConfiguration | null =
    ttr.counts.length === 0
      ? null
      : {
          type: "bar",
          data: { labels: ttr.labels.map((l) => `${l} s`), datasets: [{ label: "recoveries", data: ttr.counts, backgroundColor: "#1f9d6b" }] },
          options: { animation: false, plugins: { legend: { display: false } }, onClick: click(() => ({ since_ms: since.current, kind: "recovery" })) },
        };
  const att = histogram(s.recovery_attempts, 8);
  const attConfig: ChartConfiguration | null =
    att.counts.length === 0
      ? null
      : {
          type: "bar",
          data: { labels: att.edges.map((e) => `${e}`), datasets: [{ label: "recoveries", data: att.counts, backgroundColor: "#2f7de1" }] },
          options: { animation: false, plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: "attempts" } } } },
        };
  const took = histogram(s.decide_ms.map((x) => Math.round(x / 1000)));
  const tookConfig: ChartConfiguration | null =
    took.counts.length === 0
      ? null
      : {
          type: "bar",
          data: { labels: took.labels.map((l) => `${l} s`), datasets: [{ label: "decisions", data: took.counts, backgroundColor: "#0f9fb5" }] },
          options: { plugins: { legend: { display: false } }, onClick: click(() => ({ since_ms: since.current, kind: "decision" })) },
        };
  const escConfig: ChartConfiguration | null = s.escalations.every((x) => x === 0)
    ? null
    : {
        type: "bar",
        data: { labels, datasets: [{ label: "requests to a person", data: s.escalations, backgroundColor: "#d9822b" }] },
        options: { animation: false, plugins: { legend: { display: false } }, onClick: click((i) => ({ ...window_(i), kind: "escalation" })) },
      };
  const failing = m.top_failing;
  const failConfig: ChartConfiguration | null =
    failing.length === 0
      ? null
      : {
          type: "bar",
          data: { labels: failing.map((f) => `${f.tool} ${f.code}`), datasets: [{ label: "failed calls", data: failing.map((f) => f.calls), backgroundColor: "#c23b4b" }] },
          options: {
            indexAxis: "y",
            animation: false,
            plugins: { legend: { display: false } },
            onClick: click((i) => ({ since_ms: since.current, tool: failing[i].tool, code: failing[i].code, kind: "call" })),
          },
        };
  const tokConfig: ChartConfiguration | null = s.tokens.every((x) => x === 0)
    ? null
    : { type: "bar", data: { labels, datasets: [{ label: "tokens", data: s.tokens, backgroundColor: "#7a5cc7" }] }, options: { animation: false } };

  const e = m.escalations;
  return (
    <section class="dashboard" data-screen="dashboard">
      <div class="dash-bar">
        <RangePicker range={range} onChange={setRange} />
        {(agents.length > 0 || agent) && (
          <label>
            Agent{" "}
            <select aria-label="Agent" value={agent ?? ""} onChange={(ev) => setAgent((ev.target as HTMLSelectElement).value || null)}>
              <option value="">Every agent and job</option>
              {agentChoices(agents, agent).map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name} ({a.calls} call{a.calls === 1 ? "" : "s"})
                </option>
              ))}
            </select>
          </label>
        )}
        {agent && (
          <span class="muted" data-agent-only={agent}>
            only the calls of <AgentBadge name={agent} />
          </span>
        )}
        {renderedMs != null && <span class="muted" data-rendered-ms={renderedMs}>drawn in {renderedMs} ms</span>}
      </div>
      <div class="kpis">
        <div class="kpi" data-kpi="autonomous">
          <b>{m.healing.failed_first > 0 ? pct(m.healing.autonomous_rate) : "—"}</b>
          <span>of failures healed without a person ({m.healing.autonomous} of {m.healing.failed_first})</span>
        </div>
        <div class="kpi" data-kpi="calls">
          <b>{m.calls}</b>
          <span>tool calls, {m.failed_calls} failed</span>
        </div>
        <div class="kpi" data-kpi="recovered">
          <b>{m.recovery.recovered}</b>
          <span>
            recoveries, {m.recovery.attempts_avg.toFixed(1)} attempts each, median {duration(m.recovery.ttr_p50_ms)} (p95 {duration(m.recovery.ttr_p95_ms)})
          </span>
        </div>
        <div class="kpi" data-kpi="escalations">
          <b>{e.raised}</b>
          <span>
            requests to a person, {e.pending} waiting, {e.took_recommended} took the recommendation, median answer {duration(e.decide_p50_ms)}
          </span>
        </div>
        <div class="kpi" data-kpi="tokens">
          <b>{m.tokens}</b>
          <span>LLM tokens</span>
        </div>
      </div>
      <div class="charts">
        <ChartBox id="success" title="Fixed, by error code → action (%)" config={successConfig} empty="No healing attempts in this range." />
        <ChartBox id="ttr" title="Time to recover" config={ttrConfig} empty="No recoveries in this range." />
        <ChartBox id="attempts" title="Attempts per recovery" config={attConfig} empty="No recoveries in this range." />
        <ChartBox id="escalations" title="Requests to a person" config={escConfig} empty="Nobody was asked in this range." />
        <ChartBox id="took" title="How long people took to answer" config={tookConfig} empty="Nobody answered a request in this range." />
        <ChartBox id="failing" title="Top failing tools and codes" config={failConfig} empty="No failed calls in this range." />
        <ChartBox id="tokens" title="LLM tokens" config={tokConfig} empty="No LLM tokens spent (no model configured)." />
      </div>
      {e.by_option.length > 0 && (
        <section class="panel answers" data-table="answers">
          <h3>How requests were answered</h3>
          <table>
            <tbody>
              {e.by_option.map(([opt, n]) => (
                <tr key={opt}>
                  <td class="mono">{opt}</td>
                  <td>{n}</td>
                </tr>
              ))}
              {e.by_decider.map(([who, n]) => (
                <tr key={who}>
                  <td>by {who}</td>
                  <td>{n}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section class="panel rates" data-table="rates">
        <h3>Success by error code × action</h3>
        {m.by_code_action.length === 0 ? (
          <div class="state muted">No healing attempts in this range.</div>
        ) : (
          <table>
            <thead>
              <tr>
                <th>code</th>
                <th>action</th>
                <th>attempts</th>
                <th>fixed</th>
              </tr>
            </thead>
            <tbody>
              {m.by_code_action.map((r) => (
                <tr key={`${r.code}-${r.action}`} data-rate={`${r.code}:${r.action}`}>
                  <td>
                    <button class="link mono" onClick={() => audit({ since_ms: since.current, code: r.code, kind: "attempt" })}>
                      {r.code}
                    </button>
                  </td>
                  <td class="mono">{r.action}</td>
                  <td>{r.attempts}</td>
                  <td>{pct(r.rate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}
