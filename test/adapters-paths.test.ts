// No spelling of a path reaches an enterprise route's handler while judged as retail or as no module, on any adapter.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture } from './support/adapters-fixture';
import { HARNESSES, isEnterpriseRoute, send, type Hit, type Served } from './support/adapters';

/**
 * Spellings of `/payments` (and of paths that leave it) that some framework, router or URL parser might route
 * to an enterprise handler. Node's client sends each as written.
 */
const SPELLINGS = [
  '/payments', '/payments/1', '/PAYMENTS', '/Payments', '/pAyMeNtS/1', '/%70ayments', '/%2570ayments', '/%50AYMENTS',
  '/pay%6dents', '/pay%6Dents/1', '//payments', '///payments/1', '/./payments', '/x/../payments', '/%2e%2e/payments',
  '/x/%2e%2e/payments', '/x/%2E%2E/payments', '/payments/', '/payments//', '/payments/1/', '/v1/payments', '/V1/payments',
  '/v1//payments', '/v1/./payments', '/v1/PAYMENTS/1', '/v01/payments', '/v1/../payments', '/v1/x/../payments',
  '/\\payments', '/%5Cpayments', '/%5cpayments/1', '/payments;x', '/payments%20', '/payments.json', '/payments?x=1',
  '/payments/1?module=invoices', '/x/..%2fpayments', '/%2Fpayments', '/payments%2F', '/payments%2f1',
  'http://finora.test/payments', 'http://finora.test/v1/payments/1',
  // Paths whose dot segments leave /payments: a catch-all route below /payments still receives them.
  '/payments/../invoices', '/payments/..%2finvoices', '/payments/%2e%2e/invoices', '/payments/..%5cinvoices',
  '/payments/x/../../invoices', '/payments/.%2e/invoices', '/v1/payments/../../invoices', '/payments/..',
  '/payments/%2e%2e', '/PAYMENTS/../invoices', '/payments/..;/invoices', '/payments/%2e%2e%2finvoices',
  '/v1/payments/..%2F..%2Finvoices', '/payments\\..\\invoices',
];

/**
 * The spellings each framework routes to an enterprise handler (Express and Koa: case-insensitive, no decoding,
 * no dot-segment resolution; Hono: case-sensitive, percent-decoded, dot segments resolved by the URL parser).
 * Checked so the safety test above can never pass by reaching nothing.
 */
const EXPRESS_AND_KOA = [
  '/payments', '/payments/1', '/PAYMENTS', '/Payments', '/pAyMeNtS/1', '/payments/', '/payments//',
  '/payments/1/', '/v1/payments', '/V1/payments', '/v1/PAYMENTS/1', '/payments?x=1',
  '/payments/1?module=invoices', 'http://finora.test/payments', 'http://finora.test/v1/payments/1',
  '/payments/../invoices', '/payments/..%2finvoices', '/payments/%2e%2e/invoices', '/payments/..%5cinvoices',
  '/payments/x/../../invoices', '/payments/.%2e/invoices', '/v1/payments/../../invoices', '/payments/..',
  '/payments/%2e%2e', '/PAYMENTS/../invoices', '/payments/..;/invoices', '/payments/%2e%2e%2finvoices',
  '/v1/payments/..%2F..%2Finvoices',
];
/**
 * Fastify (find-my-way): case-sensitive, percent-decoded, dot segments not resolved, so Hono's decoded spellings
 * and Express's catch-all dot segments; v4 also cuts the path at `;` (useSemicolonDelimiter, off by default on v5).
 */
const FASTIFY5 = [
  '/payments', '/payments/1', '/%70ayments', '/pay%6dents', '/pay%6Dents/1', '/payments/', '/payments//',
  '/payments/1/', '/v1/payments', '/payments?x=1', '/payments/1?module=invoices', 'http://finora.test/payments',
  'http://finora.test/v1/payments/1', '/payments/../invoices', '/payments/..%2finvoices',
  '/payments/%2e%2e/invoices', '/payments/..%5cinvoices', '/payments/x/../../invoices', '/payments/.%2e/invoices',
  '/v1/payments/../../invoices', '/payments/..', '/payments/%2e%2e', '/payments/..;/invoices',
  '/payments/%2e%2e%2finvoices', '/v1/payments/..%2F..%2Finvoices',
];
const FASTIFY4 = [...FASTIFY5.slice(0, 9), '/payments;x', ...FASTIFY5.slice(9)];
const REACHES: Record<'express' | 'koa' | 'hono' | 'fastify', string[]> = {
  fastify: FASTIFY5,
  express: EXPRESS_AND_KOA,
  koa: EXPRESS_AND_KOA,
  hono: [
    '/payments', '/payments/1', '/%70ayments', '/pay%6dents', '/pay%6Dents/1', '/./payments', '/x/../payments',
    '/%2e%2e/payments', '/x/%2e%2e/payments', '/x/%2E%2E/payments', '/payments/', '/payments//', '/payments/1/',
    '/v1/payments', '/v1/./payments', '/v1/../payments', '/v1/x/../payments', '/payments?x=1',
    '/payments/1?module=invoices', 'http://finora.test/payments', 'http://finora.test/v1/payments/1',
    '/payments/..%2finvoices', '/payments/..%5cinvoices', '/payments/..;/invoices', '/payments/%2e%2e%2finvoices',
    '/v1/payments/..%2F..%2Finvoices',
  ],
};

describe.each(HARNESSES)('$name', (harness) => {
  let fx: Fixture;
  let app: Served;
  let retail: string;
  let enterprise: string;

  beforeAll(async () => {
    fx = await createFixture();
    app = await harness.serve({ auth: { authenticator: fx.authenticator } });
    // Same provisioned account: only the key's surface differs, so any 200 from an enterprise route is a leak.
    const issued = await fx.issue({ enterprise: true, surface: 'enterprise' });
    enterprise = `Bearer ${issued.apiKey}`;
    retail = `Bearer ${(await fx.manager.issue({ accountId: issued.key.accountId, environment: 'live' })).apiKey}`;
  });
  afterAll(async () => {
    await app.close();
    await fx.close();
  });

  it('no spelling reaches an enterprise handler with a retail key, or is judged as anything but payments there', async () => {
    const reached: string[] = [];
    for (const path of SPELLINGS) {
      const asRetail = await send(app.origin, path, { Authorization: retail });
      if (asRetail.status === 200) {
        const hit = JSON.parse(asRetail.text) as Hit;
        expect(isEnterpriseRoute(hit.route), `${path} reached ${hit.route} with a retail key`).toBe(false);
      }
      const asEnterprise = await send(app.origin, path, { Authorization: enterprise });
      if (asEnterprise.status === 200) {
        const hit = JSON.parse(asEnterprise.text) as Hit;
        if (isEnterpriseRoute(hit.route)) {
          expect(hit.auth?.module, `${path} reached ${hit.route}`).toBe('payments');
          reached.push(path);
        }
      }
    }
    expect(reached).toEqual(harness.name === 'fastify4' ? FASTIFY4 : REACHES[harness.framework]);
  });
});
