// The Servers screen in a real browser against the built UI, with the shell
// mocked (mockIPC): each state as a person reads it, the tools, calls and
// stderr, and that Disable / Enable / Restart call the shell's commands.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { servers } from "../test-dist/fixtures.js";
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

const card = (name) => `[data-screen="servers"] [data-server="${name}"]`;

test("servers: each state, tools with their annotations, calls and failures, stderr", async () => {
  const now = Date.now();
  const list = servers(now);
  const p = await open(b, srv.url, "index.html", { servers: list });
  await p.click('[data-tab="servers"]');
  await p.waitForSelector(card("files"));
  assert.deepEqual(await p.$$eval("[data-server]", (els) => els.map((e) => [e.dataset.server, e.dataset.state])), [
    ["files", "running"],
    ["broken", "down"],
    ["flaky", "disabled"],
    ["legacy", "disabled"],
    ["spare", "never_started"],
  ]);
  assert.match(await p.textContent(`${card("files")} h3`), /running \(pid 4100\)/);
  assert.match(await p.textContent(`${card("broken")} h3`), /down — starts again at its next call/);
  assert.match(await p.textContent(card("broken")), /No such file or directory/);
  assert.match(await p.textContent(card("broken")), /Backup\s*files/);
  const until = new Date(list[2].status.until_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  assert.match(await p.textContent(`${card("flaky")} h3`), new RegExp(`disabled until ${until}`));
  assert.match(await p.textContent(card("flaky")), /3 failures within 60 s/);
  assert.match(await p.textContent(card("flaky")), /\/jobs\/orders\.toml/);
  assert.match(await p.textContent(`${card("legacy")} h3`), /disabled by hand/);
  assert.match(await p.textContent(card("legacy")), /maintenance \(by alice\)/);
  assert.match(await p.textContent(`${card("spare")} h3`), /never started/);

  assert.match(await p.textContent(`${card("files")} [data-tool="read_text_file"]`), /read-only.*Read a file as text\./);
  assert.doesNotMatch(await p.textContent(`${card("files")} [data-tool="read_text_file"]`), /More detail/);
  assert.match(await p.textContent(`${card("files")} [data-tool="write_file"]`), /destructive, idempotent/);
  assert.match(await p.textContent(`${card("files")} [data-calls]`), /12 in this range, 1 failed/);
  assert.match(await p.textContent(`${card("files")} .server-stderr`), /Allowed directories/);
  assert.match(await p.textContent(`${card("broken")} [data-tools-error]`), /down: could not start/);
  // Enable where disabled, Disable elsewhere; no Restart while disabled.
  assert.equal(await p.$$eval('[data-act="enable"]', (els) => els.length), 2);
  assert.equal(await p.isDisabled(`${card("flaky")} [data-act="restart"]`), true);
  assert.equal(await p.isDisabled(`${card("files")} [data-act="restart"]`), false);

  // The dashboard's ranges: the counts are asked for the range picked.
  const first = (await calls(p, "servers_view")).at(-1).sinceMs;
  assert.ok(Math.abs(now - 7 * 24 * 3_600_000 - first) < 60_000, "7 days by default, as the dashboard");
  await p.selectOption(`[data-screen="servers"] select[aria-label="Time range"]`, "24h");
  await p.waitForFunction(() => window.__mend.calls.filter((c) => c.cmd === "servers_view").length >= 2);
  const picked = (await calls(p, "servers_view")).at(-1).sinceMs;
  assert.ok(Math.abs(Date.now() - 24 * 3_600_000 - picked) < 60_000);
  await shot(p, "servers.png");
  assert.deepEqual(p.errors, []);
});

test("servers: Disable, Enable and Restart call the shell and show what holds after", async () => {
  const p = await open(b, srv.url, "index.html", { servers: servers(Date.now()), restartLagMs: 400 });
  await p.click('[data-tab="servers"]');
  await p.waitForSelector(card("files"));

  await p.fill(`${card("files")} input`, "  maintenance window ");
  await p.click(`${card("files")} [data-act="disable"]`);
  await p.waitForSelector(`${card("files")}[data-state="disabled"]`);
  assert.deepEqual(await calls(p, "server_disable"), [{ name: "files", reason: "maintenance window" }]);
  assert.match(await p.textContent(card("files")), /disabled by hand.*maintenance window/s);
  assert.match(await p.textContent(".toast.ok"), /files disabled/);

  await p.click(`${card("legacy")} [data-act="enable"]`);
  await p.waitForSelector(`${card("legacy")}[data-state="running"]`);
  assert.deepEqual(await calls(p, "server_enable"), [{ name: "legacy" }]);

  // A disable without a reason sends none; the shell gives its own.
  await p.click(`${card("spare")} [data-act="disable"]`);
  await p.waitForSelector(`${card("spare")}[data-state="disabled"]`);
  assert.deepEqual((await calls(p, "server_disable")).at(-1), { name: "spare", reason: null });

  // Restart shows it restarting until the shell answers.
  await p.click(`${card("broken")} [data-act="restart"]`);
  await p.waitForSelector(`${card("broken")}[data-state="restarting"]`);
  assert.match(await p.textContent(`${card("broken")} h3`), /restarting…/);
  assert.equal(await p.isDisabled(`${card("broken")} [data-act="restart"]`), true);
  await p.waitForSelector(`${card("broken")}[data-state="running"]`);
  assert.deepEqual(await calls(p, "server_restart"), [{ name: "broken" }]);
  assert.match(await p.textContent(".toast.ok"), /broken restarted/);
  assert.deepEqual(p.errors, []);
});

test("servers: a refused action is shown with its kind; none declared says where to declare them", async () => {
  const p = await open(b, srv.url, "index.html", {
    servers: servers(Date.now()),
    fail: { server_enable: { code: "conflict", message: "`legacy` is disabled for every Mend process (maintenance); `mend mcp enable legacy` enables it" } },
  });
  await p.click('[data-tab="servers"]');
  await p.click(`${card("legacy")} [data-act="enable"]`);
  await p.waitForSelector(".toast.error");
  assert.match(await p.textContent(".toast.error"), /mend mcp enable legacy/);
  assert.equal(await p.getAttribute(".toast.error", "data-code"), "conflict");

  const q = await open(b, srv.url, "index.html", {});
  await q.click('[data-tab="servers"]');
  await q.waitForSelector('[data-screen="servers"] .state');
  assert.match(await q.textContent('[data-screen="servers"]'), /No MCP servers are declared/);
});
