import { useCallback, useState } from "react";
import { useClient } from "syncline/react";
import { ConnectionIndicator } from "./components/ConnectionIndicator.jsx";
import { EventFeed } from "./components/EventFeed.jsx";
import { PublishForm } from "./components/PublishForm.jsx";
import { OutboxPanel } from "./components/OutboxPanel.jsx";
import { Scoreboard } from "./components/Scoreboard.jsx";

export const CHANNEL = "match:demo";

export function App() {
  const client = useClient();
  // Events this tab published, by id, with where each one is: sending, queued, delivered, refused.
  const [sent, setSent] = useState({});
  const track = useCallback((id, patch) => setSent((all) => ({ ...all, [id]: { ...all[id], ...patch } })), []);
  if (typeof window !== "undefined") window.synclineClient = client;
  return (
    <div className="app">
      <header>
        <div className="brand">
          <span className="logo">◆</span> syncline <span className="sub">match center</span>
        </div>
        <ConnectionIndicator />
      </header>
      <main>
        <section className="card area-publish"><PublishForm channel={CHANNEL} track={track} /></section>
        <section className="card area-score"><Scoreboard /></section>
        <section className="card area-feed"><EventFeed channel={CHANNEL} sent={sent} track={track} /></section>
        <section className="card area-outbox"><OutboxPanel /></section>
      </main>
    </div>
  );
}
