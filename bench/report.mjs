// The Markdown table and the SVG chart of `make bench` (from target/bench/results.json, and
// target/bench/size.json when `make size` has run). Ratios are syncline's figure divided by
// the peer's; whether higher or lower is better is stated per scenario.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const SYNCLINE = "syncline";
const fmt = (x, digits = 2) => {
  if (!Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en");
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(digits);
};

/** Rows of one scenario: [label, figure name, unit, better]. */
const FIGURES = {
  inbound: [["messages/s", "perSec", "higher"]],
  latency: [["p50 ms", "p50", "lower"], ["p99 ms", "p99", "lower"]],
  outbox: [["enqueue entries/s", "perSec", "higher"], ["drain s", "drainSeconds", "lower"]],
  fanout: [["p50 ms", "p50", "lower"], ["p99 ms", "p99", "lower"]],
  startup: [["ms to open", "openedMs", "lower"]],
  memory: [["growth MB", "growthMB", "lower"]],
  idle: [["timers/min", "perMinute", "lower"]],
};

function readSize(dir) {
  const file = join(dir, "size.json");
  if (!existsSync(file)) return null;
  try { return JSON.parse(readFileSync(file, "utf8")); } catch { return null; }
}

/** The goals, each checked against the figures (null when not measured). */
export function goals(results, size) {
  const s = results.scenarios;
  const lib = (scenario, name) => s[scenario]?.libs?.[name];
  const check = (text, value, ok) => ({ goal: text, value, met: value === null ? null : ok });
  const inbound = lib("inbound", SYNCLINE)?.perSec / lib("inbound", "socket.io-client")?.perSec;
  const p99 = lib("latency", SYNCLINE)?.p99;
  const enqueue = lib("outbox", SYNCLINE)?.perSec / lib("outbox", "workbox-background-sync")?.perSec;
  const drain = lib("outbox", SYNCLINE)?.drainSeconds;
  const fanout = lib("fanout", SYNCLINE)?.p99 - lib("fanout", "native BroadcastChannel")?.p99;
  const startup = lib("startup", SYNCLINE)?.openedMs / lib("startup", "websocket")?.openedMs;
  const memory = lib("memory", SYNCLINE)?.growthMB;
  const idle = lib("idle", SYNCLINE)?.perMinute;
  const gzip = size?.syncline?.total?.gzip;
  const n = (x) => (Number.isFinite(x) ? x : null);
  return [
    check("inbound throughput ≥ 1.2 × socket.io-client", n(inbound) && `${fmt(inbound)} ×`, inbound >= 1.2),
    check("latency p99 ≤ 2 ms at 1,000 events/s", n(p99) && `${fmt(p99)} ms`, p99 <= 2),
    check("durable enqueue ≥ 10 × workbox Queue", n(enqueue) && `${fmt(enqueue)} ×`, enqueue >= 10),
    check("drain of 10,000 < 2 s", n(drain) && `${fmt(drain)} s`, drain < 2),
    check("fan-out p99 ≤ native BroadcastChannel's + 1 ms", n(fanout) && `+${fmt(fanout)} ms`, fanout <= 1),
    check("startup ≤ 1.1 × a plain WebSocket page's", n(startup) && `${fmt(startup)} ×`, startup <= 1.1),
    check("memory growth < 1 MB after 1,000,000 events", n(memory) && `${fmt(memory)} MB`, memory < 1),
    check("idle wakeups ≤ 4 per minute", n(idle) && `${fmt(idle, 1)} /min`, idle <= 4),
    check("size (wasm + glue + hooks, gzip) ≤ 60 KB", n(gzip) && `${fmt(gzip / 1000, 1)} KB`, gzip <= 60_000),
  ];
}

export function writeTable(results, file) {
  const size = readSize(dirname(file));
  const lines = [];
  const m = results.machine;
  lines.push(`Measured ${results.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ${m.os}, ${m.browser} headless, Node ${m.node}; ` +
    `median of ${results.rounds} rounds (startup: at least 9; memory and idle: 1)${results.quick ? "; QUICK run with small counts" : ""}.`);
  lines.push("");
  lines.push("| scenario | library | figure | value | syncline ÷ it |");
  lines.push("|---|---|---|---|---|");
  for (const [name, entry] of Object.entries(results.scenarios)) {
    const title = entry.title.replace(/:.*/, "");
    const ours = entry.libs[SYNCLINE];
    for (const [label, key, better] of FIGURES[name] ?? []) {
      for (const [lib, slot] of Object.entries(entry.libs)) {
        const ratio = lib === SYNCLINE || !ours ? "" : `${fmt(ours[key] / slot[key])} (${better} is better)`;
        const libName = lib === SYNCLINE ? `**${lib}**` : lib;
        lines.push(`| ${title} | ${libName} | ${label} | ${fmt(slot[key])} | ${ratio} |`);
      }
    }
  }
  if (size) {
    const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
    lines.push(`| size (gzip -9) | **syncline** (wasm + glue + hooks) | bytes | ${kb(size.syncline.total.gzip)} | |`);
    for (const [name, p] of Object.entries(size.peers ?? {})) {
      lines.push(`| size (gzip -9) | ${name} (esbuild --minify) | bytes | ${kb(p.gzip)} | ${fmt(size.syncline.total.gzip / p.gzip)} |`);
    }
  }
  lines.push("");
  lines.push("| goal | measured | met |");
  lines.push("|---|---|---|");
  for (const g of goals(results, size)) lines.push(`| ${g.goal} | ${g.value ?? "not measured"} | ${g.met === null ? "–" : g.met ? "yes" : "**no**"} |`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return lines.join("\n");
}

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** One panel per scenario figure, a horizontal bar per library on the panel's own scale. */
export function writeChart(results, file) {
  const panels = [];
  for (const [name, entry] of Object.entries(results.scenarios)) {
    for (const [label, key, better] of FIGURES[name] ?? []) {
      const bars = Object.entries(entry.libs).map(([lib, slot]) => ({ lib, value: slot[key] })).filter((b) => Number.isFinite(b.value));
      if (bars.length) panels.push({ title: `${entry.title.replace(/:.*/, "")} — ${label} (${better} is better)`, bars });
    }
  }
  const W = 470, barH = 16, gap = 4, labelW = 170, cols = 2;
  const heightOf = (p) => 28 + p.bars.length * (barH + gap) + 10;
  const rows = [];
  for (let i = 0; i < panels.length; i += cols) rows.push(panels.slice(i, i + cols));
  const parts = [];
  let y = 40;
  for (const row of rows) {
    const h = Math.max(...row.map(heightOf));
    row.forEach((p, c) => {
      const x = 10 + c * (W + 20);
      const max = Math.max(...p.bars.map((b) => Math.abs(b.value))) || 1;
      parts.push(`<text x="${x}" y="${y + 14}" font-size="12" font-weight="bold">${esc(p.title)}</text>`);
      p.bars.forEach((b, i) => {
        const by = y + 24 + i * (barH + gap);
        const w = Math.max(1, ((W - labelW - 70) * Math.abs(b.value)) / max);
        const color = b.lib.startsWith(SYNCLINE) ? "#d9480f" : "#868e96";
        parts.push(`<text x="${x + labelW - 6}" y="${by + 12}" font-size="11" text-anchor="end">${esc(b.lib)}</text>`);
        parts.push(`<rect x="${x + labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`);
        parts.push(`<text x="${x + labelW + w + 4}" y="${by + 12}" font-size="11">${esc(fmt(b.value))}</text>`);
      });
    });
    y += h;
  }
  const m = results.machine;
  const title = `syncline and its peers, ${results.date.slice(0, 10)}, ${m.cores} cores, ${m.browser} headless (median of rounds)`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * (W + 20)}" height="${y + 10}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>${parts.join("")}</svg>\n`;
  writeFileSync(file, svg);
}

// `node bench/report.mjs` redraws the table and chart from target/bench/results.json.
if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = join(import.meta.dirname, "../target/bench");
  const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
  console.log(writeTable(results, join(dir, "results.md")));
  writeChart(results, join(dir, "chart.svg"));
}
