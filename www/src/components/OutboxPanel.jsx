import { useMetrics, useOutbox } from "syncline/react";

/** The outbox, its dead letters (with retry and discard), and a few live numbers. */
export function OutboxPanel() {
  const outbox = useOutbox();
  const metrics = useMetrics({ intervalMs: 2000 });
  return (
    <div>
      <h2>Outbox</h2>
      <div className="stats">
        <div><b data-testid="outbox-depth">{outbox.depth}</b><span>waiting</span></div>
        <div><b>{outbox.inFlight}</b><span>in flight</span></div>
        <div><b>{outbox.oldestAgeMs === null ? "—" : `${Math.round(outbox.oldestAgeMs / 1000)}s`}</b><span>oldest</span></div>
        <div><b>{metrics?.rttP50Ms ?? "—"}</b><span>RTT p50 ms</span></div>
      </div>
      <p className="muted small">Storage: {outbox.storage}{outbox.degraded ? " — degraded: entries live only while this page does" : ""}</p>
      <h3>Dead letters <span className="muted">{outbox.deadLetters.length}</span></h3>
      {outbox.deadLetters.length === 0 ? (
        <p className="muted small">Nothing refused.</p>
      ) : (
        <>
          <ul className="letters" data-testid="dead-letters">
            {outbox.deadLetters.map((d) => (
              <li key={d.id}>
                <span><strong>{d.event}</strong> on {d.channel}</span>
                <span className="muted small">{d.reason}</span>
              </li>
            ))}
          </ul>
          <div className="row">
            <button onClick={() => outbox.retry()}>Retry all</button>
            <button className="ghost" onClick={() => outbox.discard()}>Discard all</button>
          </div>
        </>
      )}
    </div>
  );
}
