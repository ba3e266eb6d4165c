// The issuer's signing keys: made with jose, sealed before they reach the store, reloaded, rotated with an overlap.

import type { KeyStore, StoredSigningKey } from '@finora-auth/core';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import { DEFAULT_ALGORITHM } from './algorithms';
import { SigningKeyError, openPrivateKey, sealPrivateKey } from './key-encryption';

/** A signing key as the issuer shows it: never the private part. */
export interface SigningKeyInfo {
  kid: string;
  alg: string;
  createdAt: Date;
  /** Absent while it signs; set once a newer key took over (it is still published while its tokens live). */
  retiredAt?: Date;
  /** Whether `/.well-known/jwks.json` publishes it now. */
  published: boolean;
  publicJwk: JWK;
}

export type SigningKeyStore = Required<Pick<KeyStore, 'listSigningKeys' | 'insertSigningKey' | 'retireSigningKey'>>;

export interface KeyRingOptions {
  store: SigningKeyStore;
  /** The operator secret as an HKDF key. */
  secret: CryptoKey;
  now: () => number;
  /** How long a retired key stays published: the longest token lifetime plus clock tolerance, in ms. */
  publishForMs: number;
  /** How old the local copy of the store's keys may be before a token is signed with it, in ms. */
  reloadAfterMs: number;
  /** The least time between reloads caused by tokens whose `kid` was not in the local copy, in ms (bounds what random kids cost). */
  missReloadAfterMs: number;
}

export interface Signer {
  kid: string;
  alg: string;
  key: CryptoKey;
}

/** Newest first: a later `createdAt` wins, a tie goes to the greater kid, so every process picks the same key. */
const newestFirst = (a: StoredSigningKey, b: StoredSigningKey) => b.createdAt - a.createdAt || (a.kid < b.kid ? 1 : -1);

function parsePublic(row: StoredSigningKey): JWK | undefined {
  try {
    const jwk = JSON.parse(row.publicJwk) as JWK;
    return typeof jwk === 'object' && jwk !== null && jwk.kid === row.kid && !('d' in jwk) ? jwk : undefined;
  } catch {
    return undefined;
  }
}

export function createKeyRing(options: KeyRingOptions) {
  const { store, secret, now } = options;
  let rows: StoredSigningKey[] | undefined;
  let loadedAt = -Infinity;
  let loading: Promise<StoredSigningKey[]> | undefined;
  let creating: Promise<void> | undefined;
  const privateKeys = new Map<string, Promise<CryptoKey>>();
  let published: { ids: string; jwks: JSONWebKeySet } | undefined;
  let lastMissReloadAt = -Infinity;

  function load(): Promise<StoredSigningKey[]> {
    loading ??= store
      .listSigningKeys()
      .then((list) => {
        rows = [...list].sort(newestFirst);
        loadedAt = now();
        return rows;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  const fresh = (maxAgeMs: number) => (rows !== undefined && now() - loadedAt <= maxAgeMs ? Promise.resolve(rows) : load());

  const isPublished = (row: StoredSigningKey) => row.retiredAt === undefined || now() - row.retiredAt < options.publishForMs;

  async function create(createdAt = now()): Promise<StoredSigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(DEFAULT_ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const row: StoredSigningKey = {
      kid,
      alg: DEFAULT_ALGORITHM,
      publicJwk: JSON.stringify({ ...publicJwk, kid, alg: DEFAULT_ALGORITHM, use: 'sig' }),
      encryptedPrivateKey: await sealPrivateKey(secret, kid, JSON.stringify(await exportJWK(privateKey))),
      createdAt,
    };
    await store.insertSigningKey(row);
    return row;
  }

  function privateKey(row: StoredSigningKey): Promise<CryptoKey> {
    let key = privateKeys.get(row.kid);
    if (!key) {
      key = openPrivateKey(secret, row.kid, row.encryptedPrivateKey).then(
        (text) => importJWK(JSON.parse(text) as JWK, row.alg) as Promise<CryptoKey>,
      );
      privateKeys.set(row.kid, key);
      key.catch(() => privateKeys.delete(row.kid));
    }
    return key;
  }

  const active = (list: StoredSigningKey[]) => list.find((row) => row.retiredAt === undefined);

  return {
    /**
     * The key to sign with: the newest unretired one, from a copy at most `reloadAfterMs` old. With none, one is made;
     * two processes that make one at once both publish theirs, and the newest signs from then on.
     */
    async signer(): Promise<Signer> {
      let row = active(await fresh(options.reloadAfterMs));
      if (!row) {
        creating ??= create()
          .then(() => undefined)
          .finally(() => {
            creating = undefined;
          });
        await creating;
        row = active(await load());
        if (!row) throw new SigningKeyError('finora-auth: the store kept no signing key');
      }
      return { kid: row.kid, alg: row.alg, key: await privateKey(row) };
    },

    /** The public key set: every key not retired, or retired less than `publishForMs` ago. The same object while it holds the same keys. */
    async publicKeySet(refresh = false): Promise<JSONWebKeySet> {
      let list = await fresh(options.reloadAfterMs);
      if (refresh && now() - lastMissReloadAt >= options.missReloadAfterMs) {
        lastMissReloadAt = now();
        list = await load();
      }
      const keys = list.filter(isPublished).flatMap((row) => parsePublic(row) ?? []);
      const ids = keys.map((key) => key.kid).join(' ');
      if (published?.ids !== ids) published = { ids, jwks: { keys } };
      return published.jwks;
    },

    /**
     * Adds a key and retires every other unretired one: new tokens are signed with the new key, and the old keys
     * stay published while tokens they signed can live. Refused when this process cannot open the key that signs
     * now: a gateway started with the wrong operator secret must not take over the fleet's signing.
     */
    async rotate(): Promise<SigningKeyInfo> {
      const list = await load();
      const current = active(list);
      if (current) await privateKey(current);
      // Strictly newer than every key so far, even on a clock that has not moved: the newest is the one that signs.
      const row = await create(Math.max(now(), (list[0]?.createdAt ?? -Infinity) + 1));
      const retiredAt = now();
      for (const old of rows ?? []) {
        if (old.retiredAt === undefined && old.kid !== row.kid) await store.retireSigningKey(old.kid, retiredAt);
      }
      const reloaded = await load();
      return info(reloaded.find((entry) => entry.kid === row.kid) ?? row);
    },

    /** Oldest first, as the store lists them. */
    async list(): Promise<SigningKeyInfo[]> {
      return [...(await load())].reverse().map(info);
    },
  };

  function info(row: StoredSigningKey): SigningKeyInfo {
    return {
      kid: row.kid,
      alg: row.alg,
      createdAt: new Date(row.createdAt),
      ...(row.retiredAt === undefined ? {} : { retiredAt: new Date(row.retiredAt) }),
      published: isPublished(row),
      publicJwk: parsePublic(row) ?? {},
    };
  }
}

export type KeyRing = ReturnType<typeof createKeyRing>;
