// Issue 9: targets and headers that real upstreams in other languages read differently from the gateway (JDK, WSGI, Node).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest, RawClient, type RawHeader, type RawResponse } from './support/raw-http';
import { startGateway, type GatewayFixture } from './upstreams/gateway-fixture';
import {
  runsHere,
  startJavaUpstream,
  startNodeUpstream,
  startPythonUpstream,
  type EchoUpstream,
  type NodeEchoUpstream,
} from './upstreams/servers';

/** One request on a fresh connection, target and headers byte for byte. */
function send(port: number, target: string, headers: readonly RawHeader[] = [], method = 'GET'): Promise<RawResponse> {
  return new RawClient(port).send(buildRequest(target, headers, method), { close: true });
}

function expectInvalidRequest(response: RawResponse, target: string): void {
  expect(response.status, target).toBe(400);
  expect(response.headers['content-type'], target).toMatch(/^application\/json/);
  expect(response.headers['cache-control'], target).toBe('no-store');
  expect(JSON.parse(response.body), target).toEqual({ error: { code: 'INVALID_REQUEST', message: expect.any(String) } });
}

const bearer = (key: string): RawHeader => ['Authorization', `Bearer ${key}`];

describe.runIf(runsHere('java', 'javac'))('in front of the JDK\'s com.sun.net.httpserver', () => {
  let java: EchoUpstream;
  let gateway: GatewayFixture;
  beforeAll(async () => {
    java = await startJavaUpstream();
    gateway = await startGateway(java.url);
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await java?.close();
  });

  // Each of these reaches the JDK's /v1/payments context, while the core's reading of the path names no module.
  const routedToPayments = [
    '/v1/payments;x=1',
    '/v1/payments;jsessionid=a/1',
    '//x/v1/payments',
    '//evil/v1/payments/1',
    '//x:1/v1/payments',
    '/v1/payments%3Fx',
    '/v1/%70ayments/%C0%AF',
  ];

  it('routes each of these to its /v1/payments context (the danger, shown on the upstream itself)', async () => {
    for (const target of routedToPayments) {
      const response = await send(java.port, target);
      expect(JSON.parse(response.body).context, target).toBe('/v1/payments');
    }
  });

  it('never receives them from the gateway: a retail key gets 400 INVALID_REQUEST, before the key is looked up', async () => {
    const lookups = gateway.lookups();
    for (const target of routedToPayments) expectInvalidRequest(await send(gateway.port, target, [bearer(gateway.retailKey)]), target);
    expect(gateway.lookups()).toBe(lookups);
  });

  it('still gets plain requests, judged by module, with the identity headers', async () => {
    const invoices = await send(gateway.port, '/v1/invoices/42', [bearer(gateway.retailKey)]);
    expect(invoices.status).toBe(200);
    expect(JSON.parse(invoices.body)).toMatchObject({
      context: '/v1/invoices',
      headers: { 'finora-account-id': 'acme', 'finora-key-id': gateway.retailKeyId, 'finora-module': 'invoices' },
    });
    expect((await send(gateway.port, '/v1/payments', [bearer(gateway.retailKey)])).status).toBe(403);
    const payments = await send(gateway.port, '/v1/payments', [bearer(gateway.enterpriseKey)]);
    expect(JSON.parse(payments.body)).toMatchObject({ context: '/v1/payments', headers: { 'finora-module': 'payments' } });
  });
});

