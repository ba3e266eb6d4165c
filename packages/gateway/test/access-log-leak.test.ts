// The access log marks a probable leak (a live key sent with Origin, so a browser holds it) in every mode, so an
// operator can tell which key to rotate; a test key, or a live key without Origin, is not marked.

import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayFixture } from './upstreams/gateway-fixture';
import { eventually } from '@finora-auth/core/testing';

let upstream: Server;
let upstreamUrl = '';
beforeAll(async () => {
  upstream = createServer((_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
});
afterAll(() => new Promise((resolve) => upstream.close(resolve)));

describe.each(['demo', 'proxy', 'forward-auth'] as const)('access log in %s mode', (mode) => {
  let gateway: GatewayFixture;
  let liveKey = '';
  let liveKeyId = '';
  beforeAll(async () => {
    gateway = await startGateway(mode === 'proxy' ? upstreamUrl : undefined, mode === 'forward-auth' ? { forwardAuth: true } : {});
    const issued = await gateway.manager.issue({ accountId: 'acme', environment: 'live', name: 'storefront' });
    liveKey = issued.apiKey;
    liveKeyId = issued.key.id;
  });
  afterAll(async () => {
    await gateway?.close();
  });

  async function send(key: string, origin?: string): Promise<void> {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (origin !== undefined) headers.origin = origin;
    const before = gateway.lines.length;
    const response = await fetch(`${gateway.url}/v1/invoices`, { headers });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    await eventually(async () => gateway.lines.length > before, 2_000);
  }

  it('says probableLeak: true with the key id for a live key sent from a browser', async () => {
    await send(liveKey, 'https://shop.example');
    const line = gateway.lines.at(-1);
    expect(line).toMatchObject({ probableLeak: true, keyId: liveKeyId, environment: 'live', status: 200 });
  });

  it('leaves the field out for a live key without Origin and for a test key with one', async () => {
    await send(liveKey);
    expect(gateway.lines.at(-1)).not.toHaveProperty('probableLeak');
    await send(gateway.retailKey, 'https://shop.example');
    expect(gateway.lines.at(-1)).toMatchObject({ environment: 'test' });
    expect(gateway.lines.at(-1)).not.toHaveProperty('probableLeak');
  });
});
