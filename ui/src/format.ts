// Small formatting helpers shared by the screens.

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return new Date(ms).toLocaleDateString();
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function duration(ms: number | null | undefined): string {
  if (ms == null) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m} min ${s} s`;
}

const systemDark = matchMedia("(prefers-color-scheme: dark)");

/** The theme: the person's pick, else the system's (followed as it changes). */
export function applyTheme(): void {
  const saved = localStorage.getItem("mend-theme");
  const dark = saved === "dark" || (saved !== "light" && systemDark.matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
systemDark.addEventListener("change", applyTheme);

export function toggleTheme(): void {
  localStorage.setItem("mend-theme", document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  applyTheme();
}

/** Calls `f` after the next frame has been painted. */
export function afterPaint(f: () => void): void {
  requestAnimationFrame(() => requestAnimationFrame(f));
}
