// The memory, dashboard and audit screens in a real browser against the
// built UI, with the shell mocked (mockIPC): what each shows, what each
// sends to the shell, and screenshots.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AGENTS, agentAudit, dashboard as dashboardView, gooseDashboard } from "../test-dist/fixtures.js";
import { browser, calls, open, serve, shot } from "./support.mjs";

let srv, b;
before(async () => {
  srv = await serve();
  b = await browser();
});
after(async () => {
  await b?.close();
  srv?.close();
});

const lesson = (over) => ({
  id: "x",
  section: "HTTP services",
  text: "text",
  tool: "http",
  code: "RATE_LIMITED",
  matches: [],
  fix: "retry_same",
  fix_args: null,
  seen: 1,
  last: "2026-11-20",
  outcome: "healed",
  failures: 0,
  line: 5,
  trusted: true,
  flagged: false,
  runs: [],
  ...over,
});

const TEXT = "# Mend memory\n\n## HTTP services\n\n- A 429 means slow down.\n  - id: http-rate-limit\n\n## Files\n\n- Near-miss paths.\n  - id: fs-near-miss\n- Near-miss paths.\n  - id: fs-dup\n";
const memory = {
  path: "/data/MEMORY.md",
  version: "00000000000000aa",
  text: TEXT,
  sections: [
    {
      title: "HTTP services",
      lessons: [
        lesson({ id: "http-rate-limit", text: "A 429 means the service wants fewer requests: wait, then retry.", seen: 12, runs: ["run-aaaaaaaa1", "run-bbbbbbbb2"] }),
        lesson({ id: "http-connection-refused-4704", text: "CONNECTION_REFUSED on 127.0.0.1:9: use the mirror.", code: "CONNECTION_REFUSED", matches: ["127.0.0.1:9"], fix: "use_alternative", fix_args: '{"index":0}', line: 9 }),
      ],
    },
    {
      title: "Files",
      lessons: [
        lesson({ id: "fs-near-miss", section: "Files", text: "Near-miss paths.", tool: "fs", code: "NOT_FOUND", fix: "retry_modified", line: 11 }),
        lesson({ id: "fs-dup", section: "Files", text: "Near-miss paths.", tool: "fs", code: "NOT_FOUND", fix: "retry_modified", line: 13, flagged: true, failures: 3, trusted: false, outcome: "failed" }),
      ],
    },
  ],
  findings: [
    { kind: "duplicate", line: 13, lesson: "fs-dup", other: "fs-near-miss", message: "duplicate of lesson fs-near-miss (line 11): the same failure and fix" },
    { kind: "failing", line: 13, lesson: "fs-dup", other: null, message: "lesson fs-dup is failing: its fix did not work the last 3 times" },
    { kind: "problem", line: 2, lesson: null, other: null, message: "fix: unknown action `retry_later`" },
  ],
};

test("memory: sections, lessons and provenance; search as you type highlights matches", async () => {
  const hits = { mirror: [{ id: "http-connection-refused-4704", section: "HTTP services", snippet: "CONNECTION_REFUSED on 127.0.0.1:9: use the mirror.", highlights: [[43, 49]] }] };
  const p = await open(b, srv.url, "index.html", { memory, hits });
  await p.click('[data-tab="memory"]');
  await p.waitForSelector('[data-screen="memory"] .mem-section');
  assert.deepEqual(await p.$$eval(".mem-section h3", (els) => els.map((e) => e.textContent)), ["HTTP services", "Files"]);
  await p.click('button.lesson[data-lesson="http-rate-limit"]');
  const prov = await p.textContent(".provenance");
  assert.match(prov, /Seen12 times/);
  assert.match(prov, /Last seen2026-11-20/);
  assert.match(prov, /Last outcomehealed/);
  assert.match(prov, /trusted/);
  assert.match(prov, /run-aaaa.*run-bbbb/);
  await shot(p, "memory.png");

  await p.fill('input[aria-label="Search lessons"]', "mirror");
  await p.waitForSelector("ul.hits mark");
  assert.equal(await p.textContent("ul.hits mark"), "mirror");
  const args = (await calls(p, "memory_search")).at(-1);
  assert.equal(args.query, "mirror");
  // Filters go with the query.
  await p.selectOption('select[aria-label="State"]', "flagged");
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "memory_search" && c.args.state === "flagged"));
  assert.deepEqual(p.errors, []);
});

