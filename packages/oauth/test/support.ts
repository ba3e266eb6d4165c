// Test fixtures: a MemoryKeyStore with an enterprise account and a service account, and an issuer served over real HTTP.

import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { MemoryKeyStore, createKeyManager, type KeyStore } from '@finora-auth/core';
import { createTokenIssuer, type TokenIssuer, type TokenIssuerOptions } from '@finora-auth/oauth';

/** A fixed operator secret for tests (not a credential of any deployment). */
export const SECRET = 'operator secret for the oauth tests, 48 bytes ok';
export const AUDIENCE = 'https://api.finora.test';

export interface World {
  store: MemoryKeyStore;
  manager: ReturnType<typeof createKeyManager>;
  clientId: string;
  clientSecret: string;
  clock: { now: number };
}

/** An enterprise, premium account `bank` with one live service account (scopes as given, full access by default). */
export async function world(scopes?: string[]): Promise<World> {
  const clock = { now: Date.now() };
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store, now: () => clock.now });
  await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
  const created = await manager.createServiceAccount({ accountId: 'bank', environment: 'live', ...(scopes ? { scopes } : {}) });
  return { store, manager, clientId: created.clientId, clientSecret: created.clientSecret, clock };
}

export interface Served {
  origin: string;
  issuer: TokenIssuer;
  close(): Promise<void>;
}

/** Serves `createTokenIssuer` on 127.0.0.1 at an ephemeral port, with the issuer URL set to that origin. */
export async function serveIssuer(store: KeyStore, options: Partial<TokenIssuerOptions> = {}): Promise<Served> {
  let issuer: TokenIssuer | undefined;
  const server = createAdaptorServer({
    fetch: async (request: Request, env: { incoming: { socket: { remoteAddress?: string } } }) => {
      const address = env.incoming.socket.remoteAddress;
      const answer = await issuer!.handle(request, address === undefined ? {} : { clientAddress: address });
      return answer ?? new Response('not found', { status: 404 });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = createTokenIssuer({ store, issuer: origin, audience: AUDIENCE, secret: SECRET, ...options });
  return {
    origin,
    issuer,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function basic(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

export interface TokenReply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a form to the token endpoint. */
export async function tokenRequest(
  origin: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<TokenReply> {
  const response = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}
