import { useEffect, useState } from "react";
import { useConnection, useOutbox } from "syncline/react";

function label(c) {
  if (!c.online) return "Offline";
  switch (c.state) {
    case "open": return "Live";
    case "connecting": return c.attempt > 0 ? "Reconnecting…" : "Connecting…";
    case "waiting": return "Reconnecting";
    case "offline": return "Offline";
    case "closed": return "Disconnected";
    default: return "Starting…";
  }
}

function tone(c) {
  if (!c.online || c.state === "offline" || c.state === "closed") return "down";
  return c.state === "open" ? "up" : "busy";
}

function useSecondsUntil(at) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!at) return undefined;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [at]);
  return at ? Math.max(0, Math.ceil((at - now) / 1000)) : null;
}

/** A status pill that opens into the connection's details. */
export function ConnectionIndicator() {
  const c = useConnection();
  const outbox = useOutbox();
  const [open, setOpen] = useState(false);
  const retryIn = useSecondsUntil(c.state === "waiting" ? c.retryAt : null);
  const rows = [
    ["State", c.state],
    ["Round trip", c.rttMs === null ? "—" : `${c.rttMs} ms`],
    ["Reconnects", c.reconnects],
    ["This tab", c.role === "leader" ? `leader (${c.tabs} other tab${c.tabs === 1 ? "" : "s"})` : c.role],
    ["Outbox", `${outbox.depth} waiting, ${outbox.inFlight} in flight${outbox.degraded ? " (memory only)" : ""}`],
    ["Sending", outbox.breaker === "closed" ? "normal" : `paused (breaker ${outbox.breaker})`],
    ["Last error", c.lastError ? `${c.lastError.kind}: ${c.lastError.message}` : "—"],
  ];
  return (
    <div className={`indicator ${tone(c)}`} data-testid="indicator" data-state={c.state} data-online={String(c.online)}>
      <button className="pill" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span className="dot" />
        <span data-testid="indicator-label">{label(c)}</span>
        {retryIn !== null && <span className="muted">in {retryIn}s</span>}
        {outbox.depth > 0 && <span className="badge">{outbox.depth} queued</span>}
      </button>
      {open && (
        <div className="details" data-testid="indicator-details">
          <dl>{rows.map(([k, v]) => [<dt key={`${k}t`}>{k}</dt>, <dd key={`${k}d`}>{String(v)}</dd>])}</dl>
          <button onClick={c.reconnectNow} disabled={c.state === "open"}>Reconnect now</button>
        </div>
      )}
    </div>
  );
}
