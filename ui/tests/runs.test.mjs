// The main window's runs view in a real browser against the built UI: the
// healing timeline of a run, live events, run actions, and empty states.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { browser, calls, open, serve, shot } from "./support.mjs";
import { guardrail, runEvents } from "../test-dist/fixtures.js";

let srv, b;
before(async () => {
  srv = await serve();
  b = await browser();
});
after(async () => {
  await b?.close();
  srv?.close();
});

const t0 = Date.now() - 60_000;

const runs = [
  { run_id: "run-1", job: "nightly-sync", started_ms: t0, finished_ms: t0 + 5200, status: "succeeded", attempts: 3, job_path: "/jobs/nightly.toml", pending_approvals: 0 },
  { run_id: "run-0", job: "backup", started_ms: t0 - 3_600_000, finished_ms: null, status: "waiting", attempts: 0, job_path: "/jobs/backup.toml", pending_approvals: 1 },
];
const events = { "run-1": runEvents(t0) };
const jobs = {
  dir: "/home/me/.local/share/mend/jobs",
  jobs: [
    { path: "/jobs/nightly.toml", name: "nightly-sync", description: null, steps: 2, schedule: "every 900 s", next_ms: Date.now() + 600_000, error: null, running: false },
    { path: "/jobs/broken.toml", name: "broken", description: null, steps: 0, schedule: null, next_ms: null, error: "/jobs/broken.toml:4:1: steps[0].tool: unknown tool `htp`", running: false },
  ],
  error: null,
};
const state = () => ({ runs, events, jobs, overview: { version: "0.1.0", journal: "/j", calls: 42, healed: 7, pending_approvals: 1, live_runs: 0 } });

test("a run's steps show every healing attempt as a timeline", async () => {
  const p = await open(b, srv.url, "index.html", state());
  await p.waitForSelector('.detail[data-run="run-1"]');
  const attempts = await p.$$eval('.step[data-step="fetch"] .tl.attempt', (els) => els.map((e) => e.textContent));
  assert.equal(attempts.length, 2);
  assert.match(attempts[0], /Attempt 1: retry_same.*policy.*did not fix it.*after waiting 500 ms/);
  assert.match(attempts[0], /SERVER_ERROR: 503 again/);
  assert.match(attempts[1], /Attempt 2: retry_modified.*lesson.*lesson http-5xx-longer.*fixed it/);
  const learned = await p.$$eval(".learned li", (els) => els.map((e) => `${e.getAttribute("data-change")}: ${e.textContent}`));
  assert.deepEqual(learned, ["confirmed: confirmed lesson `http-5xx-longer` healed SERVER_ERROR on `shop.example` (http) (seen 4 times)"]);
  assert.match(attempts[1], /changed timeout_ms: 2000 → 4000/);
  assert.match(await p.textContent('.step[data-step="fetch"]'), /Diagnosis: SERVER_ERROR → retry_same/);
  assert.match(await p.textContent('.step[data-step="fetch"]'), /Healed SERVER_ERROR in 2 attempt\(s\), 1\.7 s/);
  // A step that went well shows no timeline, just its status.
  assert.equal(await p.$$eval('.step[data-step="report"] .timeline', (e) => e.length), 0);
  assert.match(await p.textContent(".stats"), /42 calls.*7 healed by themselves/);
  assert.match(await p.textContent(".stats"), /1 decision waiting/);
  // Jobs: a broken file says where it is broken; a scheduled one when it runs next.
  assert.match(await p.textContent(".job.broken"), /broken\.toml:4:1: steps\[0\]\.tool/);
  assert.match(await p.textContent(".jobs"), /every 900 s · next/);
  await shot(p, "runs.png");
  assert.deepEqual(p.errors, []);
});

test("events stream into the open run as they happen", async () => {
  const p = await open(b, srv.url, "index.html", state());
  await p.waitForSelector('.detail[data-run="run-1"]');
  await p.evaluate((e) => window.__mend.emit("run-event", e), guardrail(t0 + 2000));
  await p.waitForSelector('.step[data-step="report"] .tl.guardrail');
  assert.match(await p.textContent('.step[data-step="report"]'), /Guardrail: attempt budget of the step reached/);
});

