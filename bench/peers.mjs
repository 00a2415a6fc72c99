// The libraries syncline is compared with, each an ordinary npm package (pinned devDependencies
// of www/package.json) bundled for the browser with esbuild, the way an app would ship it.
//
// The benchmark pages import these bundles by URL, so their exported names are fixed:
//   /peers/socket.io-client.js          export { io }
//   /peers/partysocket.js               export { ReconnectingWebSocket }  (partysocket's `WebSocket`)
//   /peers/reconnecting-websocket.js    export { ReconnectingWebSocket }  (the package's default)
//   /peers/workbox-background-sync.js   export { Queue }
//   /peers/broadcast-channel.js         export { BroadcastChannel }       (pubkey's package)
//
//   PEERS                                 { [name]: { name, package, version, entry } }
//   await buildPeers(outDir)              bundles every peer to outDir/<name>.js, returns { [name]: path }
//   await bundleFile(entry, outFile, opts) bundles one file with the same settings (opts override them)
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

/** The repository's root (this file is bench/peers.mjs). */
export const ROOT = resolve(import.meta.dirname, "..");
/** Where the npm packages are installed (`make deps-node`). */
export const WWW = join(ROOT, "www");

const requireFromWww = createRequire(join(WWW, "package.json"));

function installedVersion(pkg) {
  // Read the file directly: some packages (partysocket) do not export ./package.json.
  const file = join(WWW, "node_modules", pkg, "package.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).version : null;
}

function peer(name, entry, pkg = name) {
  return { name, package: pkg, version: installedVersion(pkg), entry };
}

export const PEERS = {
  "socket.io-client": peer("socket.io-client", `export { io } from "socket.io-client";\n`),
  // partysocket's main entry exports its reconnecting WebSocket as `WebSocket` (and PartySocket,
  // a subclass for PartyKit servers, as the default).
  partysocket: peer("partysocket", `export { WebSocket as ReconnectingWebSocket } from "partysocket";\n`),
  "reconnecting-websocket": peer(
    "reconnecting-websocket",
    `export { default as ReconnectingWebSocket } from "reconnecting-websocket";\n`,
  ),
  "workbox-background-sync": peer("workbox-background-sync", `export { Queue } from "workbox-background-sync";\n`),
  "broadcast-channel": peer("broadcast-channel", `export { BroadcastChannel } from "broadcast-channel";\n`),
};

/** The settings every bundle shares: minified ES2020 for the browser. */
export const SETTINGS = Object.freeze({
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  logLevel: "warning",
});

let esbuildModule = null;
function esbuild() {
  if (esbuildModule === null) {
    try {
      esbuildModule = requireFromWww("esbuild");
    } catch (e) {
      throw new Error(`esbuild is not installed in www/node_modules (run \`make deps-node\`): ${e.message}`);
    }
  }
  return esbuildModule;
}

/** The version of the esbuild that makes the bundles. */
export function esbuildVersion() {
  return esbuild().version;
}

/** Bundles every peer into outDir/<name>.js; returns { [name]: absolute path }. */
export async function buildPeers(outDir) {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const missing = Object.values(PEERS).filter((p) => p.version === null).map((p) => p.package);
  if (missing.length) {
    throw new Error(`not installed in www/node_modules: ${missing.join(", ")} (run \`make deps-node\`)`);
  }
  const paths = {};
  await Promise.all(
    Object.values(PEERS).map(async (p) => {
      const outfile = join(dir, `${p.name}.js`);
      await esbuild().build({
        ...SETTINGS,
        stdin: { contents: p.entry, resolveDir: WWW, sourcefile: `${p.name}-entry.js`, loader: "js" },
        outfile,
      });
      paths[p.name] = outfile;
    }),
  );
  // Same order as PEERS, whatever order the builds finished in.
  return Object.fromEntries(Object.keys(PEERS).map((name) => [name, paths[name]]));
}

/**
 * Bundles one file (say a service worker that imports workbox) with the same settings; `opts`
 * overrides any of them (e.g. { format: "iife" } for a classic service worker, or `external`).
 * Bare imports resolve from www/node_modules wherever the file lives. Returns outFile's absolute path.
 */
export async function bundleFile(entryPath, outFile, opts = {}) {
  const outfile = resolve(outFile);
  mkdirSync(dirname(outfile), { recursive: true });
  await esbuild().build({
    ...SETTINGS,
    nodePaths: [join(WWW, "node_modules")],
    ...opts,
    entryPoints: [resolve(entryPath)],
    outfile,
  });
  return outfile;
}
