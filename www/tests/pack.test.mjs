// The npm package as users get it: `npm pack`, installed into fresh apps that import
// "syncline" and "syncline/react" with no special configuration — one built by Vite (with its
// React plugin), one by webpack 5 with no configuration at all — and run in Chromium.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launch, root, startRelay, startStatic, waitFor } from "./harness.mjs";

let relay, browser, work, tarball;

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();

before(async () => {
  relay = await startRelay();
  browser = await launch();
  work = mkdtempSync(join(tmpdir(), "syncline-pack-"));
  run("npm", ["pack", "--pack-destination", work], join(root, "pkg"));
  tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("npm pack installs into a fresh Vite app that builds and runs", { timeout: 180_000 }, async () => {
  assert.ok(tarball, "a tarball");
  const listing = run("tar", ["-tzf", join(work, tarball)], work);
  for (const file of ["package/index.js", "package/index.d.ts", "package/react/index.js", "package/react/index.d.ts", "package/wasm/syncline_bg.wasm"]) {
    assert.ok(listing.includes(file), `${file} is in the package`);
  }
  const versions = JSON.parse(run("node", ["-p", "JSON.stringify(require('./package.json').devDependencies)"], join(root, "www")));
  const app = join(work, "app");
  mkdirSync(join(app, "src"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({
    name: "fresh-app", private: true, type: "module",
    dependencies: { syncline: `file:../${tarball}`, react: "19.3.1", "react-dom": "19.3.1" },
    devDependencies: { vite: versions.vite, "@vitejs/plugin-react": versions["@vitejs/plugin-react"] },
  }, null, 2));
  writeFileSync(join(app, "vite.config.js"), `import react from "@vitejs/plugin-react";\nexport default { plugins: [react()] };\n`);
  writeFileSync(join(app, "index.html"), `<!doctype html><div id="root"></div><script type="module" src="/src/main.jsx"></script>`);
  writeFileSync(join(app, "src/main.jsx"), `
import { createRoot } from "react-dom/client";
import { SynclineProvider, useConnection } from "syncline/react";
function Status() {
  const { state } = useConnection();
  return <p id="status">{state}</p>;
}
const url = new URLSearchParams(location.search).get("relay");
createRoot(document.getElementById("root")).render(<SynclineProvider options={{ url }}><Status /></SynclineProvider>);
`);
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], app);
  run(join(app, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], app);
  const site = await startStatic(join(app, "dist"));
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${site.origin}/?relay=${encodeURIComponent(relay.ws)}`);
    await waitFor("the fresh app connects", async () => (await page.textContent("#status").catch(() => "")) === "open");
    assert.deepEqual(errors, []);
  } finally {
    await site.stop();
  }
});

test("the same package builds with webpack 5 and its defaults", { timeout: 180_000 }, async () => {
  const versions = JSON.parse(run("node", ["-p", "JSON.stringify(require('./package.json').devDependencies)"], join(root, "www")));
  const app = join(work, "webpack-app");
  mkdirSync(join(app, "src"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({
    name: "fresh-webpack-app", private: true,
    dependencies: { syncline: `file:../${tarball}`, react: "19.3.1", "react-dom": "19.3.1" },
    devDependencies: { webpack: versions.webpack, "webpack-cli": versions["webpack-cli"] },
  }, null, 2));
  // No webpack configuration at all: entry src/index.js, output dist/main.js.
  writeFileSync(join(app, "src/index.js"), `
import { createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { SynclineProvider, useConnection } from "syncline/react";
function Status() {
  return h("p", { id: "status" }, useConnection().state);
}
const url = new URLSearchParams(location.search).get("relay");
createRoot(document.getElementById("root")).render(h(SynclineProvider, { options: { url } }, h(Status)));
`);
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], app);
  run(join(app, "node_modules/.bin/webpack"), ["--mode", "production"], app);
  writeFileSync(join(app, "dist/index.html"), `<!doctype html><div id="root"></div><script src="main.js"></script>`);
  const site = await startStatic(join(app, "dist"));
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${site.origin}/?relay=${encodeURIComponent(relay.ws)}`);
    await waitFor("the webpack app connects", async () => (await page.textContent("#status").catch(() => "")) === "open");
    assert.deepEqual(errors, []);
  } finally {
    await site.stop();
  }
});
