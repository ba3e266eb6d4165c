// finoraAuth mounted below a prefix, every way each framework allows: the module is still read from the path.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture } from './support/adapters-fixture';
import { send, type Hit } from './support/adapters';
import { MOUNT_CASES, serveListener } from './support/adapters-mounts';

let fx: Fixture;
let retail: string;
let enterprise: string;

beforeAll(async () => {
  fx = await createFixture();
  // One provisioned account: only the key's surface differs between the two.
  const issued = await fx.issue({ enterprise: true, surface: 'enterprise' });
  enterprise = `Bearer ${issued.apiKey}`;
  retail = `Bearer ${(await fx.manager.issue({ accountId: issued.key.accountId, environment: 'live' })).apiKey}`;
});
afterAll(() => fx.close());

describe.each(MOUNT_CASES)('$adapters.0: $name', (mountCase) => {
  it('refuses a retail key on every path to an enterprise handler, allows an enterprise key there as payments', async () => {
    const hits: Hit[] = [];
    const app = await serveListener(mountCase.build(fx.authenticator, hits), hits);
    try {
      for (const path of mountCase.enterprise) {
        const refused = await send(app.origin, path, { Authorization: retail });
        expect(refused.status, `${path} with a retail key`).toBe(403);
        expect(JSON.parse(refused.text).error.code).toBe('ENTERPRISE_ONLY');
        expect(hits).toEqual([]);

        const allowed = await send(app.origin, path, { Authorization: enterprise });
        expect(allowed.status, `${path} with an enterprise key: ${allowed.text}`).toBe(200);
        const hit = JSON.parse(allowed.text) as Hit;
        expect(hit.route).toMatch(/^\/payments/);
        expect(hit.auth?.module).toBe('payments');
        hits.length = 0;
      }
      for (const path of mountCase.retail) {
        const allowed = await send(app.origin, path, { Authorization: retail });
        expect(allowed.status, `${path} with a retail key: ${allowed.text}`).toBe(200);
        const hit = JSON.parse(allowed.text) as Hit;
        expect(hit.route).toMatch(/^\/invoices/);
        expect(hit.auth?.module).toBe('invoices');
      }
    } finally {
      await app.close();
    }
  });
});
