import { useClient, useDocument } from "syncline/react";

const STRATEGIES = [["lww", "Last writer wins"], ["merge", "Merge"], ["server", "Server wins"], ["client", "Client wins"]];

/** A shared score document: changes show at once, and concurrent edits are settled visibly. */
export function Scoreboard() {
  const client = useClient();
  const doc = useDocument("score", { channel: "match:demo:docs" });
  const score = doc.value ?? { home: 0, away: 0 };
  const bump = (team) => doc.mutate((s) => ({ home: 0, away: 0, ...s, [team]: (s?.[team] ?? 0) + 1 }));
  return (
    <div>
      <h2>Score <span className="muted">document "score"</span>{doc.pending > 0 && <span className="badge sending">{doc.pending} pending</span>}</h2>
      <div className="scoreline" data-testid="score">
        <button onClick={() => bump("home")} aria-label="home scores">+</button>
        <span>{score.home}</span><span className="muted">:</span><span>{score.away}</span>
        <button onClick={() => bump("away")} aria-label="away scores">+</button>
      </div>
      <div className="row">
        <label className="muted small" htmlFor="strategy">On conflict</label>
        <select id="strategy" defaultValue="lww" onChange={(e) => client?.setConflictStrategy(e.target.value, "score")}>
          {STRATEGIES.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
        </select>
      </div>
      <h3>Conflicts <span className="muted">{doc.conflicts.length}</span></h3>
      {doc.conflicts.length === 0 ? (
        <p className="muted small">None yet — edit the score in two tabs at once.</p>
      ) : (
        <ul className="conflicts" data-testid="conflicts">
          {doc.conflicts.slice(-5).reverse().map((c) => (
            <li key={`${c.id}-${c.version}`}>
              <span className="muted small">v{c.version} · {c.strategy}</span>
              <span>{JSON.stringify(c.server)} vs {JSON.stringify(c.client)} → <b>{JSON.stringify(c.resolved)}</b></span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
