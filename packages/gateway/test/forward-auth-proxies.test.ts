// The full chain client -> nginx / Caddy (the shipped configurations) -> finora-auth forward auth -> a real API.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, createKeyManager, MemoryKeyStore, isEnterpriseModule, moduleFromPath, renderFailure, type AuthErrorCode, type Authenticator, type AuthResult, type DecisionEvent, type KeyStore } from '@finora-auth/core';
import { tapStore, type TappedStore } from '@finora-auth/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardAuth } from '../src/forward-auth';
import { startUpstream, type Upstream } from './support';
import { caddyMissing, startCaddy } from './support/caddy';
import { freePort } from '../../redis/test/redis-server';
import { send } from './support/forward-proxy';
import { nginxMissing, startNginx } from './support/nginx';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** Enterprise routes spelled every way a client might: each must be refused or judged as the API routes it. */
const SPELLINGS = [
  '/payments',
  '/v1/payments',
  '/PAYMENTS',
  '/V1/Payments',
  '/%70ayments',
  '/v1/%70ayments',
  '//payments',
  '/v1//payments',
  '/x/../payments',
  '/v1/./payments',
  '/invoices/../payments',
  '/v1/invoices/%2e%2e/payments',
  '/v1%2fpayments',
  '/payments;jsessionid=1',
  '/v1/payments%2f',
  '/v1/pay%6dents/x',
  '/%2e/payments',
  '/payments%3f',
  '/v1\\payments',
  '/payments/../invoices',
  '/v1/payments/..%2finvoices',
];

/** The strictest reading an API might make of a path: decoded, dot segments resolved, empty segments gone. */
function routedModule(url: string): string | undefined {
  let path = url.split('?', 1)[0] as string;
  for (let round = 0; round < 3; round++) {
    try {
      path = decodeURIComponent(path);
    } catch {
      break;
    }
  }
  const segments: string[] = [];
  for (const segment of path.replaceAll('\\', '/').split(/[/;]/)) {
    if (segment === '..') segments.pop();
    else if (segment !== '.' && segment !== '') segments.push(segment);
  }
  return moduleFromPath(`/${segments.join('/')}`.toLowerCase());
}

