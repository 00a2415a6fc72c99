// Renders every hook's output as JSON in #probe; the tests read it and act through window.probe.
import { StrictMode, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  SynclineProvider, useChannel, useConnection, useDocument, useEvent, useMetrics, useOnline,
  useOutbox, usePublish, useRequest, useTabRole,
} from "syncline/react";

const params = new URLSearchParams(location.search);
const channel = params.get("channel");

function Probe() {
  const connection = useConnection();
  const online = useOnline();
  const role = useTabRole();
  const latest = useChannel(channel);
  const [goals, setGoals] = useState(0);
  useEvent(channel, "goal", () => setGoals((n) => n + 1));
  const publish = usePublish();
  const request = useRequest();
  const doc = useDocument("probe-doc", { channel: `${channel}:docs` });
  const outbox = useOutbox();
  const metrics = useMetrics();
  const renders = useRef(0);
  renders.current += 1;
  window.probe = { publish, request, mutate: doc.mutate, reconnectNow: connection.reconnectNow };
  const view = {
    ready: connection.ready,
    state: connection.state,
    online,
    role,
    latest: latest ? { event: latest.event, data: latest.data } : null,
    goals,
    doc: { value: doc.value, pending: doc.pending, conflicts: doc.conflicts.length },
    outbox: { depth: outbox.depth, deadLetters: outbox.deadLetters.length },
    messagesIn: metrics?.messagesIn ?? null,
    renders: renders.current,
  };
  return <pre id="probe">{JSON.stringify(view)}</pre>;
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <SynclineProvider options={{ url: params.get("relay"), storageKey: params.get("key"), reconnect: { initialDelayMs: 100, maxDelayMs: 500 } }}>
      <Probe />
    </SynclineProvider>
  </StrictMode>,
);