test("memory: the form writes the convention's fields, and edits name the version they are based on", async () => {
  const p = await open(b, srv.url, "index.html", { memory });
  await p.click('[data-tab="memory"]');
  await p.click("text=New lesson");
  await p.fill('textarea[name="text"]', "The shop API's 503s clear after a deploy: retry.");
  await p.fill('input[name="section"]', "shop API");
  await p.fill('input[name="tool"]', "http");
  await p.fill('input[name="code"]', "server_error");
  await p.fill('textarea[name="matches"]', "api.shop.example");
  await p.selectOption('select[name="fix"]', "retry_same");
  await p.click("text=Add lesson");
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "memory_save"));
  const [save] = await calls(p, "memory_save");
  assert.equal(save.base, "00000000000000aa");
  assert.deepEqual(save.edit, {
    op: "add",
    section: "shop API",
    lesson: { id: null, text: "The shop API's 503s clear after a deploy: retry.", tool: "http", code: "server_error", matches: ["api.shop.example"], fix: "retry_same", fix_args: null },
  });
  await p.waitForSelector(".toast");
  assert.match(await p.textContent(".toast"), /Added the lesson/);

  // A new section, asked inline.
  await p.click("text=New section");
  await p.fill('input[aria-label="New section title"]', "Databases");
  await p.click('.inline-form button[type="submit"]');
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "memory_save").length === 2);
  assert.deepEqual((await calls(p, "memory_save"))[1].edit, { op: "add_section", title: "Databases" });
  // Deleting asks first, in the page.
  await p.click('button[aria-label="Delete section Files"]');
  await p.click("text=Delete it and its 2 lessons");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "memory_save").length === 3);
  assert.deepEqual((await calls(p, "memory_save"))[2].edit, { op: "delete_section", title: "Files" });

  // Edit keeps the id; move sends the section.
  await p.click('button.lesson[data-lesson="http-rate-limit"]');
  await p.selectOption('select[aria-label="Move to section"]', "Files");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "memory_save").length === 4);
  assert.deepEqual((await calls(p, "memory_save"))[3].edit, { op: "move", id: "http-rate-limit", section: "Files" });
});

test("memory: findings offer merge, delete and open at the line (raw mode at that line)", async () => {
  const p = await open(b, srv.url, "index.html", { memory });
  await p.click('[data-tab="memory"]');
  const kinds = await p.$$eval(".findings li", (els) => els.map((e) => e.getAttribute("data-kind")));
  assert.deepEqual(kinds, ["duplicate", "failing", "problem"]);
  await p.click('.findings li[data-kind="duplicate"] >> text=Merge');
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "memory_save"));
  assert.deepEqual((await calls(p, "memory_save"))[0].edit, { op: "merge", keep: "fs-near-miss", drop: "fs-dup" });
  await p.click('.findings li[data-kind="problem"] >> text=Open at line 2');
  await p.waitForSelector("textarea.raw-editor");
  const caret = await p.$eval("textarea.raw-editor", (t) => t.value.slice(0, t.selectionStart).split("\n").length);
  assert.equal(caret, 2, "the caret is on the finding's line");
  // Raw mode saves the whole file on the version it was loaded as.
  await p.$eval("textarea.raw-editor", (t) => {
    t.value = t.value + "- A new lesson typed by hand.\n";
    t.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await p.click("text=Save file");
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "memory_raw"));
  const [raw] = await calls(p, "memory_raw");
  assert.equal(raw.base, "00000000000000aa");
  assert.ok(raw.text.endsWith("- A new lesson typed by hand.\n"));
});

