// Authorization-header campaigns over real HTTP: single, absent, repeated and injected header fields, raw bytes.

import fc from 'fast-check';
import { createAuthenticator, MemoryKeyStore, type DecisionEvent } from '@finora-auth/core';
import { anyHeader, oneLine } from './fuzz-arbitraries';
import { adapterMiddleware, startApp, type Framework } from './fuzz-apps';
import { isGatewayParserRefusal, startGateway } from './fuzz-gateway';
import { runCampaign, type CampaignOptions, type CampaignResult } from './fuzz-campaign';
import { asReceived, buildRequest, isParserRefusal, RawPool, type RawHeader, type RawResponse } from '../../packages/gateway/test/support/raw-http';
import { buildWorld, expectedFor, leaksIn, refusalCode, refusalProblems, type World } from './fuzz-world';

/** Where a request goes, and the module the contract derives from it. (`/healthz` is the gateway's, open to all.) */
const TARGETS = [
  { path: '/v1/invoices/1', module: 'invoices' },
  { path: '/v1/payments/1', module: 'payments' },
  { path: '/reports', module: 'reports' },
  { path: '/ai/x?y=1', module: 'ai' },
  { path: '/', module: undefined },
  { path: '/status', module: undefined },
] as const;
type Target = (typeof TARGETS)[number];

/** What a campaign runs against: an adapter in a framework app, or the gateway in front of one. */
export type Subject = Framework | 'gateway';

export type HeaderCase =
  | { kind: 'single'; value: string; target: Target }
  | { kind: 'absent'; target: Target }
  | { kind: 'repeated'; values: string[]; target: Target }
  /** A value whose bytes hold a line break: it must never smuggle a key in as a second field. */
  | { kind: 'injected'; first: string; separator: string; name: string; second: string; target: Target };

export function headerCase(world: World): fc.Arbitrary<HeaderCase> {
  const keys = world.keys.map((k) => k.apiKey);
  const usable = world.keys.filter((k) => k.state === 'ok').map((k) => `Bearer ${k.apiKey}`);
  const target = fc.constantFrom(...TARGETS);
  const value = anyHeader(keys, { huge: true }).map(oneLine);
  // The first value of an injection is never a usable key, so an answer of 200 can only come from the smuggled one.
  const unusable = value.filter((v) => expectedFor(world, asReceived(v)).status !== 200);
  return fc.oneof(
    { weight: 16, arbitrary: fc.record({ kind: fc.constant('single' as const), value, target }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('absent' as const), target }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('repeated' as const),
        values: fc.array(fc.oneof(fc.constantFrom(...usable), fc.constant(''), value), { minLength: 2, maxLength: 3 }),
        target,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('injected' as const),
        first: unusable,
        separator: fc.constantFrom('\r\n', '\n', '\r', '\r\n ', '\r\n\t', '\n\r', '\r\r\n', '\u0000\r\n', '\r\n\r\n'),
        name: fc.constantFrom('Authorization', 'authorization', 'AUTHORIZATION', 'Authorization ', 'X-Authorization'),
        second: fc.constantFrom(...usable),
        target,
      }),
    },
  );
}

function requestFor(input: HeaderCase): Buffer {
  const headers: RawHeader[] = [];
  switch (input.kind) {
    case 'single':
      headers.push(['Authorization', input.value]);
      break;
    case 'repeated':
      for (const value of input.values) headers.push(['Authorization', value]);
      break;
    case 'injected':
      headers.push(['Authorization', `${input.first}${input.separator}${input.name}: ${input.second}`]);
      break;
    case 'absent':
      break;
  }
  return buildRequest(input.target.path, headers);
}

interface HandlerAnswer {
  route: string;
  module: string | null;
  keyId: string | null;
}

