// The approval popup in a real browser against the built UI: what it shows,
// the keyboard, remembered decisions, the queue, and a timeout notice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { browser, calls, open, request, serve, shot } from "./support.mjs";

let srv, b;
before(async () => {
  srv = await serve();
  b = await browser();
});
after(async () => {
  await b?.close();
  srv?.close();
});

const popup = (state, opts) => open(b, srv.url, "approval.html", state, { size: { width: 560, height: 680 }, ...opts });

test("the recommended option comes first, marked, with the diagnosis and attempts", async () => {
  const p = await popup({ pending: [{ request: request(), live: true }] });
  await p.waitForSelector("main.approval");
  const options = await p.$$eval(".option", (els) => els.map((e) => [e.dataset.option, e.classList.contains("recommended"), e.querySelector("kbd").textContent]));
  assert.deepEqual(options, [
    ["skip", true, "Enter"],
    ["run", false, "2"],
    ["abort", false, "3"],
  ]);
  assert.match(await p.textContent(".option.recommended"), /Recommended/);
  assert.match(await p.textContent("main"), /matches the destructive pattern/);
  assert.match(await p.textContent("main"), /Destructive calls wait for a person/);
  assert.match(await p.textContent(".attempts summary"), /2 attempts so far/);
  await p.click(".attempts summary");
  assert.match(await p.textContent(".attempts ol"), /retry_same/);
  // Painted marks are reported for the popup-latency benchmark.
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "ui_painted"));
  assert.equal((await calls(p, "ui_painted"))[0].request, "req-1");
  await shot(p, "approval-popup.png");
  assert.deepEqual(p.errors, []);
});

test("the part of the call the gate named is highlighted, with its rule and category", async () => {
  // `span` is a UTF-8 byte range (Rust's): "é" is two bytes, so a UTF-16
  // slice would be off by one.
  const danger = { category: "bulk_deletion", rule: "rm -r", command: "rm -rf staging", why: "deletes whole directory trees", span: [11, 25] };
  const p = await popup({ pending: [{ request: request({ call: "echo é && rm -rf staging; ls", danger }), live: true }] });
  await p.waitForSelector("main.approval .call");
  assert.equal(await p.textContent(".call mark.danger"), "rm -rf staging");
  assert.equal(await p.textContent(".call-text"), "echo é && rm -rf staging; ls");
  const gate = await p.textContent(".call .gate");
  assert.match(gate, /bulk deletion/);
  assert.match(gate, /rm -r/);
  assert.match(gate, /deletes whole directory trees/);
  await shot(p, "approval-popup-danger.png");
  assert.deepEqual(p.errors, []);
});

test("a call without a placed span is shown whole, unmarked", async () => {
  const danger = { category: "unknown", rule: "eval", command: "eval $X", why: "cannot tell what it runs", span: null };
  const p = await popup({ pending: [{ request: request({ call: "eval $X", danger }), live: true }] });
  await p.waitForSelector("main.approval .call");
  assert.equal(await p.$(".call mark.danger"), null);
  assert.equal(await p.textContent(".call-text"), "eval $X");
  assert.deepEqual(p.errors, []);
});

test("Enter takes the recommended option and the instructions go with it", async () => {
  const p = await popup({ pending: [{ request: request(), live: true }] });
  await p.waitForSelector("main.approval");
  await p.fill("textarea", "staging is rebuilt nightly");
  await p.keyboard.press("Control+Enter");
  await p.waitForSelector(".notice.ok");
  const [d] = await calls(p, "approval_decide");
  assert.equal(d.input.id, "req-1");
  assert.equal(d.input.option, "skip");
  assert.equal(d.input.note, "staging is rebuilt nightly");
  assert.equal(d.input.remember, null);
  assert.ok(d.input.clicked_ms > 0);
  assert.match(await p.textContent(".notice.ok"), /Decided: Skip this step/);
  // The queue is empty: the popup says so and hides itself.
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "approval_defer"), null, { timeout: 5000 });
});

test("digits pick the other options; Esc defers without deciding", async () => {
  const p = await popup({ pending: [{ request: request(), live: true }, { request: request({ id: "req-2", title: "Second" }), live: false }] });
  await p.waitForSelector("main.approval");
  assert.match(await p.textContent(".approval header"), /1 of 2 waiting/);
  await p.keyboard.press("3");
  await p.waitForSelector('main.approval[data-request="req-2"]');
  assert.equal((await calls(p, "approval_decide"))[0].input.option, "abort");
  // The second came from an earlier session: the popup says deciding resumes it.
  assert.match(await p.textContent(".approval header"), /from an earlier session/);
  await p.keyboard.press("Escape");
  assert.equal((await calls(p, "approval_defer")).length, 1);
  assert.equal((await calls(p, "approval_decide")).length, 1);
  // A digit with no option is ignored.
  await p.keyboard.press("9");
  assert.equal((await calls(p, "approval_decide")).length, 1);
});

