// A live key from a browser (an Origin header) is answered normally but reported through onDecision as a probable leak.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, MemoryKeyStore, type DecisionEvent } from '@finora-auth/core';
import { createGateway } from '@finora-auth/gateway';
import { adapterMiddleware, FRAMEWORKS, startApp } from './support/fuzz-apps';
import { buildRequest, RawClient, type RawHeader } from '../packages/gateway/test/support/raw-http';
import { buildWorld, type World } from './support/fuzz-world';

interface Case {
  name: string;
  key: string;
  origin?: string;
  status: number;
  leak: boolean;
}

const CASES: Case[] = [
  { name: 'a live key with an Origin', key: 'live-retail', origin: 'https://shop.example', status: 200, leak: true },
  { name: 'a live key from an opaque origin (Origin: null)', key: 'live-enterprise', origin: 'null', status: 200, leak: true },
  { name: 'a live key near expiry with an Origin', key: 'expiring', origin: 'http://localhost:3000', status: 200, leak: true },
  { name: 'a test key with an Origin', key: 'test-retail', origin: 'https://shop.example', status: 200, leak: false },
  { name: 'a live key without an Origin', key: 'live-retail', status: 200, leak: false },
  { name: 'a revoked live key with an Origin (refused, still reported)', key: 'revoked', origin: 'https://shop.example', status: 401, leak: true },
  { name: 'a live key of a free account with an Origin (refused, still reported)', key: 'free', origin: 'https://x.example', status: 403, leak: true },
];

let world: World;
let store: MemoryKeyStore;
beforeAll(async () => {
  store = new MemoryKeyStore();
  world = await buildWorld(store);
});

function headersFor(testCase: Case): RawHeader[] {
  const headers: RawHeader[] = [['Authorization', `Bearer ${world.key(testCase.key).apiKey}`]];
  if (testCase.origin !== undefined) headers.push(['Origin', testCase.origin]);
  return headers;
}

describe.each(FRAMEWORKS)('the %s adapter', (framework) => {
  const events: DecisionEvent[] = [];
  let close: () => Promise<void>;
  let client: RawClient;

  beforeAll(async () => {
    const authenticator = createAuthenticator({ store, now: world.now, onDecision: (e) => events.push(e) });
    const app = await startApp(framework, { middleware: adapterMiddleware(framework, authenticator) });
    client = new RawClient(app.port);
    close = async () => {
      client.close();
      await app.close();
      await authenticator.close();
    };
  });
  afterAll(() => close());

  it.each(CASES)('$name: answered $status, probableLeak $leak', async (testCase) => {
    const response = await client.send(buildRequest('/v1/invoices/1', headersFor(testCase)));
    expect(response.status).toBe(testCase.status);
    const event = events.at(-1);
    expect(event?.keyId).toBe(world.key(testCase.key).keyId);
    expect(event?.probableLeak ?? false).toBe(testCase.leak);
  });
});

describe('the gateway', () => {
  const events: DecisionEvent[] = [];
  let client: RawClient;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const gateway = createGateway({ store, accessLog: false, authenticator: { now: world.now, onDecision: (e) => events.push(e) } });
    const address = await gateway.listen(0, '127.0.0.1');
    client = new RawClient(address.port);
    close = async () => {
      client.close();
      await gateway.close();
    };
  });
  afterAll(() => close());

  it.each(CASES)('$name: answered $status, probableLeak $leak', async (testCase) => {
    const response = await client.send(buildRequest('/v1/invoices/1', headersFor(testCase)));
    expect(response.status).toBe(testCase.status);
    const event = events.at(-1);
    expect(event?.keyId).toBe(world.key(testCase.key).keyId);
    expect(event?.probableLeak ?? false).toBe(testCase.leak);
  });
});