test("memory: a conflict shows both versions and nothing is lost", async () => {
  const theirs = TEXT.replace("A 429 means slow down.", "A 429 means slow down (edited in vim).");
  const ours = TEXT.replace("A 429 means slow down.", "A 429 means slow down, then retry.");
  const p = await open(b, srv.url, "index.html", {
    memory,
    saveResults: [{ result: "conflict", theirs, ours, reason: "lesson `http-rate-limit` was changed elsewhere" }],
  });
  await p.click('[data-tab="memory"]');
  await p.click('button.lesson[data-lesson="http-rate-limit"]');
  await p.click(".lesson-card >> text=Edit");
  await p.fill('textarea[name="text"]', "A 429 means slow down, then retry.");
  await p.click("text=Save lesson");
  await p.waitForSelector(".memory.conflict");
  assert.equal(await p.$eval('textarea[data-version="theirs"]', (t) => t.value), theirs);
  assert.equal(await p.$eval('textarea[data-version="ours"]', (t) => t.value), ours);
  assert.match(await p.textContent(".memory.conflict"), /changed elsewhere/);
  await shot(p, "memory-conflict.png");
  await p.click("text=Use my version");
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "memory_raw"));
  const [raw] = await calls(p, "memory_raw");
  assert.equal(raw.text, ours, "the person's version is written over the file as it is now");
});

const H = 3_600_000;
const t0 = Math.floor(Date.now() / H) * H - 5 * H;
const dashboard = dashboardView(t0);

test("dashboard: the numbers, charts for each measure, a range picker, and click-through to the events", async () => {
  const audit = [
    { ts_ms: t0 + 10, run_id: "run-1", job: "nightly", step: "fetch", kind: "attempt", level: "info", tool: "http", code: "SERVER_ERROR", action: "retry_same", ok: true, message: "attempt 1 (retry_same, policy) fixed it" },
    { ts_ms: t0 + 20, run_id: "run-1", job: "nightly", step: "fetch", kind: "call", level: "warn", tool: "http", code: "SERVER_ERROR", ok: false, message: "call failed" },
  ];
  const p = await open(b, srv.url, "index.html", { dashboard, audit });
  await p.click('[data-tab="dashboard"]');
  await p.waitForSelector('[data-screen="dashboard"] .kpis');
  assert.match(await p.textContent('[data-kpi="autonomous"]'), /75%.*6 of 8/);
  assert.match(await p.textContent('[data-kpi="recovered"]'), /6.*1\.5 attempts each.*1\.2 s/);
  assert.match(await p.textContent('[data-kpi="escalations"]'), /2.*1 took the recommendation/);
  for (const id of ["success", "ttr", "attempts", "escalations", "took", "failing"]) {
    assert.equal(await p.$$eval(`[data-chart="${id}"] canvas`, (e) => e.length), 1, `chart ${id}`);
  }
  assert.match(await p.textContent('[data-chart="tokens"]'), /No LLM tokens/);
  assert.match(await p.textContent('[data-rate="SERVER_ERROR:retry_same"]'), /SERVER_ERROR.*retry_same.*6.*67%/);
  await shot(p, "dashboard.png");
  // The range picker asks for another window and bucket size.
  await p.selectOption('select[aria-label="Time range"]', "30d");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "dashboard").length === 2);
  const [first, second] = await calls(p, "dashboard");
  assert.equal(first.bucketMs, H * 6);
  assert.equal(second.bucketMs, H * 24);
  assert.ok(first.sinceMs > second.sinceMs);
  // Live: a finished run redraws.
  await p.evaluate(() => window.__mend.emit("run-event", { ts_ms: Date.now(), run_id: "r", job: "j", kind: "run_finished", level: "info", message: "done" }));
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "dashboard").length === 3);
  // A point of the failing chart opens the audit log on those events.
  const canvas = await p.$('[data-chart="failing"] canvas');
  await canvas.scrollIntoViewIfNeeded();
  // Charts below the fold are drawn once they scroll into view.
  await p.waitForFunction(() => document.querySelector('[data-chart="failing"] canvas').chart);
  const box = await canvas.boundingBox();
  const bar = await p.$eval('[data-chart="failing"] canvas', (c) => {
    const el = c.chart.getDatasetMeta(0).data[0];
    const r = c.getBoundingClientRect();
    return { x: (el.x + el.base) / 2 / (c.chart.width / r.width), y: el.y / (c.chart.height / r.height) };
  });
  await p.mouse.click(box.x + bar.x, box.y + bar.y);
  await p.waitForSelector('[data-screen="audit"]');
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "audit_events"));
  const f = (await calls(p, "audit_events")).at(-1).filter;
  assert.deepEqual([f.tool, f.code, f.kind], ["http", "SERVER_ERROR", "call"]);
  assert.deepEqual(p.errors, []);
});

