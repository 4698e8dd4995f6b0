// A small W3C WebDriver client for tauri-driver (MEND_E2E_DRIVER), shared
// by the end-to-end test and the desktop benchmarks.
const driver = process.env.MEND_E2E_DRIVER;
let session;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One WebDriver call within the current session. */
export async function wd(method, path, body) {
  const res = await fetch(`${driver}/session${session ? `/${session}` : ""}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value)}`);
  return json.value;
}

/** Launches the app (a new session); returns the time of the request. */
export async function launch(application, args = []) {
  session = undefined;
  const t0 = Date.now();
  const s = await wd("POST", "", { capabilities: { alwaysMatch: { "tauri:options": { application, args } } } });
  session = s.sessionId;
  if (!session) throw new Error(JSON.stringify(s));
  return t0;
}

/** Ends the session (the app exits). */
export async function quit() {
  if (session) await wd("DELETE", "").catch(() => {});
  session = undefined;
  await sleep(300);
}

/** Polls `f` until it returns something truthy. */
export async function until(what, f, timeout = 60_000, every = 100) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeout) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** The element matching a CSS selector. */
export async function find(css) {
  const v = await wd("POST", "/element", { using: "css selector", value: css });
  const id = v?.["element-6066-11e4-a52e-4f735466cecf"] ?? v?.ELEMENT;
  if (!id) throw new Error(`no element for ${css}: ${JSON.stringify(v)}`);
  return id;
}

export const text = async (css) => wd("GET", `/element/${await find(css)}/text`);
export const click = async (css) => wd("POST", `/element/${await find(css)}/click`, {});

/** Switches to the main window (`main`) or the approval popup (`approval`). */
export async function switchTo(which) {
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
