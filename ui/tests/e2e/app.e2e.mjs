// End to end in the real app (scripts/e2e.sh sets the stage): WebDriver
// through tauri-driver launches target/debug/mend-desktop on a fresh data
// directory. The first-start demo heals its failures and escalates; the
// test picks an option in the approval popup; the job completes; the
// journal (read with the `mend` command line) shows the decision. The
// Servers view disables an MCP server; the next call, from the command
// line, goes to its backup.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
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

// Two MCP servers in the user config (the scripted server, mend-faults):
// `primary` with `standby` as its backup. Written before the app starts.
const fault = process.env.MEND_E2E_FAULT_MCP;
const stage = join(process.env.MEND_DATA_DIR, "..");
const serverToml = (name, backup) =>
  `[[mcp.servers]]\nname = "${name}"\ncommand = ${JSON.stringify(fault)}\nargs = ["--name", "${name}", "--state", ${JSON.stringify(join(stage, name + ".state"))}]\n` +
  (backup ? `backup = "${backup}"\n` : "") +
  "\n";
mkdirSync(join(process.env.XDG_CONFIG_HOME, "mend"), { recursive: true });
writeFileSync(join(process.env.XDG_CONFIG_HOME, "mend", "config.toml"), serverToml("primary", "standby") + serverToml("standby"));

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

test("the memory screen edits a lesson and finds it; the dashboard's numbers are `mend metrics`'", async () => {
  await switchTo("main");
  // Memory: edit a starter lesson in the form, then search for the new words.
  await click('[data-tab="memory"]');
  await until("the lessons", async () => (await text('[data-screen="memory"]')).includes("HTTP services"));
  await click('button.lesson[data-lesson="http-rate-limit"]');
  await click(".lesson-card button.primary");
  const area = await find('textarea[name="text"]');
  await wd("POST", `/element/${area}/clear`, {});
  await wd("POST", `/element/${area}/value`, { text: "A 429 from the zanzibar gateway: wait its Retry-After, then retry." });
  await click('.lesson-form button[type="submit"]');
  await until("the save", async () => (await text(".toast")).includes("Saved the lesson"));
  const search = await find('input[aria-label="Search lessons"]');
  await wd("POST", `/element/${search}/value`, { text: "zanzibar" });
  await until("the edited lesson in search", async () => (await text("ul.hits mark")) === "zanzibar");
  assert.match(await text('ul.hits button[data-lesson="http-rate-limit"]'), /zanzibar gateway/);
  await shot("e2e-memory.png");
  // The file on disk says the same, and so does the command line's search.
  const found = mend("memory", "search", "zanzibar", "--json")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(found[0].id, "http-rate-limit");

  // Dashboard: the headline numbers of the last 7 days match `mend metrics`.
  await click('[data-tab="dashboard"]');
  await until("the numbers", async () => {
    // A dashboard that failed says why: fail with it, not with a timeout.
    const failed = await js("const e = document.querySelector('.notice.error'); return e ? e.textContent : null");
    if (failed) throw new Error(`the dashboard failed: ${failed}`);
    return (await text('[data-kpi="autonomous"]')).length > 0;
  });
  const m = JSON.parse(mend("metrics", "--since", "7d", "--json"));
  const auto = await text('[data-kpi="autonomous"]');
  assert.match(auto, new RegExp(`\\(${m.healing.autonomous} of ${m.healing.failed_first}\\)`));
  assert.ok(m.healing.autonomous >= 4, `the demo healed on its own: ${auto}`);
  assert.match(await text('[data-kpi="calls"]'), new RegExp(`^${m.calls}(?!\\d)`));
  assert.match(await text('[data-kpi="recovered"]'), new RegExp(`^${m.recovery.recovered}(?!\\d)`));
  assert.match(await text('[data-kpi="escalations"]'), new RegExp(`^${m.escalations.raised}(?!\\d)`));
  const canvases = await js("return document.querySelectorAll('[data-chart] canvas').length");
  assert.ok(canvases >= 4, `charts drawn: ${canvases}`);
  await shot("e2e-dashboard.png");

  // Audit log: the person's decision is there with its detail.
  await click('[data-tab="audit"]');
  await until("events", async () => (await text("table.events")).includes("decision"));
  await js("const r = document.querySelector('table.events tr.ev[data-kind=\"decision\"]'); r.scrollIntoView(); r.click();");
  assert.match(await text("[data-detail]"), /staging is scratch/);
  await shot("e2e-audit.png");
});