test("remember this decision sends the scope; the rule also answers matching requests", async () => {
  const p = await popup({
    pending: [
      { request: request({ kind: "escalation", code: "SERVER_ERROR", recommended: "retry", options: [{ id: "retry", label: "Retry", choice: { do: "retry" }, detail: "Once more." }, { id: "skip", label: "Skip", choice: { do: "skip" }, detail: "" }] }), live: true },
      { request: request({ id: "req-2" }), live: true },
      { request: request({ id: "req-3", job: "other-job", title: "Other job's request" }), live: true },
    ],
  });
  await p.waitForSelector("main.approval");
  await p.selectOption("select", "job");
  await p.click('.option[data-option="skip"]');
  await p.waitForSelector('main.approval[data-request="req-3"]');
  const [d] = await calls(p, "approval_decide");
  assert.equal(d.input.remember, "job");
  assert.match(await p.textContent(".notice.ok"), /also answered 1 other request/);
  // Typing in the instructions does not trigger shortcuts.
  await p.click("textarea");
  await p.keyboard.press("2");
  assert.equal((await calls(p, "approval_decide")).length, 1);
  assert.equal(await p.inputValue("textarea"), "2");
});

test("the failure scope is offered only for a failure on a tool", async () => {
  const p = await popup({ pending: [{ request: request({ tool: null, code: null }), live: true }] });
  await p.waitForSelector("main.approval");
  assert.equal(await p.$eval('option[value="failure"]', (o) => o.disabled), true);
  const q = await popup({ pending: [{ request: request({ code: "NON_ZERO_EXIT" }), live: true }] });
  await q.waitForSelector("main.approval");
  assert.equal(await q.$eval('option[value="failure"]', (o) => o.disabled), false);
});

test("a request answered by the timeout policy leaves with a word on what happened", async () => {
  const p = await popup({ pending: [{ request: request({ timeout_ms: 30000, on_timeout: "skip" }), live: true }] });
  await p.waitForSelector("main.approval");
  assert.match(await p.textContent(".meta"), /then skip after 30 s/);
  await p.evaluate(() => {
    window.__mend.state.pending = [];
    return window.__mend.emit("run-event", {
      ts_ms: Date.now(), run_id: "run-1", job: "nightly-sync", step: "clean-staging", kind: "decision", level: "info",
      message: "timeout chose `skip`", data: { request: "req-1", decision: { option: "skip", decided_by: { by: "timeout" }, decided_ms: Date.now() } },
    });
  });
  await p.waitForSelector(".notice.warn");
  assert.match(await p.textContent(".notice.warn"), /Nobody answered in time: the job's policy chose “skip”/);
  await p.waitForSelector(".popup-empty");
});

test("an error from the shell is shown, and the request stays", async () => {
  const p = await popup({ pending: [{ request: request({ options: [...request().options] }), live: true }] });
  await p.waitForSelector("main.approval");
  await p.evaluate(() => (window.__mend.state.pending = []));
  await p.keyboard.press("Enter");
  await p.waitForSelector(".notice.error");
  assert.match(await p.textContent(".notice.error"), /no approval request `req-1`/);
  assert.equal(await p.getAttribute("main.approval", "data-request"), "req-1");
});

test("a request announced while the popup is open shows up at once", async () => {
  const p = await popup({ pending: [] });
  await p.waitForSelector(".popup-empty");
  await p.evaluate((r) => {
    window.__mend.state.pending = [{ request: r, live: true }];
    return window.__mend.emit("approval", r);
  }, request({ id: "req-9", title: "Announced" }));
  await p.waitForSelector('main.approval[data-request="req-9"]');
  assert.equal(await p.textContent("main.approval h1"), "Announced");
  await p.waitForFunction(() => window.__mend.calls.some((c) => c.cmd === "ui_painted" && c.args.request === "req-9"));
});

test("a request of an agent's call shows the agent; a decision remembered on it is the agent's only", async () => {
  const r = request({ agent: "claude-code", title: "claude-code: Run `rm -rf staging`?" });
  const p = await popup({ pending: [{ request: r, live: true }] });
  await p.waitForSelector("main.approval");
  assert.equal(await p.textContent(".approval header .agent-badge"), "claude-code");
  assert.equal(await p.$("[data-scope-agent]"), null, "just this once: no rule");
  await p.selectOption("select", "job");
  assert.equal(await p.textContent("[data-scope-agent]"), "for claude-code only");
  await shot(p, "approval-popup-agent.png");
  // A request of Mend's own job has no badge.
  const q = await popup({ pending: [{ request: request(), live: true }] });
  await q.waitForSelector("main.approval");
  assert.equal(await q.$(".approval header .agent-badge"), null);
  assert.deepEqual(p.errors, []);
});

test("the popup in the dark theme", async () => {
  const p = await popup({ pending: [{ request: request(), live: true }] }, { dark: true });
  await p.waitForSelector("main.approval");
  const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(20, 23, 28)");
  await shot(p, "approval-popup-dark.png");
});