function handlerAnswer(response: RawResponse): HandlerAnswer | undefined {
  try {
    const parsed = JSON.parse(response.body) as HandlerAnswer;
    return typeof parsed?.route === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export interface HeaderCampaignOptions extends CampaignOptions {
  /** Node's request-head limit on the server under test, in bytes. Default: 131,072, so 64 KB values reach the middleware. */
  maxHeaderSize?: number;
}

/**
 * Every answer is the contract's: a handler runs only for a request the oracle allows (with the right key and
 * module), every refusal has the contract's status, code, challenge and body, repeated or smuggled Authorization
 * fields never get in, and the only other answers are Node's own parser refusals (400, 431) before any code runs.
 * No answer carries a key.
 */
export async function headerCampaign(subject: Subject, options: HeaderCampaignOptions): Promise<CampaignResult> {
  const store = new MemoryKeyStore();
  const world = await buildWorld(store);
  const secrets = world.secrets();
  const events: DecisionEvent[] = [];
  const authenticator = createAuthenticator({
    store,
    now: world.now,
    onDecision: (event) => {
      if (events.length < 1_000) events.push(event);
    },
  });
  const maxHeaderSize = options.maxHeaderSize ?? 131_072;
  let app: { port: number; errors: unknown[]; close(): Promise<void> };
  if (subject === 'gateway') {
    // The gateway builds its own authenticator; it reports to the same event list.
    const gateway = await startGateway('express5', {
      store,
      maxHeaderSize,
      authenticator: { now: world.now, onDecision: (event) => void (events.length < 1_000 && events.push(event)) },
    });
    app = { port: gateway.port, errors: gateway.upstream.errors, close: () => gateway.close() };
  } else {
    app = await startApp(subject, { middleware: adapterMiddleware(subject, authenticator), maxHeaderSize });
  }
  const parserRefusal = subject === 'gateway' ? isGatewayParserRefusal : isParserRefusal;
  const pool = new RawPool(app.port, options.concurrency ?? 8);
  try {
    const result = await runCampaign<HeaderCase>(
      `headers:${subject}`,
      headerCase(world),
      async (input, tally) => {
        let response: RawResponse;
        try {
          response = await pool.send(requestFor(input), { close: input.kind === 'injected' });
        } catch (error) {
          // A smuggled second request that fails to parse may make the server drop the connection before it
          // answers the first (the gateway does): nothing got through, which is what this case is about.
          if (input.kind === 'injected' && /closed without a response/.test(String(error))) {
            tally('injected: connection dropped');
            return [];
          }
          throw error;
        }
        const problems: string[] = [];
        const wire = response.head + response.body;
        if (leaksIn(wire, secrets).length > 0) problems.push('a key in the response');
        if (parserRefusal(response)) {
          tally(`parser ${response.status}`);
          if (input.kind === 'absent') problems.push(`Node refused a plain request with ${response.status}`);
          return problems;
        }
        const answer = handlerAnswer(response);
        const expected =
          input.kind === 'single'
            ? expectedFor(world, asReceived(input.value), input.target.module)
            : input.kind === 'absent'
              ? expectedFor(world, undefined, input.target.module)
              : undefined;
        if (answer) {
          tally(`${input.kind}: handler`);
          if (!expected) return [...problems, `a ${input.kind} Authorization reached the handler as ${answer.keyId}`];
          if (expected.status !== 200) return [...problems, `reached the handler; the contract says ${expected.status} ${expected.code}`];
          if (answer.keyId !== expected.key?.keyId) problems.push(`handler ran as ${answer.keyId}, not ${expected.key?.keyId}`);
          if ((answer.module ?? undefined) !== input.target.module) problems.push(`judged ${answer.module} for ${input.target.path}`);
          const warned = response.headers['finora-key-expires-at'] !== undefined;
          if (warned !== Boolean(expected.expiryHeader)) problems.push(`Finora-Key-Expires-At ${warned ? 'sent' : 'missing'}`);
          return problems;
        }
        const code = refusalCode(response.body);
        tally(`${input.kind}: ${response.status} ${code ?? ''}`.trim());
        problems.push(...refusalProblems(response.status, response.headers, response.body));
        if (expected && (response.status !== expected.status || code !== expected.code)) {
          problems.push(`${response.status} ${code}; the contract says ${expected.status} ${expected.code ?? 'allowed'}`);
        }
        if (input.kind === 'repeated' && response.status !== 401) problems.push(`${response.status} ${code} for repeated fields, not a 401`);
        return problems;
      },
      { concurrency: pool.size, ...options },
    );
    if (app.errors.length > 0) {
      result.findingCount += app.errors.length;
      result.findings.push({ input: 'framework error handler', problems: app.errors.slice(0, 5).map(String) });
    }
    if (leaksIn(JSON.stringify(events), secrets).length > 0) {
      result.findingCount++;
      result.findings.push({ input: 'onDecision events', problems: ['a key in a decision event'] });
    }
    return result;
  } finally {
    pool.close();
    await app.close();
    await authenticator.close();
  }
}
