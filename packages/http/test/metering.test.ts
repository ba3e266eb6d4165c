// Metering at the edge: credits, usage and rate limits of keys judged through HttpKeyStore, kept by the gateway's store.

import { createAuthenticator, createKeyManager, MemoryKeyStore, type Authenticator, type KeyStore } from '@finora-auth/core';
import { eventually } from '@finora-auth/core/testing';
import { SqliteKeyStore } from '@finora-auth/sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpKeyStore, HttpKeyStoreError } from '../src/index';
import { internalGateway, serve, type InternalGateway, type Running } from './support';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const today = () => new Date().toISOString().slice(0, 10);

/** A gateway's internal API on a SqliteKeyStore file, as `serve --store sqlite:… --internal-token-file` runs it. */
async function sqliteGateway() {
  const dir = mkdtempSync(join(tmpdir(), 'finora-http-metering-'));
  const backing = new SqliteKeyStore({ path: join(dir, 'keys.db') });
  const gateway = await internalGateway(backing);
  cleanups.push(async () => {
    await gateway.kill();
    await backing.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { backing, gateway, manager: createKeyManager({ store: backing }) };
}

/**
 * An edge function's store and authenticator (no stream, as on Workers). `close` shuts down as an app does: the
 * authenticator first (its leases go back, its counts are sent), then the store.
 */
function edge(url: string, token: string, fetcher?: typeof fetch) {
  const store = new HttpKeyStore({ url, token, events: false, ...(fetcher ? { fetch: fetcher } : {}) });
  const authenticator = createAuthenticator({ store });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= authenticator.close().then(() => store.close()));
  cleanups.push(close);
  return { store, authenticator, close };
}

const ask = (authenticator: Authenticator, apiKey: string, module = 'invoices') =>
  authenticator.authenticate({ authorization: `Bearer ${apiKey}`, module });

const statusOf = (result: Awaited<ReturnType<typeof ask>>) => (result.ok ? 200 : result.error.status);

/** Wraps the gateway so a test can see each metering POST and cut the ones it chooses (a gateway dying mid-take). */
async function watched(gateway: InternalGateway, cut: (req: IncomingMessage) => boolean = () => false) {
  const posts: string[] = [];
  const front: Running = await serve((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST') posts.push(req.url ?? '');
    if (cut(req)) req.socket.destroy();
    else gateway.api.handle(req, res);
  });
  cleanups.push(() => front.kill());
  return { url: front.url, posts };
}

describe('HttpKeyStore metering through the gateway', () => {
  it('allows a metered live key at the edge, spends its credits in the gateway\'s store, and refuses 402 once they are gone', async () => {
    const { backing, gateway, manager } = await sqliteGateway();
    await manager.putAccount({ id: 'acct_metered', tier: 'premium' });
    await manager.grantCredits('acct_metered', 5);
    const { apiKey } = await manager.issue({ accountId: 'acct_metered', environment: 'live' });
    const { authenticator } = edge(gateway.url, gateway.token);
    const remaining: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      const result = await ask(authenticator, apiKey);
      expect(result.ok).toBe(true);
      if (result.ok) remaining.push(result.context.creditsRemaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const refused = await ask(authenticator, apiKey);
    expect(refused.ok ? 200 : [refused.error.status, refused.error.code]).toEqual([402, 'CREDITS_EXHAUSTED']);
    expect((await backing.getCredits('acct_metered'))?.balance).toBe(0);
    // A test key of the same account never spends and is never refused for credits.
    const test = await manager.issue({ accountId: 'acct_metered', environment: 'test' });
    expect((await ask(authenticator, test.apiKey)).ok).toBe(true);
  });

  it('gives its unused lease back on close, and its usage counts reach the gateway\'s store', async () => {
    const { backing, gateway, manager } = await sqliteGateway();
    await manager.putAccount({ id: 'acct_lease', tier: 'premium' });
    await manager.grantCredits('acct_lease', 1_000);
    const { apiKey, key } = await manager.issue({ accountId: 'acct_lease', environment: 'live' });
    const { authenticator, close } = edge(gateway.url, gateway.token);
    // A burst: leases grow with the observed rate, until the edge holds credits it has not spent.
    const allowed = { invoices: 0, reports: 0 };
    const spent = () => allowed.invoices + allowed.reports;
    while (spent() < 30 || gateway.api.outstandingCredits('acct_lease') === spent()) {
      const module = spent() % 2 ? 'invoices' : 'reports';
      expect((await ask(authenticator, apiKey, module)).ok).toBe(true);
      allowed[module] += 1;
    }
    expect((await backing.getCredits('acct_lease'))?.balance).toBeLessThan(1_000 - spent());
    await close();
    expect((await backing.getCredits('acct_lease'))?.balance).toBe(1_000 - spent());
    // What the gateway still counts as taken through it is what the edge spent: the rest came back.
    expect(gateway.api.outstandingCredits('acct_lease')).toBe(spent());
    const usage = await backing.listUsage('acct_lease', today(), today());
    expect(usage).toEqual([
      { day: today(), keyId: key.id, environment: 'live', module: 'invoices', allowed: allowed.invoices, creditsSpent: allowed.invoices },
      { day: today(), keyId: key.id, environment: 'live', module: 'reports', allowed: allowed.reports, creditsSpent: allowed.reports },
    ]);
  });

  it('shares a rate limit between two edge stores: one refuses what the other already spent', async () => {
    const backing = new MemoryKeyStore();
    const gateway = await internalGateway(backing);
    cleanups.push(() => gateway.kill());
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_limited', tier: 'premium', rateLimit: { requests: 10, perSeconds: 3_600 } });
    const { apiKey, key } = await manager.issue({ accountId: 'acct_limited', environment: 'live' });
    const one = edge(gateway.url, gateway.token).authenticator;
    // The second edge's fetch notes each rate-window count the gateway answered, once the store has read it.
    const heard: number[] = [];
    const two = edge(gateway.url, gateway.token, async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/internal/rate-windows/increment')) return response;
      const text = await response.text();
      heard.push((JSON.parse(text) as { count: number }).count);
      return new Response(text, { status: response.status, headers: response.headers });
    }).authenticator;
    const windowStart = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const shared = () => backing.incrementRateWindow(key.id, windowStart, 0, 60_000);
    for (let i = 0; i < 10; i++) expect(statusOf(await ask(one, apiKey))).toBe(200);
    expect(statusOf(await ask(one, apiKey))).toBe(429);
    await eventually(async () => (await shared()) === 10, 2_000, { what: 'the first edge\'s counts at the gateway' });
    // The second edge has counted nothing itself; its first request is its own, then it hears the fleet's count.
    expect(statusOf(await ask(two, apiKey))).toBe(200);
    await eventually(() => heard.includes(11), 2_000, { what: 'the fleet\'s count reaching the second edge' });
    // Per process it would allow nine more; it has heard the first edge's ten, so it refuses.
    expect(statusOf(await ask(two, apiKey))).toBe(429);
    expect(await shared()).toBe(11);
  });
});

describe('HttpKeyStore credit takes are judged on the gateway\'s clock', () => {
  it('does not refill early for an edge whose clock runs ahead: its now is not sent', async () => {
    const backing = new MemoryKeyStore();
    let clock = Date.UTC(2026, 5, 30, 23, 0);
    const gateway = await internalGateway(backing, { now: () => clock });
    cleanups.push(() => gateway.kill());
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_clock', tier: 'premium' });
    await manager.grantCredits('acct_clock', 10);
    await manager.setCreditRefill('acct_clock', { amount: 100, period: 'month' });
    const store = new HttpKeyStore({ url: gateway.url, token: gateway.token, events: false });
    cleanups.push(() => store.close());
    const july = Date.UTC(2026, 6, 1, 0, 5); // the edge believes July has begun
    expect(await store.takeCredits('acct_clock', 10, 1, july)).toEqual({ granted: 10, balance: 90, metered: true }); // June's refill
    expect(await store.takeCredits('acct_clock', 10, 1, july)).toEqual({ granted: 10, balance: 80, metered: true });
    expect((await backing.getCredits('acct_clock'))?.refilledPeriod).toBe('2026-06');
    clock = july;
    expect(await store.takeCredits('acct_clock', 10, 1, 0)).toEqual({ granted: 10, balance: 90, metered: true });
  });
});

describe('HttpKeyStore metering faults (fail closed, never a double debit)', () => {
  it('answers 503 when the gateway goes down mid-take, unless the lease in hand covers the request', async () => {
    const backing = new MemoryKeyStore();
    const gateway = await internalGateway(backing);
    cleanups.push(() => gateway.kill());
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_down', tier: 'premium' });
    await manager.grantCredits('acct_down', 10_000);
    const { apiKey } = await manager.issue({ accountId: 'acct_down', environment: 'live' });
    let down = false;
    const front = await watched(gateway, (req) => down && req.url === '/internal/credits/take');
    const { authenticator } = edge(front.url, gateway.token);
    let allowed = 0;
    // Warm the key and grow a lease.
    while (allowed < 5 || gateway.api.outstandingCredits('acct_down') - allowed === 0) {
      expect(statusOf(await ask(authenticator, apiKey))).toBe(200);
      allowed += 1;
    }
    const held = gateway.api.outstandingCredits('acct_down') - allowed;
    const takes = front.posts.filter((p) => p === '/internal/credits/take').length;
    down = true;
    for (let i = 0; i < held; i++) expect(statusOf(await ask(authenticator, apiKey))).toBe(200);
    const refused = await ask(authenticator, apiKey);
    expect(refused.ok ? 200 : [refused.error.status, refused.error.code]).toEqual([503, 'AUTH_UNAVAILABLE']);
    // One take was tried for the refused request, and it was not retried.
    expect(front.posts.filter((p) => p === '/internal/credits/take').length).toBe(takes + 1);
    down = false;
    expect(statusOf(await ask(authenticator, apiKey))).toBe(200);
  });

  it('never retries a take whose answer was lost: the account is debited once, and the request is 503', async () => {
    const backing = new MemoryKeyStore();
    const gateway = await internalGateway(backing);
    cleanups.push(() => gateway.kill());
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_lost', tier: 'premium' });
    await manager.grantCredits('acct_lost', 100);
    const posts: string[] = [];
    // A hop in between that passes the take on, waits for the gateway's whole answer, then drops the connection.
    const front = await serve((req) => {
      posts.push(`${req.method} ${req.url}`);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers = { authorization: req.headers.authorization ?? '', 'content-type': req.headers['content-type'] ?? '' };
        void fetch(`${gateway.url}${req.url}`, { method: req.method!, headers, body: Buffer.concat(chunks) })
          .then((answer) => answer.text())
          .then(() => req.socket.destroy());
      });
    });
    cleanups.push(() => front.kill());
    const store = new HttpKeyStore({ url: front.url, token: gateway.token, events: false });
    cleanups.push(() => store.close());
    const error = await store.takeCredits('acct_lost', 7, 1, Date.now()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpKeyStoreError);
    expect((error as HttpKeyStoreError).code).toBe('UNAVAILABLE');
    expect(posts).toEqual(['POST /internal/credits/take']);
    expect((await backing.getCredits('acct_lost'))?.balance).toBe(93);
  });

  it('throws GARBLED for a metering answer that does not validate, and the core answers 503', async () => {
    const backing = new MemoryKeyStore();
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_garbled', tier: 'premium' });
    await manager.grantCredits('acct_garbled', 100);
    const { apiKey } = await manager.issue({ accountId: 'acct_garbled', environment: 'live' });
    const gateway = await internalGateway(backing);
    cleanups.push(() => gateway.kill());
    let answer: unknown = {};
    const json = (res: ServerResponse, body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const liar = await serve((req, res) => {
      if (req.method === 'POST') {
        req.resume();
        req.on('end', () => json(res, answer));
      } else gateway.api.handle(req, res);
    });
    cleanups.push(() => liar.kill());
    const store = new HttpKeyStore({ url: liar.url, token: gateway.token, events: false });
    cleanups.push(() => store.close());
    const garbled = async (call: () => Promise<unknown>, body: unknown) => {
      answer = body;
      const error = await call().then(() => undefined, (e: unknown) => e);
      expect(error, JSON.stringify(body)).toBeInstanceOf(HttpKeyStoreError);
      expect((error as HttpKeyStoreError).code).toBe('GARBLED');
    };
    const take = () => store.takeCredits('acct_garbled', 10, 2, Date.now());
    for (const body of [
      { granted: 11, balance: 0, metered: true }, // more than asked
      { granted: 1, balance: 0, metered: true }, // less than min
      { granted: 5, balance: -1, metered: true },
      { granted: 5.5, balance: 1, metered: true },
      { granted: 5, balance: 1, metered: false }, // unmetered accounts grant nothing
      { granted: '5', balance: 1, metered: true },
      { granted: 5, balance: 1 },
      [],
      null,
    ]) {
      await garbled(take, body);
    }
    await garbled(() => store.returnCredits('acct_garbled', 3), { returned: 4 });
    await garbled(() => store.addUsage([{ day: today(), accountId: 'acct_garbled', keyId: 'key_x', environment: 'live', allowed: 1, creditsSpent: 1 }]), { rows: 2 });
    await garbled(() => store.incrementRateWindow('key_x', 0, 5, 60_000), { count: 4 });
    // Through the core: a live key whose credits cannot be taken is 503, never allowed free.
    answer = { granted: 1_000, balance: 0, metered: true };
    const authenticator = createAuthenticator({ store });
    cleanups.push(() => authenticator.close());
    const result = await ask(authenticator, apiKey);
    expect(result.ok ? 200 : [result.error.status, result.error.code]).toEqual([503, 'AUTH_UNAVAILABLE']);
  });

  it('maps a gateway that refuses the body (another version) to GARBLED, one without metering (a v1 store) to UNAVAILABLE', async () => {
    const v1: KeyStore = new Proxy(new MemoryKeyStore(), {
      get(target, property) {
        if (['takeCredits', 'returnCredits', 'addUsage', 'incrementRateWindow'].includes(property as string)) return undefined;
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const gateway = await internalGateway(v1);
    cleanups.push(() => gateway.kill());
    const store = new HttpKeyStore({ url: gateway.url, token: gateway.token, events: false });
    cleanups.push(() => store.close());
    const error = await store.takeCredits('acct_v1', 1, 1, Date.now()).catch((e: unknown) => e);
    expect((error as HttpKeyStoreError).code).toBe('UNAVAILABLE');
    const newer = await internalGateway(new MemoryKeyStore());
    cleanups.push(() => newer.kill());
    const other = new HttpKeyStore({ url: newer.url, token: newer.token, events: false });
    cleanups.push(() => other.close());
    // A module the gateway's catalog does not know: refused as a whole, named, never half-applied.
    const refused = await other
      .addUsage([{ day: today(), accountId: 'acct_v1', keyId: 'key_x', environment: 'live', module: 'not-a-module', allowed: 1, creditsSpent: 0 }])
      .catch((e: unknown) => e);
    expect((refused as HttpKeyStoreError).code).toBe('GARBLED');
    expect((refused as Error).message).toMatch(/refused the request \(400\)/);
    expect(String(refused)).not.toContain(newer.token);
  });
});
