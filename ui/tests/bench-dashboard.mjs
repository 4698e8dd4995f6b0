// The dashboard's render time (BENCHMARKS.md): the built UI in Chromium,
// fed the 7-day view of a million-event journal (written by
// `cargo bench -p mend-journal --bench dashboard` with MEND_DASHBOARD_JSON),
// from the click on the tab to the charts drawn. Run by
// scripts/bench-dashboard.sh; prints a markdown table.
import { readFile } from "node:fs/promises";
import { browser, open, serve } from "./support.mjs";

const file = process.env.MEND_DASHBOARD_JSON;
if (!file) throw new Error("set MEND_DASHBOARD_JSON to the view the journal benchmark wrote");
const dashboard = JSON.parse(await readFile(file, "utf8"));
const rounds = Number(process.env.MEND_BENCH_ROUNDS ?? 10);
const srv = await serve();
const b = await browser();
const clicks = [];
const inPage = [];
for (let i = 0; i < rounds; i++) {
  const p = await open(b, srv.url, "index.html", { dashboard });
  await p.waitForSelector('[data-tab="dashboard"]');
  // As a person would: the app has been open a moment (it warms the charts when idle).
  await p.waitForTimeout(600);
  const ms = await p.evaluate(async () => {
    const t0 = performance.now();
    document.querySelector('[data-tab="dashboard"]').click();
    // Drawn: every chart's canvas exists and two frames have been painted.
    while (!document.querySelector("[data-rendered-ms]")) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return { total: performance.now() - t0, own: Number(document.querySelector("[data-rendered-ms]").dataset.renderedMs) };
  });
  clicks.push(ms.total);
  inPage.push(ms.own);
  await p.context().close();
}
await b.close();
srv.close();
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);
const s = dashboard.series;
console.log(`| measure | median | max | target |\n| --- | --- | --- | --- |`);
console.log(`| click on Dashboard → charts drawn (7 days of a 1M-event journal: ${s.buckets_ms.length} buckets, ${s.by_code_action.length} lines, ${s.ttr_ms.length} recoveries), ${rounds} rounds | ${med(clicks).toFixed(0)} ms | ${max(clicks).toFixed(0)} ms | < 200 ms |`);
console.log(`| of which data in → drawn (the page's own mark) | ${med(inPage).toFixed(0)} ms | ${max(inPage).toFixed(0)} ms | |`);
