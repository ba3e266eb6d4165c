// No key anywhere but the request: keys issued on every store, requests through every adapter and the gateway,
// and everything they log, emit, answer or keep at rest searched for any key or any 12-character piece of one.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, MemoryKeyStore, sha256Hex, type DecisionEvent } from '@finora-auth/core';
import { createGateway } from '@finora-auth/gateway';
import { adapterMiddleware, FRAMEWORKS, startApp } from './support/fuzz-apps';
import { buildRequest, RawClient, type RawHeader } from '../packages/gateway/test/support/raw-http';
import { availableStores, openStore, type OpenedStore } from './support/fuzz-stores';
import { buildWorld, type World } from './support/fuzz-world';
import { tapStore, type TappedStore } from '@finora-auth/core/testing';

const STORES = await availableStores('secrets.test');

/** Where a key could end up: each bucket is searched on its own so a hit says where. */
type Bucket = 'console' | 'process output' | 'onDecision' | 'responses' | 'errors' | 'access log' | 'metrics' | 'at rest' | 'handler context';

class Capture {
  readonly #buckets = new Map<Bucket, string[]>();

  add(bucket: Bucket, text: unknown): void {
    const list = this.#buckets.get(bucket) ?? [];
    list.push(typeof text === 'string' ? text : show(text));
    this.#buckets.set(bucket, list);
  }

  size(bucket: Bucket): number {
    return this.#buckets.get(bucket)?.length ?? 0;
  }

  /** `bucket: key label (what matched)` for every secret found anywhere. */
  find(secrets: readonly Secret[]): string[] {
    const hits: string[] = [];
    for (const [bucket, texts] of this.#buckets) {
      const text = texts.join('\n');
      for (const secret of secrets) {
        const match = secret.needles.find((needle) => text.includes(needle));
        if (match) hits.push(`${bucket}: ${secret.label} (${match === secret.apiKey ? 'whole key' : `piece ${match}`})`);
      }
    }
    return hits;
  }
}

function show(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}\n${show((value as { cause?: unknown }).cause)}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

interface Secret {
  label: string;
  apiKey: string;
  /** The whole key, and every 12-character piece of its 48 hex characters (a near miss or a truncation shows one). */
  needles: string[];
}

function secretsOf(world: World, extra: Array<{ label: string; apiKey: string }> = []): Secret[] {
  return [...world.keys, ...extra].map(({ label, apiKey }) => {
    const hex = apiKey.slice(-48);
    const needles = [apiKey];
    for (let i = 0; i + 12 <= hex.length; i++) needles.push(hex.slice(i, i + 12));
    return { label, apiKey, needles };
  });
}

/** Requests that are allowed and refused for every reason, with the keys as sent by a careless client too. */
function requestsFor(world: World): Array<{ path: string; headers: RawHeader[] }> {
  const out: Array<{ path: string; headers: RawHeader[] }> = [];
  for (const { apiKey } of world.keys) {
    for (const path of ['/v1/invoices/1', '/v1/payments/1', '/']) {
      out.push({ path, headers: [['Authorization', `Bearer ${apiKey}`]] });
      out.push({ path, headers: [['Authorization', `Bearer ${apiKey}`], ['Origin', 'https://shop.example']] });
    }
    const last = apiKey.at(-1) === '0' ? '1' : '0';
    for (const value of [
      `Bearer ${apiKey.slice(0, -1)}${last}`, // one character off
      `Bearer ${apiKey.toUpperCase()}`,
      `Bearer ${apiKey.replace(/^(live|test)_sk_/, 'sk_$1_')}`,
      `Bearer ${apiKey} trailing`,
      `Bearer ${apiKey},${apiKey}`,
      `Basic ${apiKey}`,
      apiKey,
      `Bearer ${apiKey.slice(0, 40)}`,
      `Bearer ${apiKey}\u0000`,
    ]) {
      out.push({ path: '/v1/invoices/1', headers: [['Authorization', value]] });
    }
    out.push({ path: '/v1/invoices/1', headers: [['Authorization', `Bearer ${apiKey}`], ['Authorization', `Bearer ${apiKey}`]] });
  }
  out.push({ path: '/v1/invoices/1', headers: [] });
  return out;
}