test("audit log: filters, an event's full detail with the lesson used, export", async () => {
  const now = Date.now();
  const audit = [
    { ts_ms: now - 5000, run_id: "run-1", job: "nightly", step: "fetch", kind: "call", level: "warn", tool: "http", code: "CONNECTION_REFUSED", ok: false, message: "call `GET http://127.0.0.1:9/report` failed: CONNECTION_REFUSED", data: { args: { url: "http://127.0.0.1:9/report", token: "[REDACTED]" } } },
    { ts_ms: now - 4000, run_id: "run-1", job: "nightly", step: "fetch", kind: "diagnosis", level: "info", tool: "http", code: "CONNECTION_REFUSED", action: "use_alternative", message: "CONNECTION_REFUSED → use_alternative (lesson)", data: { diagnosis: { action: "use_alternative", index: 0, layer: "lesson", lesson: "http-connection-refused-4704", root_cause: "lesson" } } },
    { ts_ms: now - 3000, run_id: "run-2", job: "backup", step: "dump", kind: "call", level: "info", tool: "exec", ok: true, message: "call `pg_dump` success" },
  ];
  const p = await open(b, srv.url, "index.html", { audit });
  await p.click('[data-tab="audit"]');
  await p.waitForSelector("table.events tr.ev");
  assert.equal(await p.$$eval("table.events tr.ev", (e) => e.length), 3);
  await p.fill('input[aria-label="Tool"]', "http");
  await p.waitForFunction(() => document.querySelectorAll("table.events tr.ev").length === 2);
  assert.equal((await calls(p, "audit_events")).at(-1).filter.tool, "http");
  await p.click('table.events tr.ev[data-kind="diagnosis"]');
  await p.waitForSelector("[data-detail]");
  assert.equal(await p.textContent("[data-lesson-used]"), "http-connection-refused-4704");
  await shot(p, "audit.png");
  await p.click('table.events tr.ev[data-kind="call"]');
  assert.match(await p.textContent("[data-detail] pre"), /\[REDACTED\]/);
  await p.click("text=Export JSON lines");
  await p.waitForSelector(".toast");
  assert.match(await p.textContent(".toast"), /Exported to \/data\/exports\/mend-events-1\.jsonl/);
  const exp = (await calls(p, "audit_export")).at(-1).filter;
  assert.equal(exp.tool, "http");
  assert.equal(exp.limit, 0, "an export has every matching event");
  assert.deepEqual(p.errors, []);
});

