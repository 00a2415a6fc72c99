import { useCallback, useMemo } from "react";
import { useClient } from "./context.js";
import { useClientState } from "./store.js";

const outbox = (s) => s.outbox;

/**
 * The durable outbox: depth, inFlight, oldestAgeMs, storage, degraded, breaker, lastError, the
 * dead letters, and retry(ids?) / discard(ids?) for them.
 */
export function useOutbox() {
  const client = useClient();
  const state = useClientState(outbox);
  const deadLetters = useMemo(() => (client ? client.deadLetters() : []), [client, state]);
  const retry = useCallback((ids) => client?.retryDeadLetters(ids) ?? 0, [client]);
  const discard = useCallback((ids) => client?.discardDeadLetters(ids) ?? 0, [client]);
  return useMemo(
    () => ({
      ...state,
      oldestAgeMs: state.oldestCreatedAt === null ? null : Math.max(0, Date.now() - state.oldestCreatedAt),
      deadLetters,
      retry,
      discard,
    }),
    [state, deadLetters, retry, discard],
  );
}
