// The one store wrapper tests share: any KeyStore, with its lookups counted, failed, replaced or held on demand.

import type { KeyStore, StoreEvent, StoreListener } from './store';
import type { KeyRecord } from './types';

/** Replaces a lookup's answer; `real` asks the wrapped store. */
export type LookupBehaviour = (
  hash: string,
  signal: AbortSignal | undefined,
  real: () => Promise<KeyRecord | null>,
) => Promise<KeyRecord | null>;

/** What a test controls and reads on a wrapped store. Every other member is the wrapped store's own. */
export interface StoreTap<S extends KeyStore> {
  /**
   * While true every lookup (`findByHash`, and `findServiceAccount` where the store has it) rejects ("connection
   * refused"), as a database that went down would. Default: false.
   */
  failing: boolean;
  /** `findByHash` calls so far (failed and held ones included). */
  lookups: number;
  /** Digests looked up, in order. */
  readonly asked: string[];
  /** When set, answers every lookup instead of the wrapped store. */
  behaviour: LookupBehaviour | undefined;
  /** Holds every lookup from now on until {@link release}: each has asked the store and read, and waits to answer. */
  hold(): void;
  release(): void;
  /** Lookups being held. */
  readonly waiting: number;
  /** Sends an event to the listeners subscribed through the wrapper, as the store's channel would (a `reset`). */
  emit(event: StoreEvent): void;
  /** The wrapped store. */
  readonly inner: S;
}

export type TappedStore<S extends KeyStore = KeyStore> = S & StoreTap<S>;

const TAP_MEMBERS: ReadonlySet<PropertyKey> = new Set(['failing', 'lookups', 'asked', 'behaviour', 'hold', 'release', 'waiting', 'emit', 'inner']);

/**
 * Wraps `inner` in a Proxy, so the optional members of a v2 store (credits, service accounts, …) and a store's own
 * extras (`dump()`) stay visible, as a class listing the members by hand would hide them.
 */
export function tapStore<S extends KeyStore>(inner: S): TappedStore<S> {
  const held: Array<() => void> = [];
  const listeners = new Set<StoreListener>();
  let holding = false;
  const tap: StoreTap<S> = {
    failing: false,
    lookups: 0,
    asked: [],
    behaviour: undefined,
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
    get waiting() {
      return held.length;
    },
    emit(event) {
      for (const listener of listeners) listener(event);
    },
    inner,
  };
  const findByHash = async (hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> => {
    tap.lookups++;
    tap.asked.push(hash);
    const real = () => inner.findByHash(hash, options);
    // Asked first, held after: a held lookup has read what the store held then (the race a slow answer opens).
    const answer = tap.behaviour ? tap.behaviour(hash, options?.signal, real) : real();
    if (holding) {
      answer.catch(() => undefined); // settled below; not unhandled while it waits
      await new Promise<void>((resolve) => held.push(resolve));
    }
    if (tap.failing) {
      answer.catch(() => undefined);
      throw new Error('connection refused');
    }
    return answer;
  };
  const subscribe = (listener: StoreListener): (() => void) => {
    const stop = inner.subscribe(listener);
    listeners.add(listener);
    return () => {
      stop();
      listeners.delete(listener);
    };
  };
  const findServiceAccount: KeyStore['findServiceAccount'] = (clientId, options) =>
    tap.failing ? Promise.reject(new Error('connection refused')) : inner.findServiceAccount!(clientId, options);
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'findByHash') return findByHash;
      if (property === 'subscribe') return subscribe;
      if (property === 'findServiceAccount' && typeof target.findServiceAccount === 'function') return findServiceAccount;
      if (TAP_MEMBERS.has(property)) return Reflect.get(tap, property);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(target, property, value) {
      if (TAP_MEMBERS.has(property)) return Reflect.set(tap, property, value);
      return Reflect.set(target, property, value, target);
    },
  }) as TappedStore<S>;
}
