// The browser tests' typed fixtures (tests/fixtures.ts), built to one ES
// module the node test files import.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  build: {
    outDir: "test-dist",
    emptyOutDir: false,
    lib: { entry: resolve(import.meta.dirname, "tests/fixtures.ts"), formats: ["es"], fileName: () => "fixtures.js" },
  },
});
