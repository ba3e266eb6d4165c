// A bounded fixed-window count of failed client authentications, per client id and per caller address.

import { LRUCache } from 'lru-cache';

export interface ThrottleOptions {
  /** Failures allowed per key within one window before further attempts are refused; default 20. */
  maxFailures?: number;
  /** The window, in ms; default 60000. */
  windowMs?: number;
  /** How many client ids and addresses are remembered at once (least recently used go first); default 10000. */
  maxEntries?: number;
}

interface Window {
  failures: number;
  endsAt: number;
}

export interface FailureThrottle {
  /** Seconds until a refused key may try again, or `undefined` when none of `keys` is refused. */
  retryAfter(keys: readonly string[]): number | undefined;
  failed(keys: readonly string[]): void;
  succeeded(key: string): void;
}

const positive = (value: number | undefined, fallback: number, option: string): number => {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`finora-auth: throttle.${option} must be a positive whole number`);
  return value;
};

export function createFailureThrottle(options: ThrottleOptions | false | undefined, now: () => number): FailureThrottle {
  if (options === false) return { retryAfter: () => undefined, failed: () => {}, succeeded: () => {} };
  const maxFailures = positive(options?.maxFailures, 20, 'maxFailures');
  const windowMs = positive(options?.windowMs, 60_000, 'windowMs');
  const windows = new LRUCache<string, Window>({ max: positive(options?.maxEntries, 10_000, 'maxEntries') });
  return {
    retryAfter(keys) {
      const at = now();
      let wait: number | undefined;
      for (const key of keys) {
        const window = windows.get(key);
        if (window && window.failures >= maxFailures && at < window.endsAt) {
          wait = Math.max(wait ?? 0, Math.ceil((window.endsAt - at) / 1000));
        }
      }
      return wait;
    },
    failed(keys) {
      const at = now();
      for (const key of keys) {
        const window = windows.get(key);
        if (window && at < window.endsAt) window.failures++;
        else windows.set(key, { failures: 1, endsAt: at + windowMs });
      }
    },
    succeeded(key) {
      windows.delete(key);
    },
  };
}
