// Desktop benchmarks on the release build (scripts/bench-desktop.sh sets
// the stage: Xvfb, tauri-driver, MEND_BENCH_LOG). Each round launches the
// real app through WebDriver on a fresh data directory and reads the marks
// the app writes to MEND_BENCH_LOG (src-tauri/src/timing.rs):
//   cold start   — session request → first paint of the main window
//   idle memory  — RSS (and PSS) of the app and its WebKit processes after
//                  4 s idle, window shown and started hidden in the tray
//   popup        — escalation → popup painted: at a run's first step (the
//                  window is made on demand) and after a second of work (the
//                  window was made ready, hidden, when the run started)
//   resume       — click in the popup → the engine journals the decision
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { click, launch, quit, sleep, switchTo, until } from "./webdriver.mjs";

const app = process.env.MEND_E2E_APP;
const log = process.env.MEND_BENCH_LOG;
const rounds = Number(process.env.MEND_BENCH_ROUNDS ?? 5);

async function marks() {
  const text = await readFile(log, "utf8").catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** A mark the app wrote, waited for. */
const mark = (what, f) => until(what, async () => (await marks()).find(f), 30_000, 25);

async function start(args) {
  await writeFile(log, "");
  return launch(app, args);
}

/** RSS and PSS (kB) of the process whose command line holds `marker`, and its descendants. */
async function memory(marker) {
  const procs = new Map();
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
      procs.set(Number(pid), { ppid, cmd });
    } catch {}
  }
  const root = [...procs].find(([, p]) => p.cmd.includes(marker) && p.cmd.includes("mend-desktop"))?.[0];
  if (!root) throw new Error(`no process for ${marker}`);
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) if (!tree.has(pid) && tree.has(p.ppid)) (tree.add(pid), (grew = true));
  }
  let rss = 0, pss = 0, app = 0;
  for (const pid of tree) {
    const roll = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    const kb = (k) => Number(roll.match(new RegExp(`^${k}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
    rss += kb("Rss");
    pss += kb("Pss");
    if (pid === root) app = kb("Rss");
  }
  return { rss_mb: rss / 1024, pss_mb: pss / 1024, app_rss_mb: app / 1024, processes: tree.size };
}

const results = [];
for (let i = 0; i < rounds; i++) {
  const dir = await mkdtemp(join(tmpdir(), "mend-bench-"));
  const r = {};
  // Cold start and idle memory, window shown.
  const t0 = await start(["--data-dir", join(dir, "a"), "--no-demo"]);
  const paint = await mark("first paint", (m) => m.mark === "painted" && m.window === "main");
  r.cold_start_ms = paint.epoch_ms - t0;
  r.main_to_paint_ms = paint.ms_since_start;
  await sleep(4000);
  r.shown = await memory(join(dir, "a"));
  await quit();
  // Idle memory, started hidden in the tray (no web view, so no WebDriver
  // session: launched directly).
  const hidden = spawn(app, ["--data-dir", join(dir, "b"), "--no-demo", "--hidden"], { stdio: "ignore" });
  await sleep(4000);
  r.hidden = await memory(join(dir, "b"));
  hidden.kill();
  await sleep(300);
  // Escalation → popup, click → resume: a job that asks before `rm -rf`, every 3 s.
  await mkdir(join(dir, "jobs"));
  await writeFile(
    join(dir, "jobs", "ask.toml"),
    `version = 1\nname = "ask"\nschedule = "every 3s"\n[[steps]]\nname = "clean"\ntool = "exec"\nargs = { program = "rm", args = ["-rf", "${join(dir, "scratch")}"] }\n`,
  );
  await start(["--data-dir", join(dir, "c"), "--jobs-dir", join(dir, "jobs"), "--no-demo"]);
  const first = await mark("the popup", (m) => m.mark === "painted" && m.window === "approval" && m.ms_since_escalation != null);
  r.popup_new_window_ms = first.ms_since_escalation;
  r.popup_page_ms = first.page_ms;
  await switchTo("approval");
  await until("the option", () => click(".option.recommended").then(() => true));
  const resumed = await mark("the resume", (m) => m.mark === "resumed");
  r.click_to_resume_ms = resumed.ms_click_to_resume;
  // The next run asks again (the popup closed after the decision).
  const second = await mark(
    "the second popup",
    (m) => m.mark === "painted" && m.window === "approval" && m.ms_since_escalation != null && m.request !== first.request,
  );
  r.popup_again_ms = second.ms_since_escalation;
  await quit();
  // A run that works a second before it asks: the popup was made ready
  // (hidden) when the run started, so the escalation only shows it.
  await mkdir(join(dir, "jobs2"));
  await writeFile(
    join(dir, "jobs2", "later.toml"),
    `version = 1\nname = "later"\nschedule = "every 1s"\n[[steps]]\nname = "work"\ntool = "exec"\nargs = { program = "sleep", args = ["1"] }\n` +
      `[[steps]]\nname = "clean"\ntool = "exec"\nargs = { program = "rm", args = ["-rf", "${join(dir, "scratch")}"] }\n`,
  );
  await start(["--data-dir", join(dir, "d"), "--jobs-dir", join(dir, "jobs2"), "--no-demo"]);
  const ready = await mark("the prepared popup", (m) => m.mark === "painted" && m.window === "approval" && m.ms_since_escalation != null);
  r.popup_prepared_ms = ready.ms_since_escalation;
  await quit();
  results.push(r);
  console.error(JSON.stringify(r));
}

const pick = (f) => results.map(f).sort((a, b) => a - b);
const median = (xs) => xs[Math.floor(xs.length / 2)];
const row = (name, xs, unit, target) =>
  `| ${name} | ${median(xs).toFixed(unit === "MB" ? 0 : 0)} ${unit} | ${xs[0].toFixed(0)}–${xs[xs.length - 1].toFixed(0)} ${unit} | ${target} |`;
console.log(`Desktop benchmarks, release build, ${rounds} rounds (median, range):\n`);
console.log("| measure | median | range | target |\n| --- | --- | --- | --- |");
console.log(row("cold start: launch request → first paint", pick((r) => r.cold_start_ms), "ms", "< 1000 ms"));
console.log(row("  of which main() → first paint", pick((r) => r.main_to_paint_ms), "ms", ""));
console.log(row("idle RSS, window shown (app + WebKit processes)", pick((r) => r.shown.rss_mb), "MB", "< 150 MB"));
console.log(row("idle PSS, window shown", pick((r) => r.shown.pss_mb), "MB", ""));
console.log(row("idle RSS, started hidden in the tray", pick((r) => r.hidden.rss_mb), "MB", "< 150 MB"));
console.log(row("idle PSS, hidden", pick((r) => r.hidden.pss_mb), "MB", ""));
console.log(row("escalation → popup painted (first of the session)", pick((r) => r.popup_new_window_ms), "ms", "< 300 ms"));
console.log(row("  of which the page (navigation start → painted)", pick((r) => r.popup_page_ms), "ms", ""));
console.log(row("escalation → popup painted (a later one)", pick((r) => r.popup_again_ms), "ms", "< 300 ms"));
console.log(row("escalation → popup painted (run asks after working 1 s: popup ready)", pick((r) => r.popup_prepared_ms), "ms", "< 300 ms"));
console.log(row("click → the run goes on", pick((r) => r.click_to_resume_ms), "ms", ""));
