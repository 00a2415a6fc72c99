import { useCallback, useRef, useSyncExternalStore } from "react";
import { useClient } from "./context.js";

const noop = () => {};
const EMPTY = Object.freeze({ value: null, version: 0, pending: 0, rev: -1 });

/**
 * An optimistic value confirmed by any promise (a REST call, a request): `value` (with the
 * pending changes on top), `pending`, and `update(change, confirm, options)`, which shows
 * `change` at once in every tab and commits or rolls it back as `confirm()` settles.
 * `options.channel` also follows a syncline document channel; by default only `key`.
 */
export function useOptimisticUpdate(key, options) {
  const client = useClient();
  const channel = options?.channel;
  const subscribe = useCallback(
    (notify) => (client ? client.watchDocument(key, notify, channel ? { channel } : { local: true }) : noop),
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
  const update = useCallback(
    (change, confirm, updateOptions) => client.optimistic(key, change, confirm, updateOptions),
    [client, key],
  );
  return { value: doc.value, version: doc.version, pending: doc.pending, update };
}
