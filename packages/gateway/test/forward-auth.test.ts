// The forward-auth endpoint against the exact request shapes Traefik's forwardAuth and Envoy's ext_authz send.

import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, createKeyManager, MemoryKeyStore, type DecisionEvent } from '@finora-auth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardAuth } from '../src/forward-auth';
import { send, type Reply } from './support/forward-proxy';

let origin = '';
let server: Server;
const decisions: DecisionEvent[] = [];
const keys = { retail: '', enterprise: '', enterpriseId: '' };

beforeAll(async () => {
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: 'acme', tier: 'premium', enterprise: true });
  keys.retail = (await manager.issue({ accountId: 'acme', environment: 'test' })).apiKey;
  const enterprise = await manager.issue({ accountId: 'acme', environment: 'live', surface: 'enterprise' });
  keys.enterprise = enterprise.apiKey;
  keys.enterpriseId = enterprise.key.id;
  const authenticator = createAuthenticator({ store, onDecision: (event) => decisions.push(event) });
  server = createServer((req, res) => {
    void forwardAuth(authenticator, req).then((answer) => res.writeHead(answer.status, answer.headers).end(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** What Traefik's forwardAuth sends: GET to the address, the client's headers, and the X-Forwarded-* it sets. */
function traefik(method: string, uri: string, authorization: string | undefined): Promise<Reply> {
  return send(origin, '/', {
    ...(authorization ? { authorization } : {}),
    'user-agent': 'client/1.0',
    accept: 'application/json',
    'x-forwarded-method': method,
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-uri': uri,
    'x-forwarded-for': '203.0.113.9',
  });
}

/** What Envoy's ext_authz HTTP service sends: the client's method and path, Host, the allowed headers, no body. */
function envoy(method: string, path: string, authorization: string | undefined): Promise<Reply> {
  return send(
    origin,
    path,
    {
      ...(authorization ? { authorization } : {}),
      host: 'api.example.com',
      'content-length': '0',
      'x-envoy-expected-rq-timeout-ms': '3000',
      'x-envoy-internal': 'true',
      'x-forwarded-proto': 'https',
      'x-request-id': '5f3c1a62-8d2e-4b7a-9d70-0c6d0d3e6f11',
    },
    method,
  );
}

const bearer = (key: string) => `Bearer ${key}`;

function expectAllowed(reply: Reply, module: string) {
  expect(reply.status).toBe(200);
  expect(reply.text).toBe('');
  expect(reply.headers['finora-account-id']).toBe('acme');
  expect(reply.headers['finora-key-id']).toBe(keys.enterpriseId);
  expect(reply.headers['finora-environment']).toBe('live');
  expect(reply.headers['finora-module']).toBe(module);
  expect(reply.headers['finora-scopes']).toBe('write');
}

describe('Traefik forwardAuth', () => {
  it('judges the described method and target: 200, empty body, identity headers', async () => {
    decisions.length = 0;
    expectAllowed(await traefik('POST', '/v1/payments?page=2', bearer(keys.enterprise)), 'payments');
    expect(decisions.map((event) => [event.method, event.module])).toEqual([['POST', 'payments']]);
  });

  it('refuses with the core’s status, challenge and JSON body', async () => {
    const refused = await traefik('GET', '/v1/payments', bearer(keys.retail));
    expect(refused.status).toBe(403);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="finora", error="insufficient_scope"');
    expect(refused.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(refused.text).error.code).toBe('ENTERPRISE_ONLY');
    const missing = await traefik('GET', '/v1/invoices', undefined);
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.text).error.code).toBe('MISSING_API_KEY');
  });

  it('refuses with 400 INVALID_REQUEST a described target that upstreams route differently', async () => {
    for (const uri of ['/v1/payments;x=1', '//payments', '/v1/%2e%2e/payments', '/v1\\payments', '/v1%2fpayments']) {
      const reply = await traefik('GET', uri, bearer(keys.enterprise));
      expect({ uri, status: reply.status }).toEqual({ uri, status: 400 });
      expect(JSON.parse(reply.text).error.code).toBe('INVALID_REQUEST');
    }
  });

  it('answers Finora-Module empty for a target with no module', async () => {
    const reply = await traefik('GET', '/', bearer(keys.enterprise));
    expect(reply.status).toBe(200);
    expect(reply.headers['finora-module']).toBe('');
  });
});

describe('Envoy ext_authz (HTTP service)', () => {
  it('judges the request’s own method and path', async () => {
    decisions.length = 0;
    expectAllowed(await envoy('DELETE', '/v1/payments/42', bearer(keys.enterprise)), 'payments');
    expect(decisions.map((event) => [event.method, event.module])).toEqual([['DELETE', 'payments']]);
    const refused = await envoy('GET', '/v1/payments/42', bearer(keys.retail));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error.code).toBe('ENTERPRISE_ONLY');
  });

  it('refuses with 400 a path upstreams route differently', async () => {
    const reply = await envoy('GET', '/v1/%2E%2E/payments', bearer(keys.enterprise));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).error.code).toBe('INVALID_REQUEST');
  });
});

describe('which headers describe the request', () => {
  it('takes X-Forwarded-* over X-Original-*, and X-Original-* over the request’s own', async () => {
    const both = await send(origin, '/v1/invoices', {
      authorization: bearer(keys.retail),
      'x-forwarded-method': 'GET',
      'x-forwarded-uri': '/v1/payments',
      'x-original-method': 'GET',
      'x-original-uri': '/v1/invoices',
    });
    expect(both.status).toBe(403);
    const original = await send(origin, '/v1/invoices', {
      authorization: bearer(keys.retail),
      'x-original-method': 'GET',
      'x-original-uri': '/v1/payments',
    });
    expect(original.status).toBe(403);
  });

  it('refuses a half pair or a repeated header with 400, never falling back to the asking request', async () => {
    const half = await send(origin, '/v1/invoices', { authorization: bearer(keys.retail), 'x-original-uri': '/v1/payments' });
    expect(half.status).toBe(400);
    expect(JSON.parse(half.text).error.code).toBe('INVALID_REQUEST');
    const methodOnly = await send(origin, '/v1/invoices', { authorization: bearer(keys.retail), 'x-forwarded-method': 'GET' });
    expect(methodOnly.status).toBe(400);
    // Two X-Forwarded-Uri lines, sent as two (a raw header list keeps them apart).
    const twice = await new Promise<number>((resolve, reject) => {
      const headers = ['authorization', bearer(keys.retail), 'x-forwarded-method', 'GET', 'x-forwarded-uri', '/v1/invoices', 'x-forwarded-uri', '/v1/payments'];
      const req = request(`${origin}/v1/invoices`, { headers, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on('error', reject);
      req.end();
    });
    expect(twice).toBe(400);
  });

  it('refuses a described method that is not an HTTP method', async () => {
    const reply = await send(origin, '/', { authorization: bearer(keys.enterprise), 'x-forwarded-method': 'GET /x', 'x-forwarded-uri': '/v1/invoices' });
    expect(reply.status).toBe(400);
  });
});
