import { useEffect, useState } from "react";
import { useClient } from "./context.js";

/**
 * The client's metrics, read again when the state changes and, with `intervalMs`, at that
 * interval (the library itself never polls; a dashboard that shows live counters may).
 */
export function useMetrics(options) {
  const client = useClient();
  const [metrics, setMetrics] = useState(null);
  const intervalMs = options?.intervalMs;
  useEffect(() => {
    if (!client) return undefined;
    const read = () => setMetrics(client.metrics());
    read();
    const stop = client.onStateChange(read);
    const timer = intervalMs ? setInterval(read, intervalMs) : null;
    return () => {
      stop();
      if (timer) clearInterval(timer);
    };
  }, [client, intervalMs]);
  return metrics;
}
