import type { Context, ReactNode } from "react";
import type {
  ClientOptions, ClientState, ConflictRecord, DeadLetter, Metrics, MutateOptions, OptimisticOptions, OutboxState,
  PublishOptions, PublishResult, RequestOptions, SubscribeOptions, SynclineClient, SynclineMessage,
} from "../index.js";

export declare const SynclineContext: Context<SynclineClient | null>;

/** Makes a client available to the hooks: the `client` given, or one created from `options`
 *  once per mount (closed on unmount). */
export declare function SynclineProvider(props: {
  client?: SynclineClient;
  options?: ClientOptions;
  children?: ReactNode;
}): ReactNode;

/** The provider's client; null while it is created and during server rendering. */
export declare function useClient(): SynclineClient | null;

/** The state before a client exists (server rendering, first render). */
export declare const INITIAL_STATE: ClientState;

/** The connection's state, whether the client exists yet, and reconnectNow(). */
export declare function useConnection(): ClientState & { readonly ready: boolean; reconnectNow(): void };

/** Calls `handler` for each message of `channel` while mounted. */
export declare function useChannel<T = unknown>(channel: string, handler: (message: SynclineMessage<T>) => void, options?: SubscribeOptions): void;
/** The latest message of `channel` (null until one arrives). */
export declare function useChannel<T = unknown>(channel: string, options?: SubscribeOptions): SynclineMessage<T> | null;

/** Like useChannel, for one event name. */
export declare function useEvent<T = unknown>(channel: string, event: string, handler: (message: SynclineMessage<T>) => void, options?: SubscribeOptions): void;
export declare function useEvent<T = unknown>(channel: string, event: string, options?: SubscribeOptions): SynclineMessage<T> | null;

/** A stable publish function. */
export declare function usePublish(): (eventOrChannel: string, payloadOrEvent: unknown, optionsOrData?: unknown, options?: PublishOptions) => Promise<PublishResult>;

/** A stable request function. */
export declare function useRequest(): <T = unknown>(event: string, data?: unknown, options?: RequestOptions) => Promise<T>;

/** A document: optimistic value, version, pending changes, conflicts on it, and mutate(). */
export declare function useDocument<T = unknown>(key: string, options?: { channel?: string }): {
  readonly value: T | null;
  readonly version: number;
  readonly pending: number;
  readonly conflicts: readonly ConflictRecord[];
  mutate(change: Partial<T> | T | ((current: T | null) => T), options?: MutateOptions): Promise<PublishResult>;
};

/** An optimistic value confirmed by any promise: value with pending changes, and update(). */
export declare function useOptimisticUpdate<T = unknown>(key: string, options?: { channel?: string }): {
  readonly value: T | null;
  readonly version: number;
  readonly pending: number;
  update<R = unknown>(
    change: Partial<T> | T | ((current: T | null) => T),
    confirm: () => Promise<R>,
    options?: OptimisticOptions,
  ): Promise<R>;
};

/** The durable outbox and its dead letters. */
export declare function useOutbox(): OutboxState & {
  /** Age of the oldest entry, ms (at the last state change). */
  readonly oldestAgeMs: number | null;
  readonly deadLetters: readonly DeadLetter[];
  retry(ids?: string[]): number;
  discard(ids?: string[]): number;
};

/** Whether the browser says it is online. */
export declare function useOnline(): boolean;

/** "leader", "follower", "pending" or "solo". */
export declare function useTabRole(): ClientState["role"];

/** The metrics, refreshed on state changes and every `intervalMs` if given; null until read. */
export declare function useMetrics(options?: { intervalMs?: number }): Metrics | null;
