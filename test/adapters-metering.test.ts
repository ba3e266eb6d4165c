// Rows 7r (429 RATE_LIMITED) and 7c (402 CREDITS_EXHAUSTED) over real HTTP on every adapter: status, headers, body, context.

import { createAuthenticator, createKeyManager, MemoryKeyStore, type Authenticator, type KeyManager } from '@finora-auth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HARNESSES, send, type Reply, type Served } from './support/adapters';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

function expectJsonRefusal(reply: Reply, status: number, code: string): void {
  expect(reply.status).toBe(status);
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.headers['cache-control']).toBe('no-store');
  expect(reply.headers['www-authenticate']).toBeUndefined();
  expect(reply.headers['finora-credits-remaining']).toBeUndefined();
  const body = JSON.parse(reply.text) as { error: { code: string; message: string } };
  expect(body).toEqual({ error: { code, message: expect.any(String) } });
  expect(reply.text).not.toMatch(/(live|test)_sk_[0-9a-fA-F]{4}/);
}

describe.each(HARNESSES)('$name: credits and rate limits', (harness) => {
  const clock = { now: T0 };
  let store: MemoryKeyStore;
  let manager: KeyManager;
  let authenticator: Authenticator;
  let app: Served;
  let accounts = 0;

  beforeAll(async () => {
    store = new MemoryKeyStore();
    manager = createKeyManager({ store, now: () => clock.now });
    authenticator = createAuthenticator({ store, now: () => clock.now });
    app = await harness.serve({ auth: { authenticator } });
  });
  afterAll(async () => {
    await app?.close();
    await authenticator?.close();
  });

  const account = async () => {
    const id = `metering-${harness.name}-${++accounts}`;
    await manager.putAccount({ id, tier: 'premium' });
    return id;
  };
  const get = (apiKey: string) => send(app.origin, '/invoices', { Authorization: `Bearer ${apiKey}` });

  it('402 CREDITS_EXHAUSTED once a metered account\'s credits are spent; allowed answers show the balance', async () => {
    const accountId = await account();
    const { apiKey, key } = await manager.issue({ accountId, environment: 'live' });
    await manager.grantCredits(accountId, 2);
    const hits = app.hits.length;
    const first = await get(apiKey);
    expect(first.status).toBe(200);
    expect(first.headers['finora-credits-remaining']).toBe('1');
    expect(JSON.parse(first.text).auth).toMatchObject({ keyId: key.id, creditsRemaining: 1, billable: true });
    expect((await get(apiKey)).headers['finora-credits-remaining']).toBe('0');
    const refused = await get(apiKey);
    expectJsonRefusal(refused, 402, 'CREDITS_EXHAUSTED');
    expect(refused.headers['retry-after']).toBeUndefined();
    expect(app.hits.length).toBe(hits + 2);
  });

  it('a test key of the same metered account is never charged nor refused', async () => {
    const accountId = await account();
    const { apiKey } = await manager.issue({ accountId, environment: 'test' });
    await manager.grantCredits(accountId, 1);
    for (let i = 0; i < 3; i++) {
      const reply = await get(apiKey);
      expect(reply.status).toBe(200);
      expect(reply.headers['finora-credits-remaining']).toBeUndefined();
      expect(JSON.parse(reply.text).auth).not.toHaveProperty('creditsRemaining');
    }
  });

  it('429 RATE_LIMITED with Retry-After and the RateLimit fields; allowed answers carry the fields', async () => {
    const accountId = await account();
    const { apiKey } = await manager.issue({ accountId, environment: 'live', rateLimit: { requests: 1, perSeconds: 30 } });
    const hits = app.hits.length;
    const allowed = await get(apiKey);
    expect(allowed.status).toBe(200);
    expect(allowed.headers['ratelimit-policy']).toBe('"default";q=1;w=30');
    expect(allowed.headers.ratelimit).toMatch(/^"default";r=0;t=\d+$/);
    const refused = await get(apiKey);
    expectJsonRefusal(refused, 429, 'RATE_LIMITED');
    expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(refused.headers['ratelimit-policy']).toBe('"default";q=1;w=30');
    expect(refused.headers.ratelimit).toMatch(/^"default";r=0;t=\d+$/);
    expect(app.hits.length).toBe(hits + 1);
  });
});