/** finora-auth's forward-auth answer in-process on a store the test controls. */
async function startFinora(store: KeyStore, decisions: DecisionEvent[]) {
  const authenticator = createAuthenticator({ store, onDecision: (event) => decisions.push(event) });
  const server: Server = createServer((req, res) => {
    void forwardAuth(authenticator, req).then((answer) => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await authenticator.close();
    },
  };
}

const PROXIES = [
  { name: 'nginx', missing: nginxMissing(), start: startNginx },
  { name: 'Caddy', missing: caddyMissing(), start: startCaddy },
] as const;

for (const proxy of PROXIES) {
  describe.skipIf(proxy.missing !== undefined)(`forward auth behind ${proxy.name}${proxy.missing ? ` (skipped: ${proxy.missing})` : ''}`, () => {
    const seen: Seen[] = [];
    const decisions: DecisionEvent[] = [];
    // A store the test can take down: every lookup fails while `failing` is set.
    let store: TappedStore<MemoryKeyStore>;
    let manager: ReturnType<typeof createKeyManager>;
    let api: Upstream;
    let finora: Awaited<ReturnType<typeof startFinora>>;
    let running: { url: string; stop(): Promise<void> };
    const keys = { retail: '', enterprise: '', retailId: '' };

    beforeAll(async () => {
      store = tapStore(new MemoryKeyStore());
      manager = createKeyManager({ store });
      await manager.putAccount({ id: 'acme', tier: 'premium', enterprise: true });
      const retail = await manager.issue({ accountId: 'acme', environment: 'test' });
      keys.retail = retail.apiKey;
      keys.retailId = retail.key.id;
      keys.enterprise = (await manager.issue({ accountId: 'acme', environment: 'live', surface: 'enterprise' })).apiKey;
      api = await startUpstream((req, res) => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`api saw ${req.url}`);
      });
      finora = await startFinora(store, decisions);
      running = await proxy.start({ listen: `127.0.0.1:${await freePort()}`, finora: finora.address, upstream: api.url.slice('http://'.length) });
    }, 30_000);

    afterAll(async () => {
      await running?.stop();
      await finora?.close();
      await api?.close();
    });

    const origin = () => running.url;
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

    it('passes an allowed request to the API with the identity headers, without the key or the client’s forged identity', async () => {
      seen.length = 0;
      const reply = await send(origin(), '/v1/invoices?page=2', {
        ...bearer(keys.retail),
        'finora-account-id': 'forged',
        'finora-module': 'payments',
        'finora-scopes': 'write',
      });
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('api saw /v1/invoices?page=2');
      expect(seen).toHaveLength(1);
      const headers = seen[0]!.headers;
      expect(headers['finora-account-id']).toBe('acme');
      expect(headers['finora-key-id']).toBe(keys.retailId);
      expect(headers['finora-environment']).toBe('test');
      expect(headers['finora-module']).toBe('invoices');
      expect(headers['finora-scopes']).toBe('write');
      expect(headers.authorization).toBeUndefined();
    });

    it('sends no Finora-Module for a request with no module, even when the client sent one', async () => {
      seen.length = 0;
      const reply = await send(origin(), '/', { ...bearer(keys.retail), 'finora-module': 'payments' });
      expect(reply.status).toBe(200);
      expect(seen[0]!.headers['finora-module']).toBeUndefined();
    });

    it('answers 401 with the core’s challenge and JSON body, and never reaches the API', async () => {
      seen.length = 0;
      const missing = await send(origin(), '/v1/invoices');
      expect(missing.status).toBe(401);
      expect(missing.headers['www-authenticate']).toBe('Bearer realm="finora"');
      expect(JSON.parse(missing.text).error.code).toBe('MISSING_API_KEY');
      const invalid = await send(origin(), '/v1/invoices', { authorization: 'Bearer nope' });
      expect(invalid.status).toBe(401);
      expect(invalid.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(JSON.parse(invalid.text).error.code).toBe('INVALID_API_KEY');
      expect(seen).toHaveLength(0);
    });

    it('answers 403 ENTERPRISE_ONLY with its JSON body to a retail key on an enterprise module', async () => {
      seen.length = 0;
      const enterprise = await send(origin(), '/v1/payments', bearer(keys.retail));
      expect(enterprise.status).toBe(403);
      expect(enterprise.headers['www-authenticate']).toBe('Bearer realm="finora", error="insufficient_scope"');
      expect(JSON.parse(enterprise.text).error.code).toBe('ENTERPRISE_ONLY');
      expect(seen).toHaveLength(0);
    });

    it('ignores describing headers a client forges', async () => {
      seen.length = 0;
      const forged = {
        ...bearer(keys.retail),
        'x-forwarded-method': 'GET',
        'x-forwarded-uri': '/v1/invoices',
        'x-original-method': 'GET',
        'x-original-uri': '/v1/invoices',
      };
      const reply = await send(origin(), '/v1/payments', forged, 'POST');
      expect(reply.status).toBe(403);
      expect(JSON.parse(reply.text).error.code).toBe('ENTERPRISE_ONLY');
      expect(seen).toHaveLength(0);
    });

    it('answers 403 INSUFFICIENT_SCOPE to a read-only key writing, and lets it read', async () => {
      const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'test', scopes: ['read'] });
      seen.length = 0;
      const write = await send(origin(), '/v1/invoices', bearer(apiKey), 'POST');
      expect(write.status).toBe(403);
      expect(JSON.parse(write.text).error.code).toBe('INSUFFICIENT_SCOPE');
      const read = await send(origin(), '/v1/invoices', bearer(apiKey), 'GET');
      expect(read.status).toBe(200);
      expect(seen.map((request) => [request.method, request.headers['finora-scopes']])).toEqual([['GET', 'read']]);
    });

    it('judges the client’s method, not the one the proxy asks with', async () => {
      decisions.length = 0;
      const reply = await send(origin(), '/v1/invoices', bearer(keys.retail), 'DELETE');
      expect(reply.status).toBe(200);
      expect(decisions.map((event) => event.method)).toEqual(['DELETE']);
    });

    it('judges every spelling of an enterprise route as the API routes it, or refuses it', async () => {
      seen.length = 0;
      const findings: string[] = [];
      for (const spelling of SPELLINGS) {
        const before = seen.length;
        const reply = await send(origin(), spelling, bearer(keys.retail));
        const reached = seen.slice(before);
        for (const request of reached) {
          const routed = routedModule(request.url);
          if (routed !== undefined && isEnterpriseModule(routed)) {
            findings.push(`${spelling}: the API got ${request.url} (routes to ${routed}) for a retail key`);
          }
        }
        if (reached.length === 0 && ![400, 403, 404].includes(reply.status)) {
          findings.push(`${spelling}: ${reply.status} without reaching the API`);
        }
      }
      expect(findings).toEqual([]);
      // The enterprise key still gets through where the spelling is plain.
      const allowed = await send(origin(), '/v1/payments', bearer(keys.enterprise));
      expect(allowed.status).toBe(200);
    });

    it('answers 503 AUTH_UNAVAILABLE with Retry-After and its JSON body while the store is down', async () => {
      seen.length = 0;
      const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'test' });
      store.failing = true;
      try {
        const reply = await send(origin(), '/v1/invoices', bearer(apiKey));
        expect(reply.status).toBe(503);
        expect(reply.headers['retry-after']).toBe('1');
        expect(JSON.parse(reply.text).error.code).toBe('AUTH_UNAVAILABLE');
      } finally {
        store.failing = false;
      }
      expect(seen).toHaveLength(0);
    });

    it('sees a revocation at once on the same store', async () => {
      const { apiKey, key } = await manager.issue({ accountId: 'acme', environment: 'test' });
      expect((await send(origin(), '/v1/invoices', bearer(apiKey))).status).toBe(200);
      await manager.revoke(key.id);
      const after = await send(origin(), '/v1/invoices', bearer(apiKey));
      expect(after.status).toBe(401);
      expect(JSON.parse(after.text).error.code).toBe('INVALID_API_KEY');
    });
  });
}

