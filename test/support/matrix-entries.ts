// The entry points the matrix sends its rows through: the seven adapter set-ups and the gateway's two modes.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyInfo, Tier } from '@finora-auth/core';
import { createGateway } from '../../packages/gateway/src/gateway';
import { HARNESSES, send, type Reply } from './adapters';
import { expectedContext, type Fixture } from './adapters-fixture';

/** One entry point, started over a fixture's store and clock. */
export interface Entry {
  /** Sends a request as a client (or, for forward-auth, the proxy asking about a client's request) would. */
  send(path: string, headers: Record<string, string | string[]>, method: string): Promise<Reply>;
  /** Requests that reached the protected side (handler or upstream) so far; forward-auth has none behind it. */
  hits(): number | undefined;
  /** What the protected side was told about the caller of the last allowed request. */
  seen(reply: Reply, method: string): Record<string, unknown>;
  /** What it should have been told, from the key that was sent. */
  expected(key: KeyInfo, tier: Tier, module: string | undefined): Record<string, unknown>;
  close(): Promise<void>;
}

export interface EntryPoint {
  name: string;
  start(fx: Fixture): Promise<Entry>;
}

const adapters: EntryPoint[] = HARNESSES.map((harness) => ({
  name: harness.name,
  async start(fx) {
    const app = await harness.serve({ auth: { authenticator: fx.authenticator } });
    return {
      send: (path, headers, method) => send(app.origin, path, headers, method),
      hits: () => app.hits.length,
      // A HEAD answer has no body: what the handler saw is in the hit it recorded.
      seen: (reply, method) => (method === 'HEAD' ? JSON.parse(JSON.stringify(app.hits.at(-1)?.auth)) : JSON.parse(reply.text).auth),
      expected: expectedContext,
      close: () => app.close(),
    };
  },
}));

/**
 * The identity a gateway conveys in headers: in proxy mode the contract's four to the upstream, in forward-auth
 * mode those and `Finora-Scopes` to the proxy (its module header is sent empty for no module).
 */
function identity(headers: IncomingHttpHeaders, withScopes: boolean): Record<string, unknown> {
  const module = headers['finora-module'];
  return {
    accountId: headers['finora-account-id'],
    keyId: headers['finora-key-id'],
    environment: headers['finora-environment'],
    ...(module ? { module } : {}),
    ...(withScopes ? { scopes: headers['finora-scopes'] } : {}),
  };
}

const expectedIdentity = (withScopes: boolean) => (key: KeyInfo, _tier: Tier, module: string | undefined): Record<string, unknown> => ({
  accountId: key.accountId,
  keyId: key.id,
  environment: key.environment,
  ...(module ? { module } : {}),
  ...(withScopes ? { scopes: key.scopes.join(' ') } : {}),
});

/** An upstream that records the headers of every request it is sent and answers 200. */
async function echoUpstream() {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.once('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"upstream":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const gatewayOptions = (fx: Fixture) => ({
  store: fx.store,
  accessLog: false as const,
  metrics: false,
  authenticator: { now: () => fx.clock.now },
  issuer: fx.gatewayIssuer,
});

const proxy: EntryPoint = {
  name: 'gateway proxy',
  async start(fx) {
    const upstream = await echoUpstream();
    const gateway = createGateway({ ...gatewayOptions(fx), upstream: upstream.url });
    const { url } = await gateway.listen(0, '127.0.0.1');
    return {
      send: (path, headers, method) => send(url, path, headers, method),
      hits: () => upstream.seen.length,
      seen: () => identity(upstream.seen.at(-1) ?? {}, false),
      expected: expectedIdentity(false),
      async close() {
        await gateway.close();
        await upstream.close();
      },
    };
  },
};

/** Behind no proxy: the request describes the client's as Traefik does, in X-Forwarded-Method and X-Forwarded-Uri. */
const forwardAuth: EntryPoint = {
  name: 'gateway forward-auth',
  async start(fx) {
    const gateway = createGateway({ ...gatewayOptions(fx), forwardAuth: true });
    const { url } = await gateway.listen(0, '127.0.0.1');
    return {
      send: (path, headers, method) => send(url, '/auth', { ...headers, 'X-Forwarded-Method': method, 'X-Forwarded-Uri': path }, 'GET'),
      hits: () => undefined,
      seen: (reply) => identity(reply.headers, true),
      expected: expectedIdentity(true),
      close: async () => void (await gateway.close()),
    };
  },
};

export const ENTRY_POINTS: readonly EntryPoint[] = [...adapters, proxy, forwardAuth];