const capture = new Capture();
const restore: Array<() => void> = [];

beforeAll(() => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => capture.add('console', args.map(show).join(' '));
    restore.push(() => (console[method] = original));
  }
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    stream.write = function write(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      capture.add('process output', typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('latin1'));
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    restore.push(() => (stream.write = original));
  }
});

afterAll(() => {
  for (const undo of restore.splice(0)) undo();
});

/** Every secret of every store's world, for the final sweep over console and process output. */
const everySecret: Secret[] = [];

describe.each(STORES)('keys issued on the %s store', (name) => {
  let opened: OpenedStore;
  let world: World;
  let secrets: Secret[];
  /** Wraps the store so some requests can meet a failing store (503) without touching the real one. */
  let store: TappedStore;

  beforeAll(async () => {
    opened = await openStore(name);
    store = tapStore(opened.store);
    world = await buildWorld(store);
    const manager = createKeyManager({ store, now: world.now });
    const rotated = await manager.rotate(world.key('live-retail').keyId);
    secrets = secretsOf(world, [{ label: 'rotated', apiKey: rotated.apiKey }]);
    everySecret.push(...secrets);
  });

  afterAll(async () => {
    await opened?.dispose();
  });

  async function exercise(port: number, bucket: Bucket = 'responses'): Promise<number> {
    const client = new RawClient(port);
    let sent = 0;
    try {
      const requests = requestsFor(world);
      for (const [i, request] of requests.entries()) {
        // Every fifth request meets a failing store: 503, whose message must not carry the key either.
        store.behaviour = i % 5 === 4 ? async () => Promise.reject(new Error(`ECONNRESET while reading key`)) : undefined;
        const response = await client.send(buildRequest(request.path, request.headers));
        capture.add(bucket, response.head + '\r\n\r\n' + response.body);
        sent++;
      }
    } finally {
      store.behaviour = undefined;
      client.close();
    }
    return sent;
  }

  it.each(FRAMEWORKS)('the %s adapter: no key in responses, decision events, errors or handler contexts', async (framework) => {
    const events: DecisionEvent[] = [];
    const authenticator = createAuthenticator({ store, now: world.now, cache: false, onDecision: (e) => events.push(e) });
    const app = await startApp(framework, { middleware: adapterMiddleware(framework, authenticator) });
    try {
      const sent = await exercise(app.port);
      expect(sent).toBeGreaterThan(100);
      for (const event of events) capture.add('onDecision', event);
      for (const error of app.errors) capture.add('errors', error);
      for (const hit of app.hits) capture.add('handler context', hit);
      const outcomes = new Set(events.map((e) => `${e.status} ${e.code ?? ''}`.trim()));
      // The run covered allowed requests and every kind of refusal, or it proves little.
      for (const seen of ['200', '401 MISSING_API_KEY', '401 INVALID_API_KEY', '403 PREMIUM_REQUIRED', '403 ENTERPRISE_ONLY', '503 AUTH_UNAVAILABLE']) {
        expect(outcomes).toContain(seen);
      }
    } finally {
      await app.close();
      await authenticator.close();
    }
    expect(capture.find(secrets)).toEqual([]);
  });

  it('the gateway: no key in responses, access log, metrics or decision events, even for a key put in the path or query', async () => {
    const events: DecisionEvent[] = [];
    let accessLogLines = 0;
    const gateway = createGateway({
      store,
      accessLog: {
        write: (chunk: string) => {
          // Lines arrive in batches (one write per batch), so lines are counted, not writes.
          accessLogLines += chunk.split('\n').filter(Boolean).length;
          capture.add('access log', chunk);
        },
      },
      authenticator: { now: world.now, cache: false, onDecision: (e) => events.push(e) },
    });
    const address = await gateway.listen(0, '127.0.0.1');
    try {
      await exercise(address.port);
      // A careless client puts its key in the URL: the response is its own business, the log is not.
      const client = new RawClient(address.port);
      for (const { apiKey } of world.keys) {
        for (const path of [`/v1/invoices/${apiKey}`, `/v1/invoices?api_key=${apiKey}`, `/${encodeURIComponent(apiKey).replace(/_/g, '%5F')}`]) {
          await client.send(buildRequest(path, [['Authorization', `Bearer ${apiKey}`]]));
        }
      }
      const metrics = await client.send(buildRequest('/metrics', []));
      capture.add('metrics', metrics.body);
      client.close();
      for (const event of events) capture.add('onDecision', event);
    } finally {
      await gateway.close(); // writes the lines still waiting
    }
    expect(accessLogLines).toBeGreaterThan(100);
    expect(capture.find(secrets)).toEqual([]);
  });

  it('the key manager: no key in its answers or in the errors of ordinary misuse', async () => {
    const manager = createKeyManager({ store, now: world.now });
    const accountIds = [...new Set(await Promise.all(world.keys.map(async (k) => (await store.getKey(k.keyId))?.accountId)))];
    for (const accountId of accountIds) capture.add('handler context', await manager.list(accountId as string));
    capture.add('handler context', await manager.expiring(365));
    for (const attempt of [
      () => manager.revoke('key_does_not_exist'),
      () => manager.rotate('key_does_not_exist'),
      () => manager.issue({ accountId: 'no-such-account', environment: 'live' }),
      () => manager.issue({ accountId: accountIds[0] as string, environment: 'prod' as 'live' }),
      () => manager.issue({ accountId: accountIds[0] as string, environment: 'live', name: 'bad\u0000name' }),
    ]) {
      capture.add('errors', await attempt().then(() => new Error('no error'), (error: unknown) => error));
    }
    expect(capture.find(secrets)).toEqual([]);
  });

  it('the store is only ever asked by SHA-256 digest: the key never leaves the request (and no comparison runs on it)', async () => {
    expect(store.asked.length).toBeGreaterThan(50);
    const digests = new Set(await Promise.all(world.keys.map((k) => sha256Hex(k.apiKey))));
    for (const hash of store.asked) expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(store.asked.filter((hash) => digests.has(hash)).length).toBeGreaterThan(0);
    const asked = new Capture();
    asked.add('errors', store.asked.join('\n'));
    expect(asked.find(secrets)).toEqual([]);
  });

  it('at rest: the store holds digests and hints, never a key or a piece of one', async () => {
    const text = await opened.atRest();
    expect(text.length).toBeGreaterThan(200);
    capture.add('at rest', text);
    expect(capture.find(secrets)).toEqual([]);
  });
});

