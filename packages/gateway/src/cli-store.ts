// Opening the store a command names (flag, then environment, then default), with a deadline, and closing it.

import type { KeyStore } from '@finora-auth/core';
import { UsageError } from './cli-args';
import {
  DEFAULT_STORE_URL,
  openStore,
  parseStoreUrl,
  StoreUnreachableError,
  StoreUrlError,
  unreachable,
  type StoreSpec,
} from './store-url';

export type Env = Record<string, string | undefined>;

/** How long a command waits for the store before giving up, in ms: a down Redis would otherwise retry forever. */
export const STORE_DEADLINE_MS = 5_000;

/** `--store`, else `FINORA_AUTH_STORE`, else the default; a bad URL is a one-line usage error. */
export function storeSpec(flag: string | boolean | undefined, env: Env, cwd: string): StoreSpec {
  const url = (typeof flag === 'string' ? flag : undefined) ?? (env.FINORA_AUTH_STORE || undefined) ?? DEFAULT_STORE_URL;
  try {
    return parseStoreUrl(url, cwd);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new UsageError(error.message.replace(/^finora-auth: /, ''));
    throw error;
  }
}

/** Runs `work` against `promise` with a deadline; a miss or a failure becomes a one-line StoreUnreachableError. */
export async function withDeadline<T>(spec: StoreSpec, promise: Promise<T>, ms = STORE_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the store and proves it answers (one account read), or throws one line saying which store failed. */
export async function openReachableStore(spec: StoreSpec): Promise<KeyStore> {
  let store: KeyStore | undefined;
  try {
    store = await withDeadline(spec, openStore(spec));
    await withDeadline(spec, store.getAccount('__finora_probe__'));
    return store;
  } catch (error) {
    if (store) void closeQuietly(store);
    throw error instanceof StoreUnreachableError ? error : unreachable(spec, error);
  }
}

/** Closes a store, giving up after a second: a command's answer must not wait on a driver's goodbye. */
export async function closeQuietly(store: KeyStore, ms = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([store.close(), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } catch {
    // Closing is best effort; the command's outcome is already decided.
  } finally {
    clearTimeout(timer);
  }
}
