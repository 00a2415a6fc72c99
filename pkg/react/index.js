// syncline for React: a provider and one thin hook per concern.
export { SynclineContext, SynclineProvider, useClient } from "./context.js";
export { useConnection } from "./useConnection.js";
export { useChannel, useEvent } from "./useChannel.js";
export { usePublish, useRequest } from "./usePublish.js";
export { useDocument } from "./useDocument.js";
export { useOptimisticUpdate } from "./useOptimisticUpdate.js";
export { useOutbox } from "./useOutbox.js";
export { useOnline, useTabRole } from "./status.js";
export { useMetrics } from "./useMetrics.js";
export { INITIAL_STATE } from "./store.js";
