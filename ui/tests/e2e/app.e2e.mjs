// End to end in the real app (scripts/e2e.sh sets the stage): WebDriver
// through tauri-driver launches target/debug/mend-desktop on a fresh data
// directory. The first-start demo heals its failures and escalates; the
// test picks an option in the approval popup; the job completes; the
// journal (read with the `mend` command line) shows the decision.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";

const driver = process.env.MEND_E2E_DRIVER;
const app = process.env.MEND_E2E_APP;
const cli = process.env.MEND_E2E_CLI;
const shots = new URL("../../test-results/", import.meta.url).pathname;
let session;

async function wd(method, path, body) {
  const res = await fetch(`${driver}/session${session ? `/${session}` : ""}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value)}`);
  return json.value;
}

async function until(what, f, timeout = 60_000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeout) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

async function find(css) {
  const v = await wd("POST", "/element", { using: "css selector", value: css });
  const id = v?.["element-6066-11e4-a52e-4f735466cecf"] ?? v?.ELEMENT;
  if (!id) throw new Error(`no element for ${css}: ${JSON.stringify(v)}`);
  return id;
}
const text = async (css) => wd("GET", `/element/${await find(css)}/text`);
const js = (script, args = []) => wd("POST", "/execute/sync", { script, args });

async function shot(name) {
  await mkdir(shots, { recursive: true });
  await writeFile(join(shots, name), Buffer.from(await wd("GET", "/screenshot"), "base64"));
}

/** Switches to the main window (`main`) or the approval popup (`approval`). */
async function switchTo(which) {
  const seen = new Set();
  return until(`the ${which} window`, async () => {
    for (const h of await wd("GET", "/window/handles")) {
      await wd("POST", "/window", { handle: h });
      const url = await wd("GET", "/url");
      seen.add(url);
      if (url.includes("approval.html") === (which === "approval")) return h;
    }
    throw new Error(`windows seen: ${[...seen].join(", ")}`);
  });
}

function mend(...args) {
  return execFileSync(cli, args, { env: process.env, encoding: "utf8" });
}

before(async () => {
  const s = await fetch(`${driver}/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ capabilities: { alwaysMatch: { "tauri:options": { application: app } } } }),
  }).then((r) => r.json());
  session = s.value.sessionId;
  assert.ok(session, JSON.stringify(s));
});

after(async () => {
  if (session) await wd("DELETE", "").catch(() => {});
});

test("first start: the demo heals, escalates, a decision in the popup finishes it, the journal shows it", async () => {
  // The main window opens on the demo's run.
  await switchTo("main");
  await until("the demo run in the runs list", async () => (await text(".runs")).includes("demo"));

  // The demo heals on its way and ends with one request: the popup opens.
  await switchTo("approval");
  await until("the request in the popup", async () => (await text("main.approval h1")).length > 0);
  const title = await text("main.approval h1");
  assert.match(title, /rm -rf staging/);
  assert.match(await text(".option.recommended"), /Recommended/);
  const options = await js("return [...document.querySelectorAll('.option')].map(o => o.dataset.option)");
  assert.deepEqual(options.sort(), ["abort", "run", "skip"]);
  await shot("e2e-approval-popup.png");

  // The person chooses to run it, with a note.
  const area = await find("textarea");
  await wd("POST", `/element/${area}/value`, { text: "staging is scratch" });
  await wd("POST", `/element/${await find('.option[data-option="run"]')}/click`, {});
  await until("the popup's confirmation", async () => (await text(".notice.ok")).includes("Decided"));

  // The job completes.
  await switchTo("main");
  await until("the demo to succeed", async () => /succeeded/.test(await text("button.run.selected")), 30_000);
  const detail = await text(".detail");
  assert.match(detail, /Healed SERVER_ERROR/);
  assert.match(detail, /Healed RATE_LIMITED/);
  assert.match(detail, /Decision:/);
  await shot("e2e-runs.png");

  // The journal, read by the command line, shows the person's decision.
  const runs = JSON.parse(mend("runs", "--json"));
  const demo = runs.find((r) => r.job === "demo");
  assert.equal(demo.status, "succeeded");
  const decisions = mend("logs", "--run", demo.run_id, "--kind", "decision", "--json")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(decisions.length, 1);
  assert.equal(decisions[0].data.decision.option, "run");
  assert.equal(decisions[0].data.decision.instructions, "staging is scratch");
  assert.equal(decisions[0].data.decision.decided_by.by, "person");
  assert.match(mend("approvals", "list"), /No approval requests are waiting/);
});
