// Two pages: the main window (runs) and the approval popup. Built into
// ui/dist, which the Tauri shell embeds (tauri.conf.json: frontendDist).
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, "index.html"),
        approval: resolve(import.meta.dirname, "approval.html"),
      },
    },
  },
});
