// make size: how many bytes syncline costs a page, next to the libraries it is compared with.
//
// syncline is measured twice, and the JSON says which figure is which:
//   total     as shipped: every file the npm package loads in the browser (the wasm, the
//             wasm-bindgen glue and its snippets, index.js, the React hooks), each file compressed
//             on its own as a server would send it; nothing minified.
//   minified  what an app's bundler makes of it: index.js and react/index.js bundled by esbuild
//             with --minify (react and react-dom external), plus the same wasm.
// Each peer is its npm package bundled by esbuild with --minify (bench/peers.mjs).
// gzip is node's zlib at level 9, brotli node's at quality 11. KB here are 1,000 bytes; the
// budget is 60 KB = 60,000 bytes gzip for the wasm + glue + hooks, checked against the
// as-shipped total (and reported for the minified one). The budget is reported, not enforced:
// the script fails only when a file is missing.
//
// Writes target/bench/size.json and target/bench/size.md.
//
//   node bench/size.mjs        (from any directory)
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, release, type } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { buildPeers, bundleFile, esbuildVersion, PEERS, ROOT, SETTINGS } from "./peers.mjs";

const PKG = join(ROOT, "pkg");
const OUT = join(ROOT, "target/bench");
const WORK = join(OUT, "size"); // the bundles measured here, kept for inspection
const GOAL_BYTES = 60_000;
const APPS_TODAY = ["socket.io-client", "workbox-background-sync", "broadcast-channel"];

const rel = (file) => relative(ROOT, file);

// ---------------------------------------------------------------- measuring

function measure(bytes) {
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  };
}

const measureFile = (file) => ({ file: rel(file), ...measure(readFileSync(file)) });

function sum(rows) {
  const total = { raw: 0, gzip: 0, brotli: 0 };
  for (const r of rows) for (const k of Object.keys(total)) total[k] += r[k];
  return total;
}

// ---------------------------------------------------------------- syncline's files

function jsFilesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? jsFilesUnder(join(dir, d.name)) : d.name.endsWith(".js") ? [join(dir, d.name)] : []))
    .sort();
}

/** The relative imports of a module (static `import … from "./x"`, `export … from`, bare `import "./x"`). */
function relativeImports(file) {
  const text = readFileSync(file, "utf8");
  const found = new Set();
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*)["'](\.{1,2}\/[^"']+)["']/g)) found.add(resolve(dirname(file), m[1]));
  return [...found];
}

const wasm = join(PKG, "wasm/syncline_bg.wasm");
const glue = join(PKG, "wasm/syncline.js");
const entry = join(PKG, "index.js");
const reactEntry = join(PKG, "react/index.js");

const missing = [wasm, glue, entry, reactEntry].filter((f) => !existsSync(f));
const reactDir = join(PKG, "react");
const shippedJs = missing.length
  ? []
  : [
      glue,
      ...jsFilesUnder(join(PKG, "wasm/snippets")),
      entry,
      ...readdirSync(reactDir).filter((n) => n.endsWith(".js")).sort().map((n) => join(reactDir, n)),
    ];
// Whatever the shipped modules import must be there too (a snippet of a stale build, say).
for (const file of shippedJs) for (const dep of relativeImports(file)) if (!existsSync(dep)) missing.push(dep);
if (missing.length) {
  console.error(`make size: missing ${[...new Set(missing)].map(rel).join(", ")}; run \`make pkg\` first`);
  process.exit(1);
}

mkdirSync(WORK, { recursive: true });

const kindOf = (file) =>
  file === wasm ? "wasm" : file === glue ? "glue" : file.includes("/snippets/") ? "snippet" : file.startsWith(reactDir) ? "hooks" : "entry";
const files = [wasm, ...shippedJs].map((f) => ({ kind: kindOf(f), ...measureFile(f) }));

const minEntry = join(WORK, "syncline-entry.js");
writeFileSync(
  minEntry,
  `// Everything syncline's npm package exports, so that nothing is tree-shaken away.\n` +
    `import * as syncline from ${JSON.stringify(entry)};\n` +
    `import * as react from ${JSON.stringify(reactEntry)};\n` +
    `export { syncline, react };\n`,
);
const minBundle = await bundleFile(minEntry, join(WORK, "syncline.min.js"), {
  external: ["react", "react-dom", "react/*", "react-dom/*"],
});
const minified = [
  { file: rel(minBundle), what: "pkg/index.js + pkg/react/index.js and what they import, esbuild --minify", ...measure(readFileSync(minBundle)) },
  { file: rel(wasm), what: "the same wasm", ...measure(readFileSync(wasm)) },
];

// ---------------------------------------------------------------- peers

const peerPaths = await buildPeers(join(WORK, "peers"));
const peers = Object.fromEntries(
  Object.values(PEERS).map((p) => [
    p.name,
    { package: p.package, version: p.version, entry: p.entry.trim(), file: rel(peerPaths[p.name]), ...measure(readFileSync(peerPaths[p.name])) },
  ]),
);
const appsToday = {
  what: "what apps glue together today: each library bundled on its own, sizes added",
  libraries: APPS_TODAY,
  ...sum(APPS_TODAY.map((name) => peers[name])),
};

