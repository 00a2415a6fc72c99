// syncline's entry point: loads the WebAssembly module once and exposes the client.
import init, { SynclineClient } from "./wasm/syncline.js";

export { SynclineClient };

// Socket.IO-style calls with rest arguments (wasm-bindgen exports cannot take them).
SynclineClient.prototype.emit = function emit(event, ...args) {
  return this.emitArgs(event, args);
};
SynclineClient.prototype.emitWithAck = function emitWithAck(event, ...args) {
  return this.emitWithAckArgs(event, args);
};
// `publish` takes the spelling of the server it talks to: `publish(event, payload, options)`
// on Socket.IO (payload format), `publish(channel, event, data, options)` elsewhere.
SynclineClient.prototype.publish = function publish(a, b, c, d) {
  return this.publishesEvents() ? this.publishEvent(a, b, c) : this.publishTo(a, b, c, d);
};

// Arguments the module takes as strings: anything else is refused here with a SynclineError
// (kind "invalid_argument"), before it reaches the wasm (which cannot take a non-string there).
const STRING_ARGS = {
  subscribe: [0], on: [0], request: [0], emitArgs: [0], emitWithAckArgs: [0], publishTo: [0, 1],
  publishEvent: [0], broadcast: [0], onBroadcast: [0], mutate: [0], watchDocument: [0],
  getDocument: [0], setConflictStrategy: [0],
};
const OPTIONAL_STRING_ARGS = { setConflictStrategy: [1] };
const RETURNS_PROMISE = new Set(["request", "emitArgs", "emitWithAckArgs", "publishTo", "publishEvent", "mutate"]);
for (const [name, positions] of Object.entries(STRING_ARGS)) {
  const inner = SynclineClient.prototype[name];
  const optional = OPTIONAL_STRING_ARGS[name] ?? [];
  SynclineClient.prototype[name] = function checked(...args) {
    const bad = positions.find((i) => typeof args[i] !== "string") ??
      optional.find((i) => args[i] != null && typeof args[i] !== "string");
    if (bad === undefined) return inner.apply(this, args);
    const e = new Error(`${name}: argument ${bad + 1} must be a string, not ${args[bad] === null ? "null" : typeof args[bad]}`);
    e.name = "SynclineError";
    e.kind = "invalid_argument";
    e.retryable = false;
    if (RETURNS_PROMISE.has(name)) return Promise.reject(e);
    throw e;
  };
}

let ready = null;

/**
 * Loads and instantiates the wasm module (once; later calls return the same promise).
 * `source` is optional: a URL, Response or bytes of `syncline_bg.wasm`, for setups that
 * serve it from elsewhere. Bundlers that understand `new URL(…, import.meta.url)` (Vite,
 * webpack 5) need nothing.
 */
export function initSyncline(source) {
  if (ready === null) {
    ready = init(source === undefined ? undefined : { module_or_path: source });
  }
  return ready;
}

/** Loads the module if needed, then creates a client. */
export async function createClient(options) {
  await initSyncline();
  return new SynclineClient(options);
}
