import { useCallback, useMemo } from "react";
import { useClient } from "./context.js";
import { useClientState } from "./store.js";

const whole = (s) => s;

/** The connection's state (state, rttMs, attempt, reconnects, lastError, …) and reconnectNow(). */
export function useConnection() {
  const client = useClient();
  const state = useClientState(whole);
  const reconnectNow = useCallback(() => client?.reconnectNow(), [client]);
  return useMemo(() => ({ ...state, ready: client !== null, reconnectNow }), [state, client, reconnectNow]);
}