// ---------------------------------------------------------------- results

const pkgVersion = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")).version;
const total = sum(files);
const minTotal = sum(minified);
const results = {
  date: new Date().toISOString(),
  machine: {
    os: `${type()} ${release()}`,
    arch: arch(),
    cores: availableParallelism?.() ?? cpus().length,
    cpu: cpus()[0]?.model?.trim() ?? "unknown",
    node: process.version,
  },
  method: {
    gzip: "node zlib gzip, level 9",
    brotli: "node zlib brotli, quality 11",
    perFile: "each file compressed on its own (as a server sends it); totals add those sizes",
    bundler: `esbuild ${esbuildVersion()}, ${JSON.stringify({ ...SETTINGS, logLevel: undefined })}`,
    kilobyte: "KB = 1,000 bytes",
  },
  syncline: {
    version: pkgVersion,
    files,
    total: { what: "as shipped: the files above (wasm, glue, snippets, index.js, hooks), not minified", ...total },
    minified: { what: "JS minified: esbuild --minify bundle of index.js + react/index.js (react external) + the wasm", files: minified, ...minTotal },
  },
  peers,
  appsToday,
  goal: {
    what: "syncline wasm + glue + hooks, gzip -9",
    limitBytes: GOAL_BYTES,
    note: "60 KB taken as 60,000 bytes; checked against syncline.total (as shipped), reported for syncline.minified",
    asShipped: { gzip: total.gzip, met: total.gzip <= GOAL_BYTES },
    minified: { gzip: minTotal.gzip, met: minTotal.gzip <= GOAL_BYTES },
    met: total.gzip <= GOAL_BYTES,
  },
};

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, "size.json"), `${JSON.stringify(results, null, 2)}\n`);

// ---------------------------------------------------------------- the tables

const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
const row = (cells) => `| ${cells.join(" | ")} |`;
const sizes = (s) => [kb(s.raw), kb(s.gzip), kb(s.brotli)];

const md = [];
const m = results.machine;
md.push(`Sizes measured ${results.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores), ${m.os} ${m.arch}, Node ${m.node}.`);
md.push(`gzip -9 and brotli 11 (node zlib), each file compressed on its own; KB = 1,000 bytes.`);
md.push("");
md.push(row(["syncline " + pkgVersion + " file", "kind", "raw", "gzip", "brotli"]));
md.push(row(["---", "---", "---:", "---:", "---:"]));
for (const f of files) md.push(row([f.file, f.kind, ...sizes(f)]));
md.push(row(["**total, as shipped**", "", ...sizes(total).map((s) => `**${s}**`)]));
for (const f of minified) md.push(row([f.file, f.file.endsWith(".wasm") ? "wasm" : "JS, esbuild --minify", ...sizes(f)]));
md.push(row(["**total, JS minified**", "", ...sizes(minTotal).map((s) => `**${s}**`)]));
md.push("");
md.push(row(["peer (esbuild --minify)", "version", "raw", "gzip", "brotli", "syncline as shipped ÷ it (gzip)"]));
md.push(row(["---", "---", "---:", "---:", "---:", "---:"]));
for (const [name, p] of Object.entries(peers)) md.push(row([name, p.version, ...sizes(p), (total.gzip / p.gzip).toFixed(1)]));
md.push(row([`**apps today** (${APPS_TODAY.join(" + ")})`, "", ...sizes(appsToday), (total.gzip / appsToday.gzip).toFixed(1)]));
md.push("");
const verdict = (met) => (met ? "met" : "**not met**");
md.push(
  `Budget: syncline wasm + glue + hooks ≤ ${kb(GOAL_BYTES)} gzip (60,000 bytes): ` +
    `as shipped ${kb(total.gzip)}, ${verdict(results.goal.asShipped.met)}; ` +
    `JS minified ${kb(minTotal.gzip)}, ${verdict(results.goal.minified.met)}.`,
);
writeFileSync(join(OUT, "size.md"), `${md.join("\n")}\n`);

// A short table on the terminal.
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const line = (name, s) => console.log(`${pad(name, 44)}${lpad(kb(s.raw), 11)}${lpad(kb(s.gzip), 11)}${lpad(kb(s.brotli), 11)}`);
console.log(`${pad("", 44)}${lpad("raw", 11)}${lpad("gzip -9", 11)}${lpad("brotli 11", 11)}`);
line(`syncline ${pkgVersion}, as shipped (${files.length} files)`, total);
line("  of which the wasm", files[0]);
line(`syncline ${pkgVersion}, JS minified + wasm`, minTotal);
for (const [name, p] of Object.entries(peers)) line(`${name} ${p.version}`, p);
line("apps today (socket.io + workbox + bc)", appsToday);
console.log(
  `budget ≤ 60,000 B gzip: as shipped ${total.gzip.toLocaleString("en")} B (${results.goal.asShipped.met ? "met" : "not met"}), ` +
    `minified ${minTotal.gzip.toLocaleString("en")} B (${results.goal.minified.met ? "met" : "not met"})`,
);
console.log(`wrote ${rel(join(OUT, "size.json"))} and ${rel(join(OUT, "size.md"))}`);
