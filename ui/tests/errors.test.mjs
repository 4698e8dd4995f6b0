// Issue 15: a command's error reaches the screens as `{ code, message,
// place? }` and each kind is shown as it should be: a conflict offers to
// reload, bad input names its place (a form field next to that field), not
// found says so, internal says it is a bug, unavailable just says why.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { browser, calls, open, request, serve } from "./support.mjs";

let srv, b;
before(async () => {
  srv = await serve();
  b = await browser();
});
after(async () => {
  await b?.close();
  srv?.close();
});

const popup = (state) => open(b, srv.url, "approval.html", state, { size: { width: 560, height: 680 } });
const t0 = Date.now() - 60_000;
const runs = [{ run_id: "run-1", job: "sleepy", started_ms: t0, finished_ms: null, status: "running", attempts: 0, job_path: "/jobs/sleepy.toml", pending_approvals: 0, decided: 0 }];
const jobs = { dir: "/jobs", jobs: [{ path: "/jobs/sync.toml", name: "sync", description: null, steps: 1, schedule: null, next_ms: null, error: null, running: false }], error: null };
const memory = {
  path: "/data/MEMORY.md",
  version: "00000000000000aa",
  text: "# Mend memory\n\n## HTTP\n",
  sections: [{ title: "HTTP", lessons: [] }],
  findings: [],
};

test("popup: a request decided elsewhere is a conflict that offers to reload the queue", async () => {
  const message = "request req-1 was already decided: `run` at 1; `mend runs resume run-1` goes on with that decision";
  const p = await popup({ pending: [{ request: request(), live: false }], fail: { approval_decide: { code: "conflict", message } } });
  await p.waitForSelector("main.approval");
  await p.keyboard.press("Enter");
  await p.waitForSelector('.notice.error[data-code="conflict"]');
  assert.match(await p.textContent(".notice.error"), /already decided: `run`.*reload to see what holds now/);
  const before = (await calls(p, "approvals_pending")).length;
  await p.evaluate(() => ((window.__mend.state.fail = {}), (window.__mend.state.pending = [])));
  await p.click('.notice.error button:text("Reload")');
  await p.waitForSelector(".popup-empty");
  assert.ok((await calls(p, "approvals_pending")).length > before, "the queue was read again");
  assert.equal(await p.$$eval(".notice.error", (e) => e.length), 0, "the notice went with the reload");
  assert.deepEqual(p.errors, []);
});

test("popup: a request that is gone says it was not found; a bad option names its place", async () => {
  const p = await popup({ pending: [{ request: request(), live: true }] });
  await p.waitForSelector("main.approval");
  await p.evaluate(() => (window.__mend.state.fail = { approval_decide: { code: "bad_input", message: "`skip` is not an option of request req-1", place: "option" } }));
  await p.keyboard.press("Enter");
  await p.waitForSelector('.notice.error[data-code="bad_input"]');
  assert.match(await p.textContent(".notice.error"), /is not an option of request req-1 \(at option\)/);
  assert.equal(await p.$$eval(".notice.error button", (e) => e.length), 0, "nothing to reload for a bad field");
  await p.evaluate(() => ((window.__mend.state.fail = {}), (window.__mend.state.pending = [])));
  await p.keyboard.press("Enter");
  await p.waitForSelector('.notice.error[data-code="not_found"]');
  assert.match(await p.textContent(".notice.error"), /^Not found: no approval request `req-1`/);
  assert.deepEqual(p.errors, []);
});

test("runs: a broken job file names its place, a bug says so, a conflict stays with Reload", async () => {
  const p = await open(b, srv.url, "index.html", {
    runs,
    jobs,
    fail: {
      job_start: { code: "bad_input", message: "/jobs/sync.toml:5:1: steps[0].tool: no tool named `htp`", place: "/jobs/sync.toml:5:1 steps[0].tool" },
      run_cancel: { code: "internal", message: "journal.sqlite3: disk I/O error" },
      run_rerun: { code: "conflict", message: "run run-1 is not running" },
    },
  });
  await p.waitForSelector('.detail[data-run="run-1"]');
  await p.click('.job:has-text("sync") button:text("Run")');
  await p.waitForSelector('.toast.error[data-code="bad_input"]');
  assert.equal(await p.textContent(".toast"), "/jobs/sync.toml:5:1: steps[0].tool: no tool named `htp`", "the place is in the message, said once");

  await p.click('.detail button:text("Cancel")');
  await p.waitForSelector('.toast.error[data-code="internal"]');
  assert.match(await p.textContent(".toast"), /^This is a bug in Mend: journal\.sqlite3: disk I\/O error/);

  // The run ended meanwhile: the window reloads on request.
  await p.evaluate(() => (window.__mend.state.runs = window.__mend.state.runs.map((r) => ({ ...r, status: "succeeded", finished_ms: Date.now() }))));
  await p.evaluate(() => window.__mend.calls.splice(0));
  await p.waitForSelector('.detail button:text("Cancel")');
  await p.evaluate(() => (window.__mend.state.fail.run_cancel = { code: "conflict", message: "run run-1 is not running" }));
  await p.click('.detail button:text("Cancel")');
  await p.waitForSelector('.toast.error[data-code="conflict"]');
  await new Promise((ok) => setTimeout(ok, 4300));
  assert.match(await p.textContent(".toast"), /is not running \(it changed meanwhile: reload/, "a conflict's toast waits for the person");
  await p.click('.toast button:text("Reload")');
  await p.waitForSelector('.detail button:text("Re-run")');
  assert.ok((await calls(p, "runs_list")).length > 0);
  assert.equal(await p.$$eval(".toast", (e) => e.length), 0);
  assert.deepEqual(p.errors, []);
});

test("memory: a refused field is shown at that field and the form stays open", async () => {
  const p = await open(b, srv.url, "index.html", { memory, fail: { memory_save: { code: "bad_input", message: "fix arguments: expected value at line 1 column 1", place: "fix_args" } } });
  await p.click('[data-tab="memory"]');
  await p.click("text=New lesson");
  await p.fill('textarea[name="text"]', "Retry the shop API.");
  await p.selectOption('select[name="fix"]', "retry_same");
  await p.fill('input[name="fix_args"]', "{oops");
  await p.click("text=Add lesson");
  await p.waitForSelector('.field-error[data-place="fix_args"]');
  assert.match(await p.textContent('label:has(input[name="fix_args"]) .field-error'), /fix arguments: expected value/);
  assert.equal(await p.$$eval(".toast", (e) => e.length), 0, "no toast: the field says it");
  assert.equal(await p.inputValue('input[name="fix_args"]'), "{oops", "the form keeps what was typed");
  // Fixed: saved, the form closes.
  await p.evaluate(() => (window.__mend.state.fail = {}));
  await p.fill('input[name="fix_args"]', "");
  await p.click("text=Add lesson");
  await p.waitForSelector(".toast.ok");
  assert.equal(await p.$$eval(".lesson-form", (e) => e.length), 0);
  assert.deepEqual(p.errors, []);
});

test("memory: an unavailable memory file says why, without calling it a bug", async () => {
  const p = await open(b, srv.url, "index.html", { fail: { memory_view: { code: "unavailable", message: "/data/MEMORY.md: permission denied" } } });
  await p.click('[data-tab="memory"]');
  await p.waitForSelector(".page .notice.error");
  assert.equal(await p.textContent(".page .notice.error"), "/data/MEMORY.md: permission denied");
});
