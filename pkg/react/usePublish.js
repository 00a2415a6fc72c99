import { useCallback } from "react";
import { useClient } from "./context.js";

function notReady() {
  const e = new Error("the syncline client is not ready yet");
  e.name = "SynclineError";
  e.kind = "closed";
  e.retryable = true;
  return Promise.reject(e);
}

/** A stable `publish`, with the client's spelling: `(channel, event, data, options)` on the
 *  relay, `(event, payload, options)` on a Socket.IO server (see `client.publish`). */
export function usePublish() {
  const client = useClient();
  return useCallback((...args) => (client ? client.publish(...args) : notReady()), [client]);
}

/** A stable `request(event, data, options)`. */
export function useRequest() {
  const client = useClient();
  return useCallback((event, data, options) => (client ? client.request(event, data, options) : notReady()), [client]);
}
