import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The demo dashboard. `syncline` is the local package (../pkg), built by `make pkg`.
export default defineConfig({
  plugins: [react()],
  // `syncline` is linked from ../pkg: make its `react` import resolve to this app's React.
  resolve: { dedupe: ["react", "react-dom"] },
  build: { outDir: "dist", emptyOutDir: true },
});