test("a server disabled in the Servers view is passed over: the next call goes to its backup", async () => {
  await switchTo("main");
  await click('[data-tab="servers"]');
  await until("the declared servers", async () => (await text('[data-screen="servers"]')).includes("standby"));
  const reason = await find('[data-server="primary"] input');
  await wd("POST", `/element/${reason}/value`, { text: "flaky since the upgrade" });
  await click('[data-server="primary"] button[data-act="disable"]');
  await until("primary disabled", async () => (await js("return document.querySelector('[data-server=primary]').dataset.state")) === "disabled");
  assert.match(await text('[data-server="primary"]'), /flaky since the upgrade/);
  await shot("e2e-servers.png");

  // Another process (the command line) calls `primary`: `standby` answers.
  const job = join(stage, "echo.toml");
  writeFileSync(job, `name = "echo"\n[[steps]]\nname = "say"\ntool = "mcp"\nargs = { server = "primary", tool = "echo", arguments = { text = "hi" } }\n`);
  const report = JSON.parse(mend("run", job, "--json"));
  assert.equal(report.status, "succeeded");
  const out = report.steps[0].final_outcome.output;
  assert.equal(out.served_by, "standby");
  assert.equal(out.result.structuredContent.server, "standby");
  const fell = mend("logs", "--kind", "guardrail", "--json")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.data.change === "fell_over");
  assert.equal(fell.length, 1);
  assert.match(fell[0].message, /flaky since the upgrade/);

  // Enabled again in the view: the next call is `primary`'s own.
  await click('[data-server="primary"] button[data-act="enable"]');
  await until("primary enabled", async () => (await js("return document.querySelector('[data-server=primary]').dataset.state")) !== "disabled");
  const again = JSON.parse(mend("run", job, "--json"));
  assert.equal(again.steps[0].final_outcome.output.result.structuredContent.server, "primary");
});

test("an agent's call through `mend mcp serve` is held in the popup, decided there, and runs; its run carries the agent", async () => {
  // An MCP host (the TypeScript SDK's client) calls a destructive tool
  // through the gateway, with the app's data directory and config.
  const plan = join(stage, "agent-plan.json");
  writeFileSync(
    plan,
    JSON.stringify({
      command: cli,
      args: ["mcp", "serve"],
      env: {},
      client: "e2e-agent",
      steps: [{ op: "call", name: "standby__drop_table", arguments: { name: "users" }, timeout_ms: 90000 }],
    }),
  );
  const client = new URL("../../../tests/mcp/gateway-client.mjs", import.meta.url).pathname;
  const child = spawn("node", [client, plan], { env: process.env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const done = new Promise((resolve) => child.on("exit", resolve));

  // The app pops the request up, titled with the agent.
  await switchTo("approval");
  await until("the agent's request in the popup", async () => /e2e-agent/.test(await text("main.approval h1")), 30_000);
  assert.match(await text("main.approval h1"), /standby\.drop_table/);
  await shot("e2e-agent-popup.png");
  await click('.option[data-option="run"]');

  // The call, still waiting in the agent, runs and answers it.
  await done;
  const result = JSON.parse(out.trim().split("\n").pop());
  assert.equal(result.result.isError, false, out);
  assert.match(result.result.content[0].text, /table users dropped/);

  // The run is the agent's: in the journal and the runs view.
  const runs = JSON.parse(mend("runs", "--json"));
  const run = runs.find((r) => r.job === "standby__drop_table");
  assert.equal(run.agent, "e2e-agent");
  assert.equal(run.status, "succeeded");
  await switchTo("main");
  await click('[data-tab="runs"]');
  let shown = "";
  await until("the agent's run", async () => (shown = await text(".runs")).includes("standby__drop_table"), 15_000).catch(async (e) => {
    await shot("e2e-agent-runs-missing.png");
    const notice = await js("return document.querySelector('.notice.error')?.textContent ?? ''");
    throw new Error(`${e.message}; the runs list showed: ${JSON.stringify(shown)}; error notice: ${JSON.stringify(notice)}`);
  });
  assert.ok(await js("return !!document.querySelector('.runs [data-agent=\"e2e-agent\"]')"), "the agent's badge on its run");
});
