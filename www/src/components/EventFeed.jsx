import { useState } from "react";
import { useChannel } from "syncline/react";

function Badge({ status }) {
  const text = { sending: "sending", queued: "queued", delivered: "delivered", refused: "refused" }[status];
  return text ? <span className={`badge ${status}`} data-testid="badge">{text}</span> : null;
}

/** The channel's events as they arrive, with this tab's own publishes marked until delivered. */
export function EventFeed({ channel, sent, track }) {
  const [events, setEvents] = useState([]);
  useChannel(channel, (m) => {
    setEvents((all) => [{ id: m.id, seq: m.seq, event: m.event, data: m.data }, ...all.filter((e) => e.id !== m.id)].slice(0, 50));
    if (m.id) track(m.id, { status: "delivered" });
  }, { since: 0 });
  const seen = new Set(events.map((e) => e.id));
  const mine = Object.values(sent)
    .filter((s) => s.id && s.event && !seen.has(s.id) && s.status !== "refused")
    .sort((a, b) => b.at - a.at)
    .map((s) => ({ ...s, seq: null }));
  const rows = [...mine, ...events];
  return (
    <div>
      <h2>Live feed <span className="muted">{channel}</span></h2>
      {rows.length === 0 && <p className="muted">No events yet. Publish one.</p>}
      <ol className="feed" data-testid="feed">
        {rows.map((e) => (
          <li key={e.id ?? e.seq} data-id={e.id} data-testid="feed-item">
            <span className="seq">{e.seq === null ? "…" : `#${e.seq}`}</span>
            <i className={`mark mark-${e.event}`} />
            <span className="what"><strong>{e.event}</strong> {e.data?.player} <span className="muted">{e.data?.team} · {e.data?.minute}'</span></span>
            <Badge status={sent[e.id]?.status ?? (e.seq === null ? "sending" : "")} />
          </li>
        ))}
      </ol>
    </div>
  );
}
