import { useClientState } from "./store.js";

const online = (s) => s.online;
const role = (s) => s.role;

/** What the browser says about the network (and the heartbeat, which catches its lies). */
export function useOnline() {
  return useClientState(online);
}

/** This tab's part: "leader", "follower", "pending" (electing) or "solo". */
export function useTabRole() {
  return useClientState(role);
}