test("events streamed while the journal is read are kept, once each", async () => {
  // The journal answers late and has committed only the first three events;
  // the shell streams the fourth and a repeat of the third meanwhile.
  const st = { ...state(), eventsLagMs: 300, eventsStoredCount: 3 };
  const p = await open(b, srv.url, "index.html", st);
  const all = events["run-1"];
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "run_events"));
  await p.evaluate((evs) => {
    window.__mend.emit("run-event", evs[2]);
    window.__mend.emit("run-event", evs[3]);
  }, all);
  await p.waitForSelector('.step[data-step="fetch"] .tl.diagnosis');
  await p.waitForTimeout(400);
  const kinds = await p.$$eval('.step[data-step="fetch"] .tl', (els) => els.map((e) => e.className));
  assert.equal(kinds.filter((k) => k.includes("diagnosis")).length, 1, `${kinds}`);
  assert.equal(kinds.filter((k) => k.includes("call")).length, 1, `${kinds}`);
});

test("start, re-run, cancel and open go to the shell", async () => {
  const live = { ...runs[0], status: "running", finished_ms: null };
  const p = await open(b, srv.url, "index.html", { ...state(), runs: [live] });
  await p.waitForSelector('.detail[data-run="run-1"]');
  await p.click("text=Cancel");
  assert.deepEqual(await calls(p, "run_cancel"), [{ runId: "run-1" }]);
  await p.click("text=Open job file");
  assert.deepEqual(await calls(p, "job_open"), [{ path: "/jobs/nightly.toml" }]);
  await p.click('.job:not(.broken):not(.demo) button');
  assert.deepEqual(await calls(p, "job_start"), [{ path: "/jobs/nightly.toml" }]);
  assert.equal(await p.$eval(".job.broken button", (b) => b.disabled), true);
  await p.click("text=1 decision waiting");
  assert.equal((await calls(p, "approvals_show")).length, 1);

  const q = await open(b, srv.url, "index.html", state());
  await q.waitForSelector('.detail[data-run="run-1"]');
  await q.click("text=Re-run");
  assert.deepEqual(await calls(q, "run_rerun"), [{ runId: "run-1" }]);
  await q.click('button.run[data-run="run-0"]');
  await q.waitForSelector('.detail[data-run="run-0"]');
  await q.click(".detail-head >> text=Decide (1)");
  assert.equal((await calls(q, "approvals_show")).length, 1);
});

test("a run whose process ended shows why and can be resumed", async () => {
  const dead = { ...runs[0], status: "interrupted", finished_ms: t0 + 900, last_ms: t0 + 800, reason: "its process (process 4242 (mend run nightly.toml)) ended without closing the run while `rm -rf build` was running: it may have run" };
  const p = await open(b, srv.url, "index.html", { ...state(), runs: [dead] });
  await p.waitForSelector('.detail[data-run="run-1"] .interrupted');
  const text = await p.$eval(".detail .interrupted", (e) => e.textContent);
  assert.match(text, /Interrupted \(last heard of .+\): its process .*may have run\./, text);
  await p.click(".detail-head >> text=Resume");
  assert.deepEqual(await calls(p, "run_resume"), [{ runId: "run-1" }]);
  // A run that ended normally offers no resume.
  const q = await open(b, srv.url, "index.html", state());
  await q.waitForSelector('.detail[data-run="run-1"]');
  assert.equal(await q.$(".detail-head >> text=Resume"), null);
});

test("remembered decisions are listed in words and can be forgotten", async () => {
  const rules = [
    { id: "rule-a", scope: "job", job: "nightly-sync", step: "clean", kind: "before_run", option: "skip", created_ms: t0, note: "rebuilt nightly" },
    { id: "rule-b", scope: "failure", tool: "http", code: "RATE_LIMITED", kind: "escalation", option: "retry", created_ms: t0 },
  ];
  const p = await open(b, srv.url, "index.html", { ...state(), rules });
  await p.waitForSelector(".rules");
  const rows = await p.$$eval(".rule", (els) => els.map((e) => e.textContent));
  assert.match(rows[0], /skip for job nightly-sync, step clean, before a call runs/);
  assert.match(rows[0], /“rebuilt nightly”/);
  assert.match(rows[1], /retry for RATE_LIMITED on http, when healing stops/);
  await p.click('.rule[data-rule="rule-a"] button');
  assert.deepEqual(await calls(p, "rule_forget"), [{ id: "rule-a" }]);
  await p.waitForFunction(() => document.querySelectorAll(".rule").length === 1);
  await shot(p, "runs-rules.png");
});

