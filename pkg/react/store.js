// The one way the hooks read client state: useSyncExternalStore over getState(), whose
// result keeps its identity until the state changes, so selecting a field is cheap.
import { useCallback, useSyncExternalStore } from "react";
import { useClient } from "./context.js";

const noop = () => {};

/** The state a client shows before it exists (server rendering, first render). */
export const INITIAL_STATE = Object.freeze({
  version: 0,
  state: "idle",
  online: true,
  visible: true,
  attempt: 0,
  reconnects: 0,
  rttMs: null,
  retryAt: null,
  lastError: null,
  session: null,
  buffered: 0,
  pending: 0,
  channels: 0,
  outbox: Object.freeze({
    depth: 0, inFlight: 0, oldestCreatedAt: null, deadLetters: 0, storage: "loading",
    degraded: false, breaker: "closed", lastError: null,
  }),
  role: "pending",
  tabs: 0,
  bus: "none",
  tabMessagesRejected: 0,
});

/** `select(state)` of the client's state; `select` must return stable values. */
export function useClientState(select) {
  const client = useClient();
  const subscribe = useCallback((notify) => (client ? client.onStateChange(notify) : noop), [client]);
  const get = () => select(client ? client.getState() : INITIAL_STATE);
  return useSyncExternalStore(subscribe, get, () => select(INITIAL_STATE));
}
