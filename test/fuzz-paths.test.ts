// Path confusion: no spelling of an enterprise route reaches its handler while judged retail or as no module.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, isEnterpriseModule, MemoryKeyStore, moduleFromPath } from '@finora-auth/core';
import { adapterMiddleware, FRAMEWORKS, startApp, type RunningApp } from './support/fuzz-apps';
import { buildRequest, RawClient } from '../packages/gateway/test/support/raw-http';
import { adapterPathCampaign, gatewayPathCampaign, KNOWN_SPELLINGS, routingCampaign } from './support/fuzz-path-campaign';
import { buildWorld } from './support/fuzz-world';

const RUNS = 600;

describe.each(FRAMEWORKS)('moduleFromPath against %s routing (no middleware)', (framework) => {
  let app: RunningApp;
  let client: RawClient;
  beforeAll(async () => {
    app = await startApp(framework);
    client = new RawClient(app.port);
  });
  afterAll(async () => {
    client.close();
    await app.close();
  });

  // These reach an enterprise handler in Express and Koa (the router neither resolves dot segments nor reads %2F
  // as a separator): a moduleFromPath that only resolved `..` judged the retail module after it.
  it.each(KNOWN_SPELLINGS)('judges %s as enterprise whenever the framework routes it to an enterprise handler', async (path) => {
    const response = await client.send(buildRequest(path, []));
    const answer = response.status === 200 ? (JSON.parse(response.body) as { route: string; routingPath: string }) : undefined;
    if (answer && isEnterpriseModule(answer.route)) {
      expect(moduleFromPath(answer.routingPath), `${framework} ran the ${answer.route} handler`).toBe(answer.route);
    }
  });

  it('judges every fuzzed spelling that reaches an enterprise handler as an enterprise module', async () => {
    const result = await routingCampaign(framework, { runs: RUNS });
    expect(result.findings, `seed ${result.seed}`).toEqual([]);
    expect(result.tally['enterprise handler'] ?? 0).toBeGreaterThan(0);
  });
});

describe.each(FRAMEWORKS)('the adapter on %s, module derived from the path', (framework) => {
  it('never lets a retail key reach an enterprise handler, and judges every request that reaches one as enterprise', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const authenticator = createAuthenticator({ store, now: world.now });
    const result = await adapterPathCampaign(framework, {
      runs: RUNS,
      middleware: adapterMiddleware(framework, authenticator),
      retailKey: world.key('live-retail').apiKey,
      enterpriseKey: world.key('live-enterprise').apiKey,
    });
    await authenticator.close();
    expect(result.findings, `seed ${result.seed}`).toEqual([]);
    expect(result.tally['enterprise: enterprise handler'] ?? 0).toBeGreaterThan(0);
  });
});

describe.each(['express5', 'koa3', 'hono'] as const)('the gateway in front of a %s upstream', (upstream) => {
  it('never lets a retail key reach an enterprise handler upstream, and forwards every request that reaches one as enterprise', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const result = await gatewayPathCampaign(upstream, {
      runs: RUNS,
      store,
      now: world.now,
      retailKey: world.key('live-retail').apiKey,
      enterpriseKey: world.key('live-enterprise').apiKey,
    });
    expect(result.findings, `seed ${result.seed}`).toEqual([]);
    expect(result.tally['enterprise: enterprise handler'] ?? 0).toBeGreaterThan(0);
  });
});