test("dashboard: the agent picker asks for one agent's numbers and shows them; its events open filtered by it", async () => {
  const p = await open(b, srv.url, "index.html", { dashboard: dashboardView(t0), dashboardByAgent: { goose: gooseDashboard(t0) }, audit: agentAudit(Date.now()), agents: AGENTS });
  await p.click('[data-tab="dashboard"]');
  await p.waitForSelector('[data-screen="dashboard"] .kpis');
  await p.waitForSelector('select[aria-label="Agent"]');
  const options = await p.$$eval('select[aria-label="Agent"] option', (els) => els.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options, [
    ["", "Every agent and job"],
    ["goose", "goose (7 calls)"],
    ["claude-code", "claude-code (3 calls)"],
  ]);
  assert.match(await p.textContent('[data-kpi="calls"]'), /40.*9 failed/);
  assert.equal((await calls(p, "dashboard"))[0].agent, null, "every call's numbers at first");
  // The agents of the range, asked apart from the numbers.
  assert.ok(Math.abs((await calls(p, "agents_list"))[0].sinceMs - (Date.now() - 7 * 24 * H)) < 60_000, "the range's agents");

  await p.selectOption('select[aria-label="Agent"]', "goose");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "dashboard").length === 2);
  assert.equal((await calls(p, "dashboard"))[1].agent, "goose");
  await p.waitForFunction(() => document.querySelector('[data-kpi="calls"] b').textContent === "7");
  assert.match(await p.textContent('[data-kpi="calls"]'), /7.*4 failed/);
  assert.match(await p.textContent('[data-kpi="escalations"]'), /1.*1 waiting/);
  assert.match(await p.textContent('[data-rate="RATE_LIMITED:retry_same"]'), /RATE_LIMITED.*retry_same.*3.*100%/);
  assert.equal(await p.textContent("[data-agent-only] .agent-badge"), "goose");
  await shot(p, "dashboard-agent.png");

  // Another range keeps the agent.
  await p.selectOption('select[aria-label="Time range"]', "30d");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "dashboard").length === 3);
  const third = (await calls(p, "dashboard"))[2];
  assert.deepEqual([third.agent, third.bucketMs], ["goose", H * 24]);

  // A code opens its events in the audit log, the agent's only.
  await p.click('[data-rate="RATE_LIMITED:retry_same"] button');
  await p.waitForSelector('[data-screen="audit"]');
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "audit_events"));
  const f = (await calls(p, "audit_events")).at(-1).filter;
  assert.deepEqual([f.agent, f.code, f.kind], ["goose", "RATE_LIMITED", "attempt"]);
  assert.equal(await p.$eval('select[aria-label="Agent"]', (s) => s.value), "goose");

  // Back to every agent.
  await p.click('[data-tab="dashboard"]');
  await p.waitForSelector('select[aria-label="Agent"]');
  await p.selectOption('select[aria-label="Agent"]', "");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "dashboard").at(-1).args.agent === null);
  await p.waitForFunction(() => document.querySelector('[data-kpi="calls"] b').textContent === "40");
  assert.deepEqual(p.errors, []);
});

test("dashboard: no agent picker when no agent ever called", async () => {
  const p = await open(b, srv.url, "index.html", { dashboard });
  await p.click('[data-tab="dashboard"]');
  await p.waitForSelector('[data-screen="dashboard"] .kpis');
  assert.equal(await p.$('select[aria-label="Agent"]'), null);
});

test("audit log: the agent filter sends the agent; an agent's events carry its badge", async () => {
  const p = await open(b, srv.url, "index.html", { audit: agentAudit(Date.now()), agents: AGENTS });
  await p.click('[data-tab="audit"]');
  await p.waitForSelector("table.events tr.ev");
  await p.waitForSelector('select[aria-label="Agent"]');
  assert.equal(await p.$$eval("table.events tr.ev", (e) => e.length), 4);
  // Newest first: Claude Code's, goose's two, then Mend's own job without a badge.
  assert.deepEqual(await p.$$eval("table.events tr.ev", (rows) => rows.map((r) => r.querySelector(".agent-badge")?.textContent ?? null)), ["claude-code", "goose", "goose", null]);
  assert.deepEqual(await p.$$eval('select[aria-label="Agent"] option', (els) => els.map((o) => o.value)), ["", "goose", "claude-code"]);
  assert.deepEqual(await calls(p, "agents_list"), [{ sinceMs: null }], "every agent ever seen");

  await p.selectOption('select[aria-label="Agent"]', "goose");
  await p.waitForFunction(() => document.querySelectorAll("table.events tr.ev").length === 2);
  assert.equal((await calls(p, "audit_events")).at(-1).filter.agent, "goose");
  await p.click('table.events tr.ev[data-kind="call"]');
  await p.waitForSelector("[data-detail]");
  assert.match(await p.textContent("[data-detail] dl"), /Agent\s*goose/);
  await shot(p, "audit-agent.png");
  // The export is the same view.
  await p.click("text=Export JSON lines");
  await p.waitForSelector(".toast");
  assert.equal((await calls(p, "audit_export")).at(-1).filter.agent, "goose");
  // Any agent again.
  await p.selectOption('select[aria-label="Agent"]', "");
  await p.waitForFunction(() => document.querySelectorAll("table.events tr.ev").length === 4);
  assert.equal((await calls(p, "audit_events")).at(-1).filter.agent, null);
  assert.deepEqual(p.errors, []);
});
