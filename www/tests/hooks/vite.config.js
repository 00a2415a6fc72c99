import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The page the hook tests drive: every hook of syncline/react, under StrictMode.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  resolve: { dedupe: ["react", "react-dom"] },
  build: { outDir: "dist", emptyOutDir: true },
});
