// A widget editor on useOptimisticUpdate, served on the REST API's origin
// (tests/servers/rest-server.mjs, under /hooks/); renders the hook's output as JSON in #probe,
// and tests/optimistic.test.mjs acts through window.probe.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { SynclineProvider, useClient, useOptimisticUpdate } from "syncline/react";

const params = new URLSearchParams(location.search);

const save = (id, body) => () =>
  fetch(`/api/widgets/${encodeURIComponent(id)}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => (r.ok ? r.json() : Promise.reject(new Error(`http ${r.status}: ${(await r.json()).error}`))));

function Widget({ id }) {
  const client = useClient();
  const widget = useOptimisticUpdate(`widget:${id}`);
  window.probe = {
    ready: client !== null,
    /** Loads the widget from the API, as the app does on start. */
    load: () => fetch(`/api/widgets/${id}`).then((r) => r.json()).then((w) => client.setDocument(`widget:${id}`, w)),
    /** Sets the value through the hook's update(); the outcome goes to window.probe.outcome. */
    set(value) {
      window.probe.outcome = { state: "pending" };
      widget.update({ value }, save(id, { value })).then(
        (result) => (window.probe.outcome = { state: "resolved", result }),
        (e) => (window.probe.outcome = { state: "rejected", message: e.message }),
      );
    },
    outcome: window.probe?.outcome ?? null,
  };
  return <pre id="probe">{JSON.stringify({ ready: client !== null, value: widget.value, pending: widget.pending, version: widget.version })}</pre>;
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <SynclineProvider options={{
      storageKey: params.get("key"),
      outbox: { transport: "http", url: `${location.origin}/api/widgets/{channel}`, method: "PUT" },
    }}>
      <Widget id="7" />
    </SynclineProvider>
  </StrictMode>,
);
