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
import { click, find, launch, quit, switchTo, text, until, wd } from "./webdriver.mjs";

const app = process.env.MEND_E2E_APP;
const cli = process.env.MEND_E2E_CLI;
const shots = new URL("../../test-results/", import.meta.url).pathname;

const js = (script, args = []) => wd("POST", "/execute/sync", { script, args });

async function shot(name) {
  await mkdir(shots, { recursive: true });
  await writeFile(join(shots, name), Buffer.from(await wd("GET", "/screenshot"), "base64"));
}

function mend(...args) {
  return execFileSync(cli, args, { env: process.env, encoding: "utf8" });
}

before(() => launch(app));
after(() => quit());

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
  await click('.option[data-option="run"]');
  // The popup confirms, then puts itself away a moment later (and is closed
  // once no run is left): a closed window after the click also means done;
  // the journal below says what was decided.
  await until("the popup's confirmation", async () => {
    try {
      return (await text(".notice.ok")).includes("Decided");
    } catch (e) {
      if (/no such window/i.test(e.message)) return "closed";
      throw e;
    }
  });

  // The job completes.
  await switchTo("main");
  await until("the demo to succeed", async () => /succeeded/.test(await text("button.run.selected")), 30_000);
  const detail = await text(".detail");
  assert.match(detail, /Healed SERVER_ERROR/);
  assert.match(detail, /Healed RATE_LIMITED/);
  assert.match(detail, /Decision:/);
  await shot("e2e-runs.png");
  await click("button.icon");
  await until("the dark theme", async () => (await js("return document.documentElement.dataset.theme")) === "dark");
  await shot("e2e-runs-dark.png");

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
