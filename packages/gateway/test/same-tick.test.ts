// Forward-auth answers a cached key within the request event itself (no promise waited on), and decides and counts
// exactly as a first lookup does.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { createKeyManager, MemoryKeyStore } from '@finora-auth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

/** One forward-auth question as nginx asks it; resolves with the status and the identity header it got. */
function ask(port: number, authorization: string): Promise<{ status: number; accountId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/_finora_auth', headers: { authorization, 'x-original-uri': '/v1/invoices', 'x-original-method': 'GET' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, accountId: res.headers['finora-account-id'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('forward-auth on a cached key', () => {
  it('has its answer written before the request event returns; the first lookup answers later, alike', async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct_1', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    gateway = createGateway({ store, forwardAuth: true, accessLog: false });
    // Runs right after the gateway's own request listener, in the same emit: it sees what that listener left.
    const endedInTheEvent: boolean[] = [];
    gateway.server.on('request', (_req: IncomingMessage, res: ServerResponse) => endedInTheEvent.push(res.writableEnded));
    const { port } = await gateway.listen(0, '127.0.0.1');

    const first = await ask(port, `Bearer ${apiKey}`);
    const cached = await ask(port, `Bearer ${apiKey}`);
    const unknown = `Bearer live_sk_${'0'.repeat(48)}`;
    const firstUnknown = await ask(port, unknown);
    const cachedUnknown = await ask(port, unknown);

    expect([first, cached]).toEqual([
      { status: 200, accountId: 'acct_1' },
      { status: 200, accountId: 'acct_1' },
    ]);
    expect([firstUnknown.status, cachedUnknown.status]).toEqual([401, 401]);
    // The first of each waits for the store; the cached allow and the remembered unknown key are answered at once.
    expect(endedInTheEvent).toEqual([false, true, false, true]);
    // Counted from each decision, the immediate ones too.
    expect(gateway.metrics.render()).toMatch(/finora_auth_decisions_total\{[^}]*outcome="allowed"[^}]*\} 2\n/);
  });
});
