// The one store wrapper tests share: any KeyStore, with its lookups counted, failed, replaced or held on demand.

import type { KeyStore } from './store';
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
  /** Holds every lookup from now on until {@link release}. */
  hold(): void;
  release(): void;
  /** Lookups being held. */
  readonly waiting: number;
  /** The wrapped store. */
  readonly inner: S;
}

export type TappedStore<S extends KeyStore = KeyStore> = S & StoreTap<S>;

const TAP_MEMBERS: ReadonlySet<PropertyKey> = new Set(['failing', 'lookups', 'asked', 'behaviour', 'hold', 'release', 'waiting', 'inner']);

/**
 * Wraps `inner` in a Proxy, so the optional members of a v2 store (credits, service accounts, …) and a store's own
 * extras (`dump()`) stay visible, as a class listing the members by hand would hide them.
 */
export function tapStore<S extends KeyStore>(inner: S): TappedStore<S> {
  const held: Array<() => void> = [];
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
    inner,
  };
  const findByHash = async (hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> => {
    tap.lookups++;
    tap.asked.push(hash);
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    if (tap.failing) throw new Error('connection refused');
    const real = () => inner.findByHash(hash, options);
    return tap.behaviour ? tap.behaviour(hash, options?.signal, real) : real();
  };
  const findServiceAccount: KeyStore['findServiceAccount'] = (clientId, options) =>
    tap.failing ? Promise.reject(new Error('connection refused')) : inner.findServiceAccount!(clientId, options);
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'findByHash') return findByHash;
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
