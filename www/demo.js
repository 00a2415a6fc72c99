// The demo page: one client, its live state, a channel feed and a publish form.
import { createClient } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const scheme = location.protocol === "https:" ? "wss" : "ws";
const client = await createClient({ url: `${scheme}://${location.host}/ws` });
window.synclineClient = client;

function render(s) {
  $("indicator").dataset.state = s.state;
  $("state").textContent = s.state;
  const rows = {
    "Round trip": s.rttMs === null ? "—" : `${s.rttMs} ms`,
    "Session": s.session ?? "—",
    "This tab": s.role === "leader" ? `leader (holds the connection for ${s.tabs} other tab${s.tabs === 1 ? "" : "s"})` : s.role,
    "Failed attempts": s.attempt,
    "Reconnects": s.reconnects,
    "Next attempt": s.retryAt ? `in ${Math.max(0, Math.round((s.retryAt - Date.now()) / 100) / 10)} s` : "—",
    "Browser online": s.online ? "yes" : "no",
    "Outbox (in flight)": `${s.outbox.depth} (${s.outbox.inFlight})${s.outbox.degraded ? " — memory only" : ""}`,
    "Dead letters": s.outbox.deadLetters,
    "Last error": s.lastError ? `${s.lastError.kind}: ${s.lastError.message}` : "—",
  };
  $("details").replaceChildren(...Object.entries(rows).flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    return [dt, dd];
  }));
  $("toggle").textContent = s.state === "closed" ? "Connect" : "Disconnect";
}

render(client.getState());
client.onStateChange(render);

client.subscribe("match:demo", (m) => {
  const li = document.createElement("li");
  li.innerHTML = `<span class="seq">#${m.seq}</span> <strong></strong> <span></span>`;
  li.querySelector("strong").textContent = m.event;
  li.querySelector("span:last-child").textContent = m.data?.text ?? "";
  $("feed").prepend(li);
}, { since: 0 });

$("publish").addEventListener("submit", async (e) => {
  e.preventDefault();
  const event = $("event").value;
  const text = $("text").value;
  $("publish-result").textContent = "sending…";
  try {
    const ack = await client.publish("match:demo", event, { text, at: Date.now() });
    $("publish-result").textContent = ack.status === "acked" ? `stored as #${ack.seq}` : "queued: stored locally, will be sent";
  } catch (err) {
    $("publish-result").textContent = `${err.kind}: ${err.message}`;
  }
});

$("reconnect").addEventListener("click", () => client.reconnectNow());
$("toggle").addEventListener("click", () => {
  if (client.getState().state === "closed") client.connect();
  else client.disconnect();
});
