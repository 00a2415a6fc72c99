// The provider and the client in context. The client is created in an effect, never during
// render: server rendering never touches the browser, and StrictMode's mount-unmount-mount
// closes the first client before making the second.
import { createContext, createElement, useContext, useEffect, useState } from "react";
import { createClient } from "../index.js";

export const SynclineContext = createContext(null);

/**
 * Makes a client available to the hooks below it: the `client` given, or one created from
 * `options` (once per mount; closed on unmount).
 */
export function SynclineProvider({ client, options, children }) {
  const [owned, setOwned] = useState(null);
  useEffect(() => {
    if (client) return undefined;
    let cancelled = false;
    let created = null;
    createClient(options).then(
      (c) => {
        if (cancelled) c.close();
        else {
          created = c;
          setOwned(c);
        }
      },
      (error) => console.error("syncline: could not create the client", error),
    );
    return () => {
      cancelled = true;
      if (created) created.close();
      setOwned(null);
    };
    // The options are read once per mount, as a client is made once.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client]);
  return createElement(SynclineContext.Provider, { value: client ?? owned }, children);
}

/** The client of the nearest provider, or null while it is being created (and on the server). */
export function useClient() {
  return useContext(SynclineContext);
}
