// Optional throttling of failed authentications per client address: off by default, 429 with Retry-After when on.

import { generateApiKey } from '@finora-auth/core';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../src/gateway';
import { FailureThrottle } from '../src/throttle';
import { createKeyManager, MemoryKeyStore } from '@finora-auth/core';

async function gatewayWith(throttle: { failures: number; windowMs?: number } | undefined, now = () => Date.now()) {
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: 'acme', tier: 'premium' });
  const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'test' });
  const gateway = createGateway({ store, accessLog: false, authenticator: { now }, ...(throttle ? { throttle } : {}) });
  const { url } = await gateway.listen(0, '127.0.0.1');
  const call = (key: string) => fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${key}` } });
  return { gateway, apiKey, call };
}

describe('failed-authentication throttling', () => {
  it('is off by default: any number of failures, then a valid key still passes', async () => {
    const { gateway, apiKey, call } = await gatewayWith(undefined);
    try {
      for (let i = 0; i < 20; i++) expect((await call(generateApiKey('live'))).status).toBe(401);
      expect((await call(apiKey)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('answers 429 with Retry-After and the contract error shape once an address reaches the limit, until the window ends', async () => {
    let clock = Date.parse('2026-11-28T12:00:00Z');
    const { gateway, apiKey, call } = await gatewayWith({ failures: 3, windowMs: 60_000 }, () => clock);
    try {
      expect((await call(apiKey)).status).toBe(200); // successes do not count
      for (let i = 0; i < 3; i++) expect((await call(generateApiKey('live'))).status).toBe(401);
      const throttled = await call(apiKey);
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('60');
      expect(throttled.headers.get('cache-control')).toBe('no-store');
      expect(await throttled.json()).toEqual({ error: { code: 'TOO_MANY_FAILED_AUTHENTICATIONS', message: expect.stringContaining('Retry in 60 s') } });
      clock += 45_000;
      expect((await call(apiKey)).headers.get('retry-after')).toBe('15');
      clock += 15_000;
      expect((await call(apiKey)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('keeps each address apart and forgets the least recently seen past maxClients', () => {
    let clock = 0;
    const throttle = new FailureThrottle({ failures: 1, windowMs: 1_000, maxClients: 2 }, () => clock);
    throttle.fail('10.0.0.1');
    expect(throttle.retryAfter('10.0.0.1')).toBe(1);
    expect(throttle.retryAfter('10.0.0.2')).toBe(0);
    throttle.fail('10.0.0.2');
    throttle.fail('10.0.0.3');
    expect(throttle.retryAfter('10.0.0.1')).toBe(0);
    clock += 1_000;
    expect(throttle.retryAfter('10.0.0.3')).toBe(0);
  });

  it('refuses a limit that is not a whole positive number, naming it', () => {
    expect(() => new FailureThrottle({ failures: 0 })).toThrow(/throttle\.failures/);
    expect(() => new FailureThrottle({ failures: 2, windowMs: 1.5 })).toThrow(/throttle\.windowMs/);
  });
});

describe('serve flags', () => {
  it('turns throttling on with --throttle-failures (or FINORA_AUTH_THROTTLE_FAILURES), off by default', async () => {
    const { resolveServeConfig } = await import('../src/cli-serve');
    const resolve = (values: Record<string, unknown>, env: Record<string, string> = {}) =>
      resolveServeConfig(values as never, env as never, '/tmp');
    expect(resolve({})).toMatchObject({ throttleFailures: 0, throttleWindowMs: 60_000 });
    expect(resolve({ 'throttle-failures': '5', 'throttle-window': '30000' })).toMatchObject({ throttleFailures: 5, throttleWindowMs: 30_000 });
    expect(resolve({}, { FINORA_AUTH_THROTTLE_FAILURES: '7' })).toMatchObject({ throttleFailures: 7 });
    expect(() => resolve({ 'throttle-failures': 'many' })).toThrow(/throttle-failures/);
  });
});
