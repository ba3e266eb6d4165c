// judgeTarget over a table of targets, and the gateway refusing them before any store lookup.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest, RawClient } from './support/raw-http';
import { judgeTarget } from '../src/target';
import { startGateway, type GatewayFixture } from './upstreams/gateway-fixture';
import { startNodeUpstream, type NodeEchoUpstream } from './upstreams/servers';

const refused: [target: string, why: string][] = [
  ['/v1/payments;x=1', 'a ; parameter (Jetty strips it)'],
  ['/v1;x/payments', 'a ; parameter on the version'],
  ['/v1/payments;jsessionid=a/1', 'a session id parameter'],
  ['/v1/ai;a', 'a ; parameter on a short module'],
  ['/v1/invoices/..;/payments', 'Tomcat\'s ..; dot segment'],
  ['/v1/invoices/%2e%2e;/payments', 'an encoded ..;'],
  ['//x/v1/payments', 'a leading // (an authority to the JDK, new URL and urlsplit)'],
  ['//evil/v1/payments/1', 'a leading // with a host'],
  ['//x:1/v1/payments', 'a leading // with a port'],
  ['/v1\\payments', 'a raw backslash'],
  ['/v1/invoices/%5C..%5Cpayments', 'an encoded backslash, deep in the path'],
  ['/v1/%5cpayments', 'an encoded backslash, lower case'],
  ['/v1%2Fpayments', 'an encoded / in the version segment'],
  ['/v1/payments%2F', 'an encoded / in the module segment'],
  ['/v1/pay%2fments', 'an encoded / inside the module name'],
  ['/%2e%2e/v1/payments', 'an encoded dot segment where the version goes'],
  ['/v1/%2E%2E/payments', 'an encoded dot segment where the module goes'],
  ['/v1/x/../%2e%2e/payments', 'an encoded dot segment in the module place once raw dots are resolved'],
  ['/v1/payments%3Fx', 'an encoded ? in the module segment (the JDK decodes, then routes on the prefix)'],
  ['/v1/payments%23x', 'an encoded # in the module segment'],
  ['/v1/payments%3Bx', 'an encoded ; in the module segment'],
  ['/v1/%2570ayments', 'an encoded % in the module segment (a second decoding names payments)'],
  ['/v1/%70ayments/%zz', 'a % that is no escape (WSGI decodes the rest; the core would read it raw)'],
  ['/v1/%70ayments/%C0%AF', 'an escape that is not UTF-8 (the JDK decodes the rest)'],
  ['/v1/payments#x', 'a fragment'],
  ['/v1/invoices?x#/../payments', 'a fragment after the query'],
  ['http://gateway/v1/payments', 'absolute-form'],
  ['HTTP://gateway/v1/payments', 'absolute-form, upper case'],
  ['*', 'asterisk-form'],
  ['v1/payments', 'a relative path'],
  ['', 'nothing'],
];

const allowed: [target: string, module: string | undefined][] = [
  ['/', undefined],
  ['/v1/payments', 'payments'],
  ['/v1/invoices/42?x=1;y=2&next=//evil\\x', 'invoices'],
  ['/V1/%50ayments/x', 'payments'],
  ['/v%31/payments', 'payments'],
  ['/v1/invoices/..%2f..%2fpayments', 'payments'],
  ['/v1/invoices/%2e%2e/payments', 'payments'],
  ['/v1/invoices/../payments', 'payments'],
  ['/v1/payments/../invoices', 'payments'],
  ['/v1//payments', 'payments'],
  ['/v1/documents/a%2Fb%3Fc', 'documents'],
  ['/v1/reports/%E2%82%AC', 'reports'],
  ['/account/profile', undefined],
  ['/v1/payments?', 'payments'],
];

describe('judgeTarget', () => {
  it.each(refused)('refuses %s (%s) with 400 INVALID_REQUEST', (target) => {
    expect(judgeTarget(target)).toEqual({ ok: false, status: 400, code: 'INVALID_REQUEST', message: expect.any(String) });
  });

  it.each(allowed)('judges %s as module %s', (target, module) => {
    expect(judgeTarget(target)).toEqual({ ok: true, module });
  });

  it('never puts the target in its message (a target may carry a key)', () => {
    const verdict = judgeTarget('/v1/payments;test_sk_secret');
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.message).not.toContain('secret');
  });
});

describe('the proxy', () => {
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

  it('refuses every refused target before any store lookup, and forwards none', async () => {
    const client = new RawClient(gateway.port);
    // Node's HTTP parser itself refuses these request lines (400 BAD_REQUEST), before the gateway sees them.
    const unparsable = new Set(['', 'v1/payments']);
    for (const [target] of refused) {
      const method = target === '*' ? 'OPTIONS' : 'GET';
      const response = await client.send(buildRequest(target, [['Authorization', `Bearer ${gateway.retailKey}`]], method), { close: true });
      expect(response.status, target).toBe(400);
      expect(JSON.parse(response.body).error.code, target).toBe(unparsable.has(target) ? 'BAD_REQUEST' : 'INVALID_REQUEST');
    }
    expect(gateway.lookups()).toBe(0);
    expect(node.seen).toHaveLength(0);
  });

  it('forwards an allowed target exactly as the client sent it', async () => {
    const response = await new RawClient(gateway.port).send(
      buildRequest('/v1/invoices/%2e%2e/customers?q=%3F', [['Authorization', `Bearer ${gateway.retailKey}`]]),
      { close: true },
    );
    expect(response.status).toBe(200);
    expect(node.seen.at(-1)?.target).toBe('/v1/invoices/%2e%2e/customers?q=%3F');
  });
});