describe('the search itself', () => {
  it('finds a planted key, whole or by any 12-character piece, and nothing in a hint or a digest', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const secrets = secretsOf(world);
    const key = world.key('live-retail').apiKey;
    const probe = new Capture();
    probe.add('console', `hint ${key.slice(0, 8)}…${key.slice(-4)} digest ${await sha256Hex(key)}`);
    expect(probe.find(secrets)).toEqual([]);
    probe.add('responses', { message: `near miss ${key.slice(0, 20)}X${key.slice(21)}` });
    expect(probe.find(secrets)).toEqual(['responses: live-retail (piece ' + key.slice(8, 20) + ')']);
  });
});

describe('the key manager, misused', () => {
  // Found by this suite: KeyManagerError messages quoted the id they were given (`no key "<id>"`), so an operator
  // who pasted a key where an id belongs (`finora-auth keys revoke live_sk_…`) got it back on stderr (fixed in 8cb437b).
  it('the key manager: a key passed where an id belongs is not echoed in the error', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const secrets = secretsOf(world);
    const manager = createKeyManager({ store, now: world.now });
    const misuse = new Capture();
    const key = world.key('test-retail').apiKey;
    for (const attempt of [() => manager.revoke(key), () => manager.rotate(key), () => manager.list(key), () => manager.issue({ accountId: key, environment: 'live' })]) {
      misuse.add('errors', await attempt().then(() => new Error('no error'), (error: unknown) => error));
    }
    expect(misuse.find(secrets)).toEqual([]);
  });

});

describe('the whole run', () => {
  it('printed no key or piece of one on the console or on stdout/stderr', () => {
    expect(everySecret.length).toBeGreaterThan(0);
    expect(capture.find(everySecret)).toEqual([]);
  });
});
