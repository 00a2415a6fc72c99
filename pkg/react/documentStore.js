import { useCallback, useRef, useSyncExternalStore } from "react";

const noop = () => {};
const EMPTY = Object.freeze({ value: null, version: 0, pending: 0, rev: -1 });

/**
 * Document `key` as this tab sees it, re-read whenever `watchDocument` says it changed; the
 * object keeps its identity until the document's revision moves. `watchOptions` are
 * `watchDocument`'s (`{ channel }`, or `{ local: true }`).
 */
export function useDocumentState(client, key, watchOptions) {
  const channel = watchOptions?.channel;
  const local = watchOptions?.local === true;
  const subscribe = useCallback(
    (notify) => (client ? client.watchDocument(key, notify, channel ? { channel } : local ? { local } : undefined) : noop),
    [client, key, channel, local],
  );
  const cached = useRef(EMPTY);
  const get = () => {
    const doc = client?.getDocument(key);
    if (!doc) return EMPTY;
    if (doc.rev !== cached.current.rev || doc.key !== cached.current.key) cached.current = doc;
    return cached.current;
  };
  return useSyncExternalStore(subscribe, get, () => EMPTY);
}
