import { useCallback, useMemo, useRef, useSyncExternalStore } from "react";
import { useClient } from "./context.js";

const noop = () => {};
const EMPTY = Object.freeze({ value: null, version: 0, pending: 0, rev: -1 });

/**
 * A document: its optimistic value, version, pending changes, the conflicts settled on it,
 * and `mutate(change, options)`. `options.channel` is the document's channel ("docs").
 */
export function useDocument(key, options) {
  const client = useClient();
  const channel = options?.channel;
  const subscribe = useCallback(
    (notify) => (client ? client.watchDocument(key, notify, channel ? { channel } : undefined) : noop),
    [client, key, channel],
  );
  const cached = useRef(EMPTY);
  const get = () => {
    const doc = client?.getDocument(key);
    if (!doc) return EMPTY;
    if (doc.rev !== cached.current.rev || doc.key !== cached.current.key) cached.current = doc;
    return cached.current;
  };
  const doc = useSyncExternalStore(subscribe, get, () => EMPTY);
  const mutate = useCallback(
    (change, mutateOptions) => client.mutate(key, change, { ...(channel ? { channel } : {}), ...mutateOptions }),
    [client, key, channel],
  );
  const conflicts = useMemo(() => (client ? client.conflicts().filter((c) => c.key === key) : []), [client, key, doc.rev]);
  return { value: doc.value, version: doc.version, pending: doc.pending, conflicts, mutate };
}
