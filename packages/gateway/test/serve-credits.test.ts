// `finora-auth serve` with credits and rate limits: 402 and Finora-Credits-Remaining, 429 and the RateLimit fields over
// the wire, and SIGTERM-ed gateways give their credit leases back (no debit lost), two of them on one PostgreSQL store.

import { randomBytes } from 'node:crypto';
import { createKeyManager } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startServe, type ServeHandle } from './support';

const POSTGRES_URL = process.env.FINORA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `finora_test_serve_credits_${randomBytes(4).toString('hex')}`;
const storeUrl = `${POSTGRES_URL}?schema=${schema}`;
let store: PostgresKeyStore;
const running: ServeHandle[] = [];

beforeAll(() => {
  ensureBuilt();
  store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema });
}, 240_000);

afterAll(async () => {
  for (const serve of running) await serve.stop('SIGKILL');
  await store?.close();
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

const get = (url: string, apiKey: string) => fetch(`${url}/v1/invoices`, { headers: { Authorization: `Bearer ${apiKey}` } });

describe('serve with credits', () => {
  it('answers the balance on allowed requests, 402 at none, and gives leases back on SIGTERM', async () => {
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'serve-metered', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'serve-metered', environment: 'live' });
    await manager.grantCredits('serve-metered', 1_000);
    const gateways = await Promise.all([startServe(['--store', storeUrl, '--access-log', 'off']), startServe(['--store', storeUrl, '--access-log', 'off'])]);
    running.push(...gateways);
    let allowed = 0;
    for (let i = 0; i < 60; i++) {
      const reply = await get(gateways[i % 2]!.url, apiKey);
      expect(reply.status).toBe(200);
      expect(Number(reply.headers.get('finora-credits-remaining'))).toBeGreaterThanOrEqual(0);
      await reply.arrayBuffer();
      allowed++;
    }
    // Both gateways hold leases now; the store's balance is below what was not spent.
    expect((await manager.credits('serve-metered')).balance).toBeLessThan(1_000 - allowed);
    for (const gateway of gateways) expect((await gateway.stop('SIGTERM')).code).toBe(0);
    expect((await manager.credits('serve-metered')).balance).toBe(1_000 - allowed);
  }, 60_000);

  it('refuses with 429 RATE_LIMITED, Retry-After and the RateLimit fields over a key\'s rate limit', async () => {
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'serve-limited', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'serve-limited', environment: 'live', rateLimit: { requests: 2, perSeconds: 60 } });
    const gateway = await startServe(['--store', storeUrl, '--access-log', 'off']);
    running.push(gateway);
    for (let i = 0; i < 2; i++) {
      const allowed = await get(gateway.url, apiKey);
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60');
      expect(allowed.headers.get('ratelimit')).toMatch(new RegExp(`^"default";r=${1 - i};t=\\d+$`));
      await allowed.arrayBuffer();
    }
    const refused = await get(gateway.url, apiKey);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60');
    expect(refused.headers.get('cache-control')).toBe('no-store');
    expect(await refused.json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String) } });
    expect((await gateway.stop('SIGTERM')).code).toBe(0);
  }, 60_000);

  it('refuses with 402 CREDITS_EXHAUSTED when the credits are gone', async () => {
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'serve-empty', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'serve-empty', environment: 'live' });
    await manager.grantCredits('serve-empty', 1);
    const gateway = await startServe(['--store', storeUrl, '--access-log', 'off']);
    running.push(gateway);
    const first = await get(gateway.url, apiKey);
    expect(first.status).toBe(200);
    expect(first.headers.get('finora-credits-remaining')).toBe('0');
    const refused = await get(gateway.url, apiKey);
    expect(refused.status).toBe(402);
    expect(await refused.json()).toEqual({ error: { code: 'CREDITS_EXHAUSTED', message: expect.any(String) } });
    expect((await gateway.stop('SIGTERM')).code).toBe(0);
  }, 60_000);
});
