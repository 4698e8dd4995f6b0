// The browser tests' IPC harness: @tauri-apps/api's mockIPC bundled into one
// classic script that the tests inject before the built pages load.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  build: {
    outDir: "test-dist",
    emptyOutDir: true,
    lib: { entry: resolve(import.meta.dirname, "tests/harness.ts"), formats: ["iife"], name: "mendHarness", fileName: () => "harness.js" },
  },
});