test("a run of an agent's call carries the agent's badge; its remembered decisions say they are its only", async () => {
  const mcp = { run_id: "run-2", job: "files__write_file", started_ms: t0 + 10_000, finished_ms: t0 + 10_400, status: "succeeded", attempts: 1, job_path: null, agent: "Claude Desktop", pending_approvals: 0, decided: 0 };
  const rules = [{ id: "rule-c", scope: "always", kind: "before_run", option: "run", created_ms: t0, agent: "claude-code" }];
  const p = await open(b, srv.url, "index.html", { ...state(), runs: [mcp, ...runs], rules });
  await p.waitForSelector('button.run[data-run="run-2"]');
  assert.equal(await p.textContent('button.run[data-run="run-2"] .agent-badge'), "Claude Desktop");
  assert.equal(await p.$('button.run[data-run="run-1"] .agent-badge'), null, "Mend's own job has none");
  await p.click('button.run[data-run="run-2"]');
  await p.waitForSelector('.detail[data-run="run-2"]');
  assert.equal(await p.textContent(".detail-head h2 .agent-badge"), "Claude Desktop");
  assert.match(await p.textContent('.rule[data-rule="rule-c"]'), /run for every job, before a call runs, for claude-code only/);
  await shot(p, "runs-agent.png");
  assert.deepEqual(p.errors, []);
});

test("another process's run (an agent's call, a `mend run`) appears when the journal changes, and on the Runs tab", async () => {
  const p = await open(b, srv.url, "index.html", state());
  await p.waitForSelector('button.run[data-run="run-1"]');
  // Written by `mend mcp serve`: this app ran nothing, so no run event names it.
  const theirs = { run_id: "run-9", job: "standby__drop_table", started_ms: Date.now(), finished_ms: null, status: "running", attempts: 0, job_path: null, pending_approvals: 0, agent: "e2e-agent" };
  await p.evaluate((r) => (window.__mend.state.runs = [r, ...window.__mend.state.runs]), theirs);
  assert.equal(await p.$('button.run[data-run="run-9"]'), null, "not before the shell says the journal changed");
  await p.evaluate(() => window.__mend.emit("runs-changed", { last_event: 12 }));
  await p.waitForSelector('button.run[data-run="run-9"]');
  assert.match(await p.textContent('button.run[data-run="run-9"]'), /standby__drop_table/);
  // It ended, and the person opens the Runs tab from another screen: the tab reads the journal again.
  await p.evaluate(() => (window.__mend.state.runs = window.__mend.state.runs.map((r) => (r.run_id === "run-9" ? { ...r, status: "succeeded" } : r))));
  await p.click('[data-tab="servers"]');
  await p.click('[data-tab="runs"]');
  await p.waitForFunction(() => document.querySelector('button.run[data-run="run-9"] .pill')?.textContent === "succeeded");
  assert.deepEqual(p.errors, []);
});

test("a fresh install shows empty states and offers the demo", async () => {
  const p = await open(b, srv.url, "index.html", {});
  await p.waitForSelector(".state.empty");
  assert.match(await p.textContent(".state.empty"), /Nothing has run yet/);
  assert.match(await p.textContent(".jobs"), /No job files yet/);
  await p.click(".state.empty button");
  assert.equal((await calls(p, "demo_start")).length, 1);
  await shot(p, "runs-empty.png");
});

test("the runs view in the dark theme", async () => {
  const p = await open(b, srv.url, "index.html", state(), { dark: true });
  await p.waitForSelector('.detail[data-run="run-1"]');
  assert.equal(await p.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(20, 23, 28)");
  await shot(p, "runs-dark.png");
  // The theme toggle overrides the system's.
  await p.click("button.icon");
  assert.equal(await p.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(246, 247, 249)");
});
