import { useEffect, useRef, useState } from "react";
import { useClient } from "./context.js";

/**
 * Subscribes to `channel` while mounted. With a handler, calls it for each message and
 * returns nothing; without one, returns the latest message (null until one arrives), for
 * components that render it. `options` are subscribe options: event, priority, since,
 * throttleMs, debounceMs, coalesce.
 */
export function useChannel(channel, handlerOrOptions, maybeOptions) {
  const handler = typeof handlerOrOptions === "function" ? handlerOrOptions : null;
  const options = handler ? maybeOptions : handlerOrOptions;
  const client = useClient();
  const [latest, setLatest] = useState(null);
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  const key = options ? JSON.stringify(options) : "";
  useEffect(() => {
    if (!client || !channel) return undefined;
    return client.subscribe(channel, (message) => (ref.current ? ref.current(message) : setLatest(message)), options);
    // `key` stands for the options' content.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, channel, key]);
  return handler ? undefined : latest;
}

/** Like useChannel, for one event name of the channel. */
export function useEvent(channel, event, handlerOrOptions, maybeOptions) {
  const handler = typeof handlerOrOptions === "function" ? handlerOrOptions : undefined;
  const options = { ...(handler ? maybeOptions : handlerOrOptions), event };
  return handler ? useChannel(channel, handler, options) : useChannel(channel, options);
}
