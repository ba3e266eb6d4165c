// (v2) No OAuth secret anywhere but where it belongs: client secrets, access tokens, the operator secret and the
// signing keys' private parts, searched for in everything the issuer, the gateway and the stores log, emit, answer
// or keep at rest, on every store. (test/secrets.test.ts does the same for API keys.)

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyManager, type DecisionEvent, type KeyManager } from '@finora-auth/core';
import { createGateway, type Gateway } from '@finora-auth/gateway';
import { createTokenIssuer, type TokenIssuer } from '@finora-auth/oauth';
import { importOperatorSecret, openPrivateKey } from '../packages/oauth/src/key-encryption';
import { availableStores, openStore, type OpenedStore } from './support/fuzz-stores';

const STORES = await availableStores('secrets-oauth.test');

interface Secret {
  label: string;
  /** The whole value, and every 12-character piece of its random part: a truncation or a near miss shows one. */
  needles: string[];
}

function secret(label: string, value: string, random = value): Secret {
  const needles = [value];
  for (let i = 0; i + 12 <= random.length; i++) needles.push(random.slice(i, i + 12));
  return { label, needles };
}

/** An access token's secret part is its signature: header and claims name the client, which logs may say. */
const tokenSecret = (label: string, token: string) => secret(label, token, token.split('.')[2] ?? token);
/** A client secret is `<prefix>_<random>`: the prefix is what scanners look for, not a secret. */
const clientSecret = (label: string, value: string) => secret(label, value, value.slice(value.lastIndexOf('_') + 1));

