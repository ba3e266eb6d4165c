// The API key format: generation from a CSPRNG, SHA-256 digests, display hints.

import type { Environment } from './types';

/** `live_sk_` or `test_sk_`, then 24 random bytes as 48 lowercase hex characters. */
export const API_KEY_PATTERN = /^(live|test)_sk_[0-9a-f]{48}$/;
export const API_KEY_LENGTH = 56;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX[byte];
  return out;
}

function randomHex(byteCount: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(byteCount)));
}

export function isApiKey(value: unknown): value is string {
  return typeof value === 'string' && value.length === API_KEY_LENGTH && API_KEY_PATTERN.test(value);
}

/** The environment a well-formed key was issued for. */
export function keyEnvironment(apiKey: string): Environment {
  return apiKey.startsWith('live_') ? 'live' : 'test';
}

/** A new plaintext key from the platform CSPRNG (Web Crypto `getRandomValues`). */
export function generateApiKey(environment: Environment): string {
  if (environment !== 'live' && environment !== 'test') {
    throw new TypeError(`finora-auth: environment must be 'live' or 'test'; got ${JSON.stringify(environment)}`);
  }
  return `${environment}_sk_${randomHex(24)}`;
}

/** A new key id: not secret, safe to log. */
export function generateKeyId(): string {
  return `key_${randomHex(12)}`;
}

/** (v2) A service account's client id: `sa_` and 12 random bytes as hex. Not secret, safe to log. */
export function generateClientId(): string {
  return `sa_${randomHex(12)}`;
}

/** (v2) A client secret: `live_cs_` or `test_cs_` (a scannable prefix of its own, not `_sk_`), then 24 random bytes as hex. */
export const CLIENT_SECRET_PATTERN = /^(live|test)_cs_[0-9a-f]{48}$/;

/** (v2) A new client secret from the platform CSPRNG. */
export function generateClientSecret(environment: Environment): string {
  if (environment !== 'live' && environment !== 'test') {
    throw new TypeError(`finora-auth: environment must be 'live' or 'test'; got ${JSON.stringify(environment)}`);
  }
  return `${environment}_cs_${randomHex(24)}`;
}

export function isClientSecret(value: unknown): value is string {
  return typeof value === 'string' && value.length === API_KEY_LENGTH && CLIENT_SECRET_PATTERN.test(value);
}

/** What people and logs see of a key (or a client secret): its prefix and last 4 characters. */
export function keyHint(apiKey: string): string {
  return `${apiKey.slice(0, 8)}…${apiKey.slice(-4)}`;
}

type NodeHash = (text: string) => string;

// On Node (and runtimes that mimic it) node:crypto hashes synchronously, over ten times faster than an awaited
// Web Crypto digest for a 56-byte input; its one-shot `hash()` (Node >= 20.12) is faster again than `createHash()`
// (see BENCHMARKS.md). It is found at run time, not imported, so this package still imports nothing from
// `node:` and runs unchanged on Workers, Deno and browsers.
const nodeHash: NodeHash | undefined = (() => {
  type NodeCrypto = {
    hash?: (algorithm: string, text: string, encoding: 'hex') => string;
    createHash(algorithm: string): { update(text: string): { digest(encoding: 'hex'): string } };
  };
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const nodeCrypto = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
    const oneShot = nodeCrypto?.hash;
    if (typeof oneShot === 'function') return (text) => oneShot('sha256', text, 'hex');
    if (typeof nodeCrypto?.createHash !== 'function') return undefined;
    return (text) => nodeCrypto.createHash('sha256').update(text).digest('hex');
  } catch {
    return undefined;
  }
})();

const encoder = new TextEncoder();

async function webHash(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text))));
}

/** SHA-256 of `text` as lowercase hex: the only form in which a key is stored, cached or compared. */
export function sha256Hex(text: string): Promise<string> {
  return nodeHash ? Promise.resolve(nodeHash(text)) : webHash(text);
}

/** @internal The synchronous hash when the runtime has one, to spare the hot path a microtask. */
export const sha256HexSync: NodeHash | undefined = nodeHash;