describe.runIf(runsHere('python3'))('in front of a WSGI app on wsgiref', () => {
  let python: EchoUpstream;
  let gateway: GatewayFixture;
  beforeAll(async () => {
    python = await startPythonUpstream();
    gateway = await startGateway(python.url);
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await python?.close();
  });

  it('refuses targets that urlsplit reads an authority from, or that PATH_INFO decodes into /v1/payments', async () => {
    const authority = JSON.parse((await send(python.port, '//x/v1/payments')).body);
    expect(authority.urlsplit).toEqual({ netloc: 'x', path: '/v1/payments' });
    const lenient = JSON.parse((await send(python.port, '/v1/%70ayments/%zz')).body);
    expect(lenient.path_info).toBe('/v1/payments/%zz');
    for (const target of ['//x/v1/payments', '/v1/%70ayments/%zz', '/v1/payments%3Fx']) {
      expectInvalidRequest(await send(gateway.port, target, [bearer(gateway.retailKey)]), target);
    }
  });

  const forged: RawHeader[] = [
    ['Finora_Account_Id', 'someone-else'],
    ['finora_key_id', 'key_forged'],
    ['FINORA_ENVIRONMENT', 'live'],
    ['Finora_Module', 'payments'],
    ['Finora-Scopes', 'write'],
    ['finora_scopes', 'write'],
    ['FINORA-SCOPES', 'payments:write'],
  ];

  it('sees only the gateway\'s identity, whatever spelling of an identity header the client sent', async () => {
    // Sent straight to it, an underscore spelling lands in the same environ key as the real header, first.
    const direct = JSON.parse((await send(python.port, '/v1/invoices', [['Finora_Account_Id', 'forged'], ['Finora-Account-Id', 'acme']])).body);
    expect(direct.finora.HTTP_FINORA_ACCOUNT_ID).toBe('forged,acme');

    const response = await send(gateway.port, '/v1/invoices', [bearer(gateway.retailKey), ...forged]);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).finora).toEqual({
      HTTP_FINORA_ACCOUNT_ID: 'acme',
      HTTP_FINORA_KEY_ID: gateway.retailKeyId,
      HTTP_FINORA_ENVIRONMENT: 'test',
      HTTP_FINORA_MODULE: 'invoices',
    });
  });

  it('sees X-Real-IP set to the client\'s address and no client Forwarded, in any spelling', async () => {
    const response = await send(gateway.port, '/v1/invoices', [
      bearer(gateway.retailKey),
      ['Forwarded', 'for=6.6.6.6'],
      ['X-Real-IP', '6.6.6.6'],
      ['X_Real_IP', '6.6.6.6'],
      ['x_forwarded_for', '6.6.6.6'],
    ]);
    expect(JSON.parse(response.body).forwarding).toEqual({ HTTP_X_FORWARDED_FOR: '127.0.0.1', HTTP_X_REAL_IP: '127.0.0.1' });
  });
});

describe('in front of a Node upstream routing on new URL(req.url, base)', () => {
  let node: NodeEchoUpstream;
  let gateway: GatewayFixture;
  beforeAll(async () => {
    node = await startNodeUpstream();
    gateway = await startGateway(node.url);
  });
  afterAll(async () => {
    await gateway?.close();
    await node?.close();
  });

  it('refuses a leading // (new URL reads an authority) and a backslash (read as /)', async () => {
    await send(node.port, '//evil/v1/payments/1');
    expect(node.seen.at(-1)).toMatchObject({ host: 'evil', route: '/v1/payments/1' });
    await send(node.port, '/v1\\payments');
    expect(node.seen.at(-1)).toMatchObject({ route: '/v1/payments' });
    const seen = node.seen.length;
    for (const target of ['//evil/v1/payments/1', '/v1\\payments', '/v1/%5cpayments']) {
      expectInvalidRequest(await send(gateway.port, target, [bearer(gateway.retailKey)]), target);
    }
    expect(node.seen).toHaveLength(seen);
  });

  it('refuses 1,990 empty headers (431) that would push identity out of the upstream\'s first 2,000 header lines', async () => {
    const flood: RawHeader[] = Array.from({ length: 1_990 }, () => ['x', ''] as const);
    // Straight to the upstream, headers appended after the flood are lost.
    await send(node.port, '/v1/invoices', [...flood, ['Finora-Account-Id', 'acme']]);
    expect(node.seen.at(-1)?.rawHeaders.map((name) => name.toLowerCase())).not.toContain('finora-account-id');
    const seen = node.seen.length;
    const response = await send(gateway.port, '/v1/invoices', [bearer(gateway.retailKey), ...flood]);
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body).error.code).toBe('HEADERS_TOO_LARGE');
    expect(node.seen).toHaveLength(seen);
  });

  it('forwards up to 100 request headers, identity first', async () => {
    // Host and Authorization are two of the 100.
    const many: RawHeader[] = Array.from({ length: 98 }, (_, i) => [`x-${i}`, ''] as const);
    const response = await send(gateway.port, '/v1/invoices', [bearer(gateway.retailKey), ...many]);
    expect(response.status).toBe(200);
    const names = node.seen.at(-1)?.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    // undici adds its own `connection: keep-alive` after Host.
    expect(names?.filter((name) => name !== 'connection').slice(0, 5)).toEqual(['host', 'finora-account-id', 'finora-key-id', 'finora-environment', 'finora-module']);
    expect((await send(gateway.port, '/v1/invoices', [bearer(gateway.retailKey), ...many, ['x-one-too-many', '']])).status).toBe(431);
  });
});
