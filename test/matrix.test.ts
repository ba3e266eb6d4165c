// The decision table over every entry point and every store: the same rows, the same expected answers, wherever a key is judged.
//
// What runs where (rows: test/support/matrix-scenarios.ts; "all": every row, "smoke": the SMOKE rows):
//
//   entry point \ store     memory   sqlite   redis   postgres   http
//   express5                all      smoke    smoke   smoke      smoke
//   express4                all      smoke    smoke   smoke      smoke
//   koa3                    all      smoke    smoke   smoke      smoke
//   koa2                    all      smoke    smoke   smoke      smoke
//   hono                    all      all      all     all        all
//   fastify5                all      smoke    smoke   smoke      smoke
//   fastify4                all      smoke    smoke   smoke      smoke
//   gateway proxy           all      smoke    smoke   smoke      smoke
//   gateway forward-auth    all      smoke    smoke   smoke      smoke
//
// So every row runs on every entry point (over memory) and on every store (through Hono), and each pair runs the
// smoke rows. Redis and PostgreSQL are the shared services on 6379 and 5432: under CI=true a missing one fails
// this file; elsewhere its column is left out and said so. The HTTP store reads a gateway's internal API
// (in this process) over a memory store the key manager writes to. The gateways run in process (createGateway),
// proxy mode in front of an upstream that records the identity headers it is sent, forward-auth mode asked
// directly, as Traefik asks: X-Forwarded-Method and X-Forwarded-Uri describe the client's request.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, oracleRequest, T0, type Fixture } from './support/adapters-fixture';
import { ENTRY_POINTS, type Entry, type EntryPoint } from './support/matrix-entries';
import { expectRefusal, SCENARIOS, type Scenario } from './support/matrix-scenarios';
import { matrixStores, openMatrixStore, type MatrixStore, type MatrixStoreName } from './support/matrix-stores';

/** The entry point every row runs through on every store. */
const FULL_ON_EVERY_STORE = 'hono';
/** One allowed row and one refused after a store lookup: what each entry point × store pair must answer. */
const SMOKE = ['a live retail key of a premium account', 'a revoked key'];

const STORES = await matrixStores('matrix');

// A renamed row must not quietly leave the pairs with no smoke row at all.
const missing = SMOKE.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
if (missing.length > 0) throw new Error(`matrix: no scenario named ${missing.map((name) => JSON.stringify(name)).join(', ')} for the smoke rows`);

function rowsFor(store: MatrixStoreName, entry: EntryPoint): Scenario[] {
  if (store === 'memory' || entry.name === FULL_ON_EVERY_STORE) return SCENARIOS;
  return SCENARIOS.filter((scenario) => SMOKE.includes(scenario.name));
}

async function check(fx: Fixture, entry: Entry, scenario: Scenario): Promise<void> {
  const path = scenario.path ?? '/invoices';
  const module = 'module' in scenario ? scenario.module : 'invoices';
  const method = scenario.method ?? 'GET';
  const given = await scenario.given(fx);
  const headers = given.authorization === undefined ? {} : { Authorization: given.authorization };
  const hitsBefore = entry.hits();
  const reply = await entry.send(path, headers, method);
  const sent = Array.isArray(given.authorization) ? given.authorization.join(', ') : given.authorization;
  const oracle = await fx.oracle.authenticate(oracleRequest(sent, module, method));

  if ('refused' in scenario.expect) {
    expectRefusal(reply, scenario.expect.refused, scenario.expect.scope);
    expect(entry.hits(), 'the protected side was reached').toBe(hitsBefore);
    // The entry point copies the core's answer byte for byte.
    expect(oracle.ok).toBe(false);
    if (oracle.ok) return;
    expect(reply.status).toBe(oracle.error.status);
    expect(reply.text).toBe(JSON.stringify(oracle.error.body));
    for (const [name, value] of Object.entries(oracle.error.headers)) expect(reply.headers[name.toLowerCase()]).toBe(value);
    if (scenario.expect.messageIncludes) expect(oracle.error.message).toContain(scenario.expect.messageIncludes);
    return;
  }

  expect(reply.status, reply.text).toBe(200);
  expect(entry.hits()).toBe(hitsBefore === undefined ? undefined : hitsBefore + 1);
  const { key } = given;
  if (!key) throw new Error('an allowed scenario must name its key');
  expect(entry.seen(reply, method)).toEqual(entry.expected(key, given.tier ?? 'premium', module));
  const warning = reply.headers['finora-key-expires-at'];
  if (scenario.expect.expiresHeader) expect(warning).toBe(key.expiresAt.toISOString());
  else expect(warning).toBeUndefined();
  expect(oracle.ok).toBe(true);
}

describe.each(STORES)('on the %s store', (storeName) => {
  let opened: MatrixStore;
  let fx: Fixture;

  beforeAll(async () => {
    opened = await openMatrixStore(storeName);
    fx = await createFixture({ store: opened.store, ...(opened.writer ? { writer: opened.writer } : {}) });
  });
  afterAll(async () => {
    await fx?.close();
    await opened?.dispose();
  });
  afterEach(() => {
    fx.clock.now = T0;
    fx.store.failing = false;
  });

  describe.each(ENTRY_POINTS)('through $name', (entryPoint) => {
    let entry: Entry;
    beforeAll(async () => {
      entry = await entryPoint.start(fx);
    });
    afterAll(async () => {
      await entry?.close();
    });

    it.each(rowsFor(storeName, entryPoint))('$name', (scenario) => check(fx, entry, scenario));
  });
});
