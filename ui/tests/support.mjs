// Browser-test support: serves the built UI (ui/dist) on 127.0.0.1:0 and
// opens it in Debian's Chromium through playwright-core, with the mockIPC
// harness (ui/test-dist/harness.js) injected before the page's scripts.
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

const ui = new URL("..", import.meta.url).pathname;
const dist = join(ui, "dist");
export const shots = join(ui, "test-results");

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };

export async function serve() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    try {
      const body = await readFile(join(dist, path === "/" ? "index.html" : path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A page of the built UI with the IPC harness and a backend state. */
export async function open(b, base, page, state, { dark = false, size = { width: 1100, height: 720 } } = {}) {
  const ctx = await b.newContext({ viewport: size, colorScheme: dark ? "dark" : "light" });
  const p = await ctx.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(e.message));
  await p.addInitScript({ path: join(ui, "test-dist/harness.js") });
  await p.addInitScript((s) => {
    window.__mend.state = s;
  }, state);
  await p.goto(`${base}/${page}`);
  p.errors = errors;
  return p;
}

export async function shot(p, name) {
  await mkdir(shots, { recursive: true });
  await p.screenshot({ path: join(shots, name) });
}

export async function calls(p, cmd) {
  return p.evaluate((c) => window.__mend.calls.filter((x) => x.cmd === c).map((x) => x.args), cmd);
}

// Fixtures shaped exactly as the Rust side sends them (see src/ipc.ts).
export function request(over = {}) {
  return {
    id: "req-1",
    run_id: "run-1",
    job: "nightly-sync",
    step: "clean-staging",
    kind: "before_run",
    title: "Run `rm -rf staging`?",
    what_happened: "The step wants to run `rm -rf staging`, which matches the destructive pattern `rm -rf`.",
    diagnosis: "Destructive calls wait for a person before they run, whoever proposed them.",
    recommended: "skip",
    recommendation: "Skip it: the staging folder is rebuilt by the next run anyway.",
    options: [
      { id: "skip", label: "Skip this step", choice: { do: "skip" }, detail: "The job goes on without it." },
      { id: "run", label: "Run it", choice: { do: "run" }, detail: "Runs `rm -rf staging` once." },
      { id: "abort", label: "Abort the job", choice: { do: "abort" }, detail: "Stops here; later steps do not run." },
    ],
    attempts: [
      { n: 1, action: "retry_same", layer: "policy", status: "error", code: "SERVER_ERROR" },
      { n: 2, action: "use_alternative", layer: "policy", status: "success" },
    ],
    created_ms: Date.now() - 4000,
    timeout_ms: null,
    on_timeout: "wait",
    tool: "exec",
    code: null,
    ...over,
  };
}
