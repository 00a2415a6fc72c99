export * from "./wasm/syncline.js";
import type { ClientOptions, SynclineClient } from "./wasm/syncline.js";

/** Loads and instantiates the wasm module once; later calls return the same promise. */
export function initSyncline(source?: string | URL | Response | BufferSource | WebAssembly.Module): Promise<unknown>;

/** Loads the module if needed, then creates a client. */
export function createClient(options: ClientOptions): Promise<SynclineClient>;
