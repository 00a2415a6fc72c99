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
