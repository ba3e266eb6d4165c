// A cached key goes on to the next handler in the same tick (no promise waited on); a first lookup still waits and decides alike.

import { createAuthenticator, createKeyManager, MemoryKeyStore } from '@finora-auth/core';
import type { NextFunction, Request, Response } from 'express';
import { describe, expect, it, vi, type Mock } from 'vitest';
import { finoraAuth } from './index';

/** The parts of an Express request and response the middleware reads and writes. */
function exchange(apiKey: string) {
  const req = {
    rawHeaders: ['Host', 'api.test', 'Authorization', `Bearer ${apiKey}`],
    headers: { host: 'api.test', authorization: `Bearer ${apiKey}` },
    method: 'GET',
    path: '/v1/invoices',
    baseUrl: '',
  } as unknown as Request;
  const headers = new Map<string, unknown>();
  const res = { statusCode: 200, setHeader: (name: string, value: unknown) => headers.set(name, value), end: vi.fn() } as unknown as Response;
  return { req, res, headers };
}

/** A `next` whose calls can be inspected. */
const nextSpy = () => vi.fn() as Mock & NextFunction;

describe('finoraAuth (Express) on a cached key', () => {
  it('calls next before the middleware returns, with req.auth set; the first request waits for the store', async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct_1', tier: 'premium' });
    await manager.putAccount({ id: 'acct_free', tier: 'premium' });
    const { apiKey, key } = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    const middleware = finoraAuth({ authenticator: createAuthenticator({ store }) });

    const first = exchange(apiKey);
    const firstNext = nextSpy();
    middleware(first.req, first.res, firstNext);
    expect(firstNext).not.toHaveBeenCalled();
    await vi.waitFor(() => expect(firstNext).toHaveBeenCalledWith());
    expect(first.req.auth).toMatchObject({ keyId: key.id, module: 'invoices' });

    const cached = exchange(apiKey);
    const cachedNext = nextSpy();
    middleware(cached.req, cached.res, cachedNext);
    expect(cachedNext).toHaveBeenCalledExactlyOnceWith();
    expect(cached.req.auth).toEqual(first.req.auth);

    // A cached refusal is answered in the same tick too, and next is never called.
    const { apiKey: freeKey } = await manager.issue({ accountId: 'acct_free', environment: 'live' });
    await manager.updateAccount('acct_free', { tier: 'free' });
    const warm = exchange(freeKey);
    middleware(warm.req, warm.res, nextSpy());
    await vi.waitFor(() => expect(warm.res.end).toHaveBeenCalled());
    const refused = exchange(freeKey);
    const refusedNext = nextSpy();
    middleware(refused.req, refused.res, refusedNext);
    expect(refused.res.end).toHaveBeenCalledOnce();
    expect(refused.res.statusCode).toBe(403);
    expect(refused.headers.get('WWW-Authenticate')).toBe('Bearer realm="finora", error="insufficient_scope"');
    expect(refusedNext).not.toHaveBeenCalled();
  });
});
