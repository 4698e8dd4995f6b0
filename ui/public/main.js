// The minimal shell's only screen: the journal's headline numbers.
const invoke = window.__TAURI_INTERNALS__?.invoke;
async function refresh() {
  if (!invoke) return;
  try {
    const o = await invoke("overview");
    document.getElementById("calls").textContent = o.calls;
    document.getElementById("healed").textContent = o.healed;
    document.getElementById("pending").textContent = o.pending_approvals;
    document.getElementById("journal").textContent = `Mend ${o.version} · ${o.journal}`;
  } catch (e) {
    document.getElementById("journal").textContent = `Could not read the journal: ${e}`;
  }
}
refresh();
setInterval(refresh, 5000);
