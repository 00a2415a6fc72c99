import { useState } from "react";
import { usePublish } from "syncline/react";

const EVENTS = [
  ["goal", "Goal"],
  ["card", "Card"],
  ["substitution", "Substitution"],
];

/** Publishes match events; each shows in the feed at once, marked until the server has it. */
export function PublishForm({ channel, track }) {
  const publish = usePublish();
  const [event, setEvent] = useState("goal");
  const [team, setTeam] = useState("home");
  const [player, setPlayer] = useState("");
  const [minute, setMinute] = useState(12);

  async function send(e, target = channel) {
    e.preventDefault();
    const data = { team, player: player || "Unknown", minute: Number(minute) };
    const pending = publish(target, event, data);
    const id = pending.id;
    if (id) track(id, { id, event, data, status: "sending", at: Date.now() });
    pending.then(
      (r) => track(r.id, { status: r.status === "acked" ? "delivered" : "queued" }),
      (err) => id && track(id, { status: "refused", error: err.message }),
    );
  }

  return (
    <form onSubmit={send} data-testid="publish-form">
      <h2>Publish</h2>
      <div className="segmented">
        {EVENTS.map(([value, text]) => (
          <button type="button" key={value} className={event === value ? "on" : ""} onClick={() => setEvent(value)}>
            <i className={`mark mark-${value}`} /> {text}
          </button>
        ))}
      </div>
      <div className="row">
        <select value={team} onChange={(e) => setTeam(e.target.value)} aria-label="team">
          <option value="home">Home</option>
          <option value="away">Away</option>
        </select>
        <input value={player} onChange={(e) => setPlayer(e.target.value)} placeholder="Player" aria-label="player" data-testid="player" />
        <input type="number" min="0" max="130" value={minute} onChange={(e) => setMinute(e.target.value)} aria-label="minute" className="minute" />
      </div>
      <div className="row">
        <button type="submit" className="primary" data-testid="publish">Publish</button>
        <button type="button" className="ghost" onClick={(e) => send(e, "refused.demo")} title="The demo relay refuses this channel: the event becomes a dead letter">
          Send to a refused channel
        </button>
      </div>
    </form>
  );
}
