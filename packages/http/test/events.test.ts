// HttpKeyStore's revocation bound: changes over the gateway's event stream, a dropped or frozen stream, and Workers mode (ttlMs).

import { createAuthenticator, createKeyManager, MemoryKeyStore, StoreEvents, type KeyStore } from '@finora-auth/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpKeyStore } from '../src/index';
import { internalGateway, isReset, listen, newToken, serve, type Running } from './support';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

async function world(options: { events?: boolean } = {}) {
  const backing = new MemoryKeyStore();
  const manager = createKeyManager({ store: backing });
  await manager.putAccount({ id: 'acct_events', tier: 'premium' });
  const gateway = await internalGateway(backing);
  cleanups.push(() => gateway.kill());
  const edge = new HttpKeyStore({ url: gateway.url, token: gateway.token, events: options.events ?? true });
  cleanups.push(() => edge.close());
  return { backing, manager, gateway, edge };
}

function authenticatorOver(store: KeyStore, options: Parameters<typeof createAuthenticator>[0] extends infer O ? Partial<O> : never = {}) {
  const authenticator = createAuthenticator({ store, ...options });
  cleanups.push(() => authenticator.close());
  return (apiKey: string) => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
}

describe('HttpKeyStore events (Node, Bun, Deno: a stream from the gateway)', () => {
  it('hears a revocation over the stream in milliseconds, and a warm cache refuses the key at once after it', async () => {
    const { manager, edge } = await world();
    const heard = listen(edge);
    cleanups.push(heard.stop);
    const ask = authenticatorOver(edge);
    await heard.next(isReset(true));
    const latencies: number[] = [];
    for (let round = 0; round < 20; round++) {
      const { apiKey, key } = await manager.issue({ accountId: 'acct_events', environment: 'live' });
      expect((await ask(apiKey)).ok).toBe(true);
      const warm = await ask(apiKey);
      expect(warm.ok && warm.decision.cache).toBe('hit');
      const revoked = heard.next((e) => e.type === 'key-changed');
      const started = performance.now();
      await manager.revoke(key.id);
      await revoked;
      latencies.push(performance.now() - started);
      const after = await ask(apiKey);
      expect(after.ok).toBe(false);
      if (!after.ok) expect(after.error.code).toBe('INVALID_API_KEY');
    }
    const max = Math.max(...latencies);
    console.info(`[measured] revocation heard over the stream: median ${median(latencies).toFixed(1)} ms, max ${max.toFixed(1)} ms (20 rounds)`);
    expect(max).toBeLessThan(edge.revocationBoundMs());
  });

  it('says reset live:false when the gateway goes away (and fails closed meanwhile), then live:true once it is back; a revocation made meanwhile is honoured', async () => {
    const backing = new MemoryKeyStore();
    const manager = createKeyManager({ store: backing });
    await manager.putAccount({ id: 'acct_drop', tier: 'premium' });
    const token = newToken();
    let gateway = await internalGateway(backing, { token });
    const port = Number(new URL(gateway.url).port);
    cleanups.push(() => gateway.kill());
    const edge = new HttpKeyStore({ url: gateway.url, token, reconnectDelayMs: 50, maxReconnectDelayMs: 200 });
    cleanups.push(() => edge.close());
    const heard = listen(edge);
    cleanups.push(heard.stop);
    const ask = authenticatorOver(edge);
    await heard.next(isReset(true));
    const { apiKey, key } = await manager.issue({ accountId: 'acct_drop', environment: 'live' });
    expect((await ask(apiKey)).ok).toBe(true);

    const dropped = heard.next(isReset(false));
    const killedAt = performance.now();
    await gateway.kill();
    await dropped;
    console.info(`[measured] stream drop to reset live:false: ${(performance.now() - killedAt).toFixed(1)} ms`);
    const meanwhile = await ask(apiKey);
    expect(meanwhile.ok).toBe(false);
    if (!meanwhile.ok) expect(meanwhile.error.status).toBe(503);
    await manager.revoke(key.id); // nobody can tell the edge: it must not trust its cache when it comes back

    const back = heard.next(isReset(true));
    gateway = await internalGateway(backing, { token }, port);
    await back;
    const after = await ask(apiKey);
    expect(after.ok).toBe(false);
    if (!after.ok) expect(after.error.code).toBe('INVALID_API_KEY');
  });

  it('treats a frozen stream (open, but no heartbeat) as dropped within heartbeatTimeoutMs: a revocation it never carries is honoured within 1 s', async () => {
    const { manager, gateway } = await world({ events: false });
    // The lookups work; the stream says ready and then nothing ever again, its connection held open.
    const frozen = await serve((req, res) => {
      if (req.url === '/internal/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: ready\ndata: {"live":true}\n\n');
        return;
      }
      gateway.api.handle(req, res);
    });
    cleanups.push(() => frozen.kill());
    const edge = new HttpKeyStore({ url: frozen.url, token: gateway.token });
    cleanups.push(() => edge.close());
    const heard = listen(edge);
    cleanups.push(heard.stop);
    const ask = authenticatorOver(edge);
    await heard.next(isReset(true));
    const readyAt = performance.now();
    const { apiKey, key } = await manager.issue({ accountId: 'acct_events', environment: 'live' });
    expect((await ask(apiKey)).ok).toBe(true);
    const quiet = heard.next(isReset(false));
    await manager.revoke(key.id);
    // Ask until refused: the bound is measured from the last byte the stream sent (`ready`, before the revocation)
    // to the last answer that still allowed the revoked key.
    let lastAllowedAt = readyAt;
    for (;;) {
      const result = await ask(apiKey);
      if (!result.ok) break;
      lastAllowedAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await quiet;
    const bound = lastAllowedAt - readyAt;
    console.info(`[measured] frozen stream: last wrong allow ${bound.toFixed(0)} ms after the stream's last byte (bound ${edge.revocationBoundMs()} ms)`);
    // The watchdog is a timer: it fires a few ms late on a busy event loop.
    expect(bound).toBeLessThanOrEqual(edge.revocationBoundMs() + 50);
  });

  it('passes on the gateway\'s own channel going down and up, and a new stream\'s ready says whether the gateway trusts', async () => {
    const backing = new MemoryKeyStore();
    const channel = new StoreEvents();
    // The gateway's store, with a channel the test drives (as a Redis or PostgreSQL store's would).
    const served: KeyStore = new Proxy(backing, {
      get(target, property) {
        if (property === 'subscribe') return (listener: Parameters<KeyStore['subscribe']>[0]) => {
          const stops = [target.subscribe(listener), channel.subscribe(listener)];
          return () => stops.forEach((stop) => stop());
        };
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const gateway = await internalGateway(served);
    cleanups.push(() => gateway.kill());
    const edge = new HttpKeyStore({ url: gateway.url, token: gateway.token });
    cleanups.push(() => edge.close());
    const heard = listen(edge);
    cleanups.push(heard.stop);
    await heard.next(isReset(true));
    const down = heard.next(isReset(false));
    channel.emit({ type: 'reset', live: false });
    await down;
    const second = new HttpKeyStore({ url: gateway.url, token: gateway.token });
    cleanups.push(() => second.close());
    const secondHeard = listen(second);
    cleanups.push(secondHeard.stop);
    expect(secondHeard.events).toEqual([{ type: 'reset', live: false }]); // at once, on subscribe
    // Its ready carries the gateway's live:false (heard as a second reset): it must not turn live before the gateway does.
    await secondHeard.next(isReset(false));
    expect(secondHeard.events).toEqual([{ type: 'reset', live: false }, { type: 'reset', live: false }]);
    const up = heard.next(isReset(true));
    const secondUp = secondHeard.next(isReset(true));
    channel.emit({ type: 'reset', live: true });
    await Promise.all([up, secondUp]);
  });

  it('drops a stream that sends a garbled event (it cannot know what it missed): reset live:false, then reconnects', async () => {
    let connections = 0;
    const garbling = await serve((_req, res) => {
      connections += 1;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {"live":true}\n\n');
      if (connections === 1) res.write('event: key-changed\ndata: {"keyHash":"not a digest"}\n\n');
    });
    cleanups.push(() => garbling.kill());
    const edge = new HttpKeyStore({ url: garbling.url, token: newToken(), reconnectDelayMs: 20, maxReconnectDelayMs: 40 });
    cleanups.push(() => edge.close());
    const heard = listen(edge);
    cleanups.push(heard.stop);
    await heard.next(isReset(true));
    await heard.next(isReset(false));
    await heard.next(isReset(true));
    expect(connections).toBe(2);
    expect(heard.events.filter((e) => e.type === 'key-changed')).toEqual([]);
  });

  it('reports a stream refused for its token as the same setup error, and stays not live', async () => {
    const { gateway } = await world();
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const edge = new HttpKeyStore({ url: gateway.url, token: newToken(), reconnectDelayMs: 50, maxReconnectDelayMs: 100 });
    cleanups.push(() => edge.close());
    const heard = listen(edge);
    cleanups.push(heard.stop);
    await vi.waitFor(() => expect(logged).toHaveBeenCalled(), { timeout: 5_000 });
    expect(String(logged.mock.calls[0]?.[0])).toContain('check the internal token');
    expect(heard.events.every(isReset(false))).toBe(true);
  });

  it('closes the stream when the last listener stops, and the gateway drops it', async () => {
    const { gateway, edge } = await world();
    const heard = listen(edge);
    await heard.next(isReset(true));
    expect(gateway.api.streams).toBe(1);
    heard.stop();
    await vi.waitFor(() => expect(gateway.api.streams).toBe(0), { timeout: 5_000 });
  });
});

describe('HttpKeyStore without events (Cloudflare Workers: the bound is the cache ttlMs)', () => {
  it('hears nothing, so a cached key passes for ttlMs after it was looked up, and not one millisecond more', async () => {
    const { manager, edge, gateway } = await world({ events: false });
    const heard = listen(edge);
    cleanups.push(heard.stop);
    let clock = Date.now();
    const ask = authenticatorOver(edge, { cache: { ttlMs: 5_000 }, now: () => clock });
    const { apiKey, key } = await manager.issue({ accountId: 'acct_events', environment: 'live' });
    expect((await ask(apiKey)).ok).toBe(true);
    await manager.revoke(key.id);
    clock += 5_000;
    expect((await ask(apiKey)).ok).toBe(true); // the documented window, ttlMs inclusive: no stream told it
    clock += 1;
    const after = await ask(apiKey);
    expect(after.ok).toBe(false);
    expect(heard.events).toEqual([]);
    expect(gateway.api.streams).toBe(0);
    expect(edge.revocationBoundMs(5_000)).toBe(5_000);
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