function show(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}\n${show((value as { cause?: unknown }).cause)}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Texts by where they were seen; `find` names the place and the secret of each hit. */
class Capture {
  readonly texts = new Map<string, string[]>();
  add(bucket: string, value: unknown): void {
    this.texts.set(bucket, [...(this.texts.get(bucket) ?? []), typeof value === 'string' ? value : show(value)]);
  }
  find(secrets: readonly Secret[]): string[] {
    const hits: string[] = [];
    for (const [bucket, texts] of this.texts) {
      const text = texts.join('\n');
      for (const { label, needles } of secrets) if (needles.some((needle) => text.includes(needle))) hits.push(`${bucket}: ${label}`);
    }
    return hits;
  }
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (id: string, value: string) => `Basic ${Buffer.from(`${id}:${value}`).toString('base64')}`;

describe.each(STORES)('service accounts on the %s store', (name) => {
  let opened: OpenedStore;
  let manager: KeyManager;
  let issuer: TokenIssuer;
  let gateway: Gateway;
  let url = '';
  const capture = new Capture();
  const secrets: Secret[] = [];
  const operatorSecret = randomBytes(48).toString('base64');
  const events: DecisionEvent[] = [];
  let accessLogLines = 0;

  beforeAll(async () => {
    opened = await openStore(name);
    const { store } = opened;
    manager = createKeyManager({ store });
    issuer = createTokenIssuer({
      store,
      issuer: 'https://auth.finora.test',
      audience: 'https://auth.finora.test',
      secret: operatorSecret,
      onError: (error) => capture.add('issuer onError', error),
    });
    gateway = createGateway({
      store,
      issuer: {
        handle: (request, options) => issuer.handle(request, options),
        verifier: issuer.verifier,
        paths: ['/oauth/token', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server'],
      },
      accessLog: {
        write: (chunk: string) => {
          accessLogLines += chunk.split('\n').filter(Boolean).length;
          capture.add('access log', chunk);
        },
      },
      authenticator: { cache: false, onDecision: (event) => events.push(event) },
    });
    url = (await gateway.listen(0, '127.0.0.1')).url;
    secrets.push(secret('operator secret', operatorSecret));
  });

  afterAll(async () => {
    await gateway?.close();
    await opened?.dispose();
  });

  it('the token endpoint, the gateway and the key manager: no client secret, token or operator secret in answers, logs, events, metrics or errors', async () => {
    await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
    const full = await manager.createServiceAccount({ accountId: 'bank', environment: 'live', name: 'treasury' });
    const reader = await manager.createServiceAccount({ accountId: 'bank', environment: 'test', scopes: ['read'] });
    const rotated = await manager.rotateServiceAccountSecret(reader.clientId);
    secrets.push(clientSecret('client secret', full.clientSecret), clientSecret('old client secret', reader.clientSecret), clientSecret('new client secret', rotated.clientSecret));

    const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body });
      return { status: response.status, text: `${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}` };
    };
    const tokens: string[] = [];
    const got = async (answer: { status: number; text: string }) => {
      expect(answer.status, answer.text).toBe(200);
      tokens.push((JSON.parse(answer.text.slice(answer.text.indexOf('{'))) as { access_token: string }).access_token);
    };
    // Tokens by both methods: their answers carry a token by design, so only the failures below are searched.
    await got(await post('/oauth/token', form({ grant_type: 'client_credentials' }), { authorization: basic(full.clientId, full.clientSecret) }));
    await got(await post('/oauth/token', form({ grant_type: 'client_credentials', client_id: reader.clientId, client_secret: rotated.clientSecret })));
    await got(await post('/oauth/token', form({ grant_type: 'client_credentials', scope: 'payments:read' }), { authorization: basic(full.clientId, full.clientSecret) }));
    for (const [i, token] of tokens.entries()) secrets.push(tokenSecret(`access token ${i + 1}`, token));

    // Careless and hostile clients: every refusal is searched for the secrets it was sent.
    const failures = [
      await post('/oauth/token', form({ grant_type: 'client_credentials', client_id: reader.clientId, client_secret: reader.clientSecret })), // the old secret
      await post('/oauth/token', form({ grant_type: 'client_credentials' }), { authorization: basic(full.clientId, `${full.clientSecret}x`) }),
      await post('/oauth/token', form({ grant_type: 'client_credentials' }), { authorization: basic(full.clientSecret, full.clientSecret) }),
      await post('/oauth/token', form({ grant_type: 'password', username: full.clientId, password: full.clientSecret })),
      await post('/oauth/token', form({ client_id: full.clientId, client_secret: full.clientSecret })),
      await post('/oauth/token', `grant_type=client_credentials&client_secret=${full.clientSecret}&client_secret=${full.clientSecret}`),
      await post(`/oauth/token?client_id=${full.clientId}&client_secret=${full.clientSecret}`, form({ grant_type: 'client_credentials' })),
      await post('/oauth/token', JSON.stringify({ client_id: full.clientId, client_secret: full.clientSecret }), { 'content-type': 'application/json' }),
    ];
    for (const failure of failures) {
      expect(failure.status).toBeGreaterThanOrEqual(400);
      capture.add('token endpoint refusals', failure.text);
    }

    const api = async (path: string, headers: Record<string, string>, searched = true) => {
      const response = await fetch(`${url}${path}`, { headers });
      const text = `${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`;
      if (searched) capture.add('API answers', text);
      return response.status;
    };
    const statuses: number[] = [];
    for (const token of tokens) {
      const [header, payload, signature] = token.split('.') as [string, string, string];
      for (const path of ['/v1/payments/1', '/v1/invoices/1']) {
        statuses.push(await api(path, { authorization: `Bearer ${token}` }));
        statuses.push(await api(path, { authorization: `Bearer ${token}`, origin: 'https://shop.example' }));
      }
      // A careless client puts its token or secret in the URL: the demo API's echo is its own business, the log is not.
      for (const path of [`/v1/invoices?access_token=${token}`, `/v1/invoices/${token}`, `/v1/invoices/${encodeURIComponent(token)}/x`, `/v1/${full.clientSecret}`]) {
        statuses.push(await api(path, { authorization: `Bearer ${token}` }, false));
      }
      for (const value of [`Bearer ${header}.${payload}.${signature.slice(0, -2)}AA`, `Bearer ${token} trailing`, `Basic ${token}`, token, `Bearer ${token}.${signature}`]) {
        statuses.push(await api('/v1/invoices/1', { authorization: value }));
      }
    }
    await manager.revokeServiceAccount(full.clientId);
    statuses.push(await api('/v1/invoices/1', { authorization: `Bearer ${tokens[0]}` }));
    for (const status of [200, 401, 403]) expect(statuses).toContain(status);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    capture.add('metrics', await (await fetch(`${url}/metrics`)).text());
    await issuer.rotateSigningKey();
    capture.add('key set', await (await fetch(`${url}/.well-known/jwks.json`)).text());
    capture.add('signing keys as the issuer lists them', await issuer.listSigningKeys());

    // The key manager, misused as an operator might: a secret pasted where a client id belongs.
    capture.add('key manager answers', await manager.listServiceAccounts('bank'));
    for (const attempt of [
      () => manager.revokeServiceAccount(full.clientSecret),
      () => manager.rotateServiceAccountSecret(rotated.clientSecret),
      () => manager.listServiceAccounts(full.clientSecret),
      () => manager.createServiceAccount({ accountId: full.clientSecret, environment: 'live' }),
      () => manager.createServiceAccount({ accountId: 'bank', environment: 'live', name: `x\u0000${full.clientSecret}` }),
    ]) {
      capture.add('key manager errors', await attempt().then(() => new Error('no error'), (error: unknown) => error));
    }
    await gateway.close(); // writes the access-log lines still waiting
    for (const event of events) capture.add('onDecision', event);
    expect(events.some((event) => event.credential === 'oauth_token' && event.outcome === 'allowed')).toBe(true);
    expect(accessLogLines).toBeGreaterThan(50);
    expect(capture.find(secrets)).toEqual([]);
  });

  it("at rest: the store holds secret digests and sealed keys, never a secret, a token, the operator secret or a private key's d", async () => {
    const rows = await opened.store.listSigningKeys!();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const base = await importOperatorSecret(new TextEncoder().encode(operatorSecret));
    for (const row of rows) {
      // What a copy of the database would need the operator secret for: the private JWK, and its d above all.
      const privateJwk = await openPrivateKey(base, row.kid, row.encryptedPrivateKey);
      const { d } = JSON.parse(privateJwk) as { d?: string };
      expect(d).toMatch(/^[\w-]{43}$/);
      secrets.push(secret(`private JWK of ${row.kid}`, privateJwk, d), secret(`d of ${row.kid}`, d!));
    }
    const atRest = new Capture();
    const text = await opened.atRest();
    expect(text).toContain(rows[0]!.kid);
    atRest.add('at rest', text);
    expect(atRest.find(secrets)).toEqual([]);
    // And the search is not blind: the sealed form is there, and a planted d would be found.
    expect(text).toContain(rows[0]!.encryptedPrivateKey.slice(0, 40));
    atRest.add('planted', `{"d":"${secrets.at(-1)!.needles[0]}"}`);
    expect(atRest.find(secrets)).toContain(`planted: ${secrets.at(-1)!.label}`);
  });
});
