import { useCallback } from "react";
import { useClient } from "./context.js";
import { useDocumentState } from "./documentStore.js";

/**
 * An optimistic value confirmed by any promise (a REST call, a request): `value` (with the
 * pending changes on top), `pending`, and `update(change, confirm, options)`, which shows
 * `change` at once in every tab and commits or rolls it back as `confirm()` settles.
 * `options.channel` also follows a syncline document channel; by default only `key`.
 */
export function useOptimisticUpdate(key, options) {
  const client = useClient();
  const channel = options?.channel;
  const doc = useDocumentState(client, key, channel ? { channel } : { local: true });
  const update = useCallback(
    (change, confirm, updateOptions) => client.optimistic(key, change, confirm, updateOptions),
    [client, key],
  );
  return { value: doc.value, version: doc.version, pending: doc.pending, update };
}
