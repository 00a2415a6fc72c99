import { useCallback, useMemo } from "react";
import { useClient } from "./context.js";
import { useDocumentState } from "./documentStore.js";

/**
 * A document: its optimistic value, version, pending changes, the conflicts settled on it,
 * and `mutate(change, options)`. `options.channel` is the document's channel ("docs").
 */
export function useDocument(key, options) {
  const client = useClient();
  const channel = options?.channel;
  const doc = useDocumentState(client, key, channel ? { channel } : undefined);
  const mutate = useCallback(
    (change, mutateOptions) => client.mutate(key, change, { ...(channel ? { channel } : {}), ...mutateOptions }),
    [client, key, channel],
  );
  const conflicts = useMemo(() => (client ? client.conflicts().filter((c) => c.key === key) : []), [client, key, doc.rev]);
  return { value: doc.value, version: doc.version, pending: doc.pending, conflicts, mutate };
}