/** An authenticator that refuses with the code a test names in the header, to see each status through a proxy. */
function refusingAuthenticator(): Authenticator {
  return {
    async authenticate(request) {
      const code = /^Bearer refuse-([A-Z_]+)$/.exec(request.authorization ?? '')?.[1] as AuthErrorCode;
      const failure = renderFailure(code, `refused as asked: ${code}`);
      const error = code === 'RATE_LIMITED' ? { ...failure, headers: { ...failure.headers, 'Retry-After': '7' } } : failure;
      return { ok: false, error } as AuthResult;
    },
    close: async () => undefined,
  };
}

for (const proxy of PROXIES) {
  describe.skipIf(proxy.missing !== undefined)(`every refusal through ${proxy.name}`, () => {
    let finora: Server;
    let running: { url: string; stop(): Promise<void> };
    beforeAll(async () => {
      const authenticator = refusingAuthenticator();
      finora = createServer((req, res) => {
        void forwardAuth(authenticator, req).then((answer) => res.writeHead(answer.status, answer.headers).end(answer.body));
      });
      await new Promise<void>((resolve) => finora.listen(0, '127.0.0.1', resolve));
      const api = `127.0.0.1:${await freePort()}`; // never reached: every request is refused
      running = await proxy.start({ listen: `127.0.0.1:${await freePort()}`, finora: `127.0.0.1:${(finora.address() as AddressInfo).port}`, upstream: api });
    }, 30_000);
    afterAll(async () => {
      await running?.stop();
      finora?.closeAllConnections();
      await new Promise((resolve) => finora?.close(resolve));
    });

    it.each([
      ['INVALID_API_KEY', 401],
      ['ENTERPRISE_ONLY', 403],
      ['CREDITS_EXHAUSTED', 402],
      ['RATE_LIMITED', 429],
      ['AUTH_UNAVAILABLE', 503],
    ] as const)('shows %s as %i with the JSON body', async (code, status) => {
      const reply = await send(running.url, '/v1/invoices', { authorization: `Bearer refuse-${code}` });
      expect(reply.status).toBe(status);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(reply.text)).toEqual({ error: { code, message: `refused as asked: ${code}` } });
      if (code === 'RATE_LIMITED') expect(reply.headers['retry-after']).toBe('7');
      if (code === 'AUTH_UNAVAILABLE') expect(reply.headers['retry-after']).toBe('1');
    });

    it('shows INVALID_REQUEST as 400 with the JSON body', async () => {
      const reply = await send(running.url, '/v1/payments;x=1', { authorization: 'Bearer refuse-ENTERPRISE_ONLY' });
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.text).error.code).toBe('INVALID_REQUEST');
    });
  });
}
