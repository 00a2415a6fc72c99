import react from "@vitejs/plugin-react";
import { join } from "node:path";
import { defineConfig } from "vite";

// The pages the hook tests drive: every hook of syncline/react, under StrictMode (index.html),
// and a widget editor on useOptimisticUpdate (optimistic.html, for tests/optimistic.test.mjs).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  resolve: { dedupe: ["react", "react-dom"] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: {
      input: {
        index: join(import.meta.dirname, "index.html"),
        optimistic: join(import.meta.dirname, "optimistic.html"),
      },
    },
  },
});
