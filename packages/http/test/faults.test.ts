// HttpKeyStore under faults: a hanging gateway, one that is down, a wrong token, huge, garbled or wrong answers. Each fails closed.

import { createAuthenticator, createKeyManager, MemoryKeyStore, sha256Hex } from '@finora-auth/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpKeyStore, HttpKeyStoreError } from '../src/index';
import { internalGateway, newToken, serve, type Running } from './support';

const running: Running[] = [];
const stores: HttpKeyStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const server of running.splice(0)) await server.kill();
  vi.restoreAllMocks();
});

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
  const server = await serve(handler);
  running.push(server);
  return server;
}

function edge(url: string, token = newToken(), extra: Partial<ConstructorParameters<typeof HttpKeyStore>[0]> = {}): HttpKeyStore {
  const store = new HttpKeyStore({ url, token, events: false, ...extra });
  stores.push(store);
  return store;
}

/** A real key on a real store, so a fault is judged for a key that exists (a fault must not pass it). */
async function issuedKey() {
  const backing = new MemoryKeyStore();
  const manager = createKeyManager({ store: backing });
  await manager.putAccount({ id: 'acct_faults', tier: 'premium' });
  const issued = await manager.issue({ accountId: 'acct_faults', environment: 'live' });
  const record = await backing.findByHash(await sha256Hex(issued.apiKey));
  return { backing, manager, issued, record: record!, hash: await sha256Hex(issued.apiKey) };
}

const codeOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpKeyStoreError);
  return error as HttpKeyStoreError;
};

/** Through the core, as an edge function would use it: the answer for `apiKey`. */
async function judged(store: HttpKeyStore, apiKey: string) {
  const authenticator = createAuthenticator({ store, cache: false });
  try {
    return await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
  } finally {
    await authenticator.close();
  }
}

describe('HttpKeyStore faults (each one fails closed: 503 AUTH_UNAVAILABLE, never a pass)', () => {
  it('answers a working lookup, asking by digest only: the key never leaves the edge', async () => {
    const { backing, issued, hash, record } = await issuedKey();
    const seen: string[] = [];
    const gateway = await internalGateway(backing);
    running.push(gateway);
    const spy = await fake((req, res) => {
      seen.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
      gateway.api.handle(req, res);
    });
    const store = edge(spy.url, gateway.token);
    expect(await store.findByHash(hash)).toEqual(record);
    expect(await store.findByHash(await sha256Hex(`${issued.apiKey}x`))).toBeNull();
    const result = await judged(store, issued.apiKey);
    expect(result.ok).toBe(true);
    expect(seen.join('\n')).toContain(hash);
    expect(seen.join('\n')).not.toContain(issued.apiKey.slice(8));
  });

  it('gives up on a gateway that hangs after timeoutMs, and the core answers 503', async () => {
    const { issued, hash } = await issuedKey();
    const hanging = await fake(() => {}); // never answers
    const store = edge(hanging.url, newToken(), { timeoutMs: 300 });
    const started = Date.now();
    const error = await codeOf(store.findByHash(hash));
    expect(error.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(1_500);
    const result = await judged(store, issued.apiKey);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.status).toBe(503);
  });

  it('times out a gateway that sends headers and then stalls the body', async () => {
    const { hash } = await issuedKey();
    const stalling = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"record":');
    });
    const error = await codeOf(edge(stalling.url, newToken(), { timeoutMs: 300 }).findByHash(hash));
    expect(error.code).toBe('TIMEOUT');
  });

  it('fails closed on a gateway that is down (connection refused) and on a 5xx', async () => {
    const { issued, hash } = await issuedKey();
    const gone = await serve(() => {});
    await gone.kill();
    const down = edge(gone.url);
    expect((await codeOf(down.findByHash(hash))).code).toBe('UNAVAILABLE');
    const downResult = await judged(down, issued.apiKey);
    expect(downResult.ok).toBe(false);
    if (!downResult.ok) {
      expect(downResult.error.status).toBe(503);
      expect(downResult.error.code).toBe('AUTH_UNAVAILABLE');
    }

    const failing = await fake((_req, res) => res.writeHead(503, { 'retry-after': '1' }).end('{"error":{}}'));
    const erring = edge(failing.url);
    expect((await codeOf(erring.findByHash(hash))).code).toBe('UNAVAILABLE');
    const erringResult = await judged(erring, issued.apiKey);
    expect(erringResult.ok).toBe(false);
    if (!erringResult.ok) expect(erringResult.error.status).toBe(503);
  });

  it('reports a wrong token as a setup error that names the URL and says to check the token, with no data and never the token', async () => {
    const { backing, issued, hash } = await issuedKey();
    const gateway = await internalGateway(backing);
    running.push(gateway);
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const wrong = newToken();
    const store = edge(gateway.url, wrong);
    const error = await codeOf(store.findByHash(hash));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toContain(gateway.url);
    expect(error.message).toContain('check the internal token');
    expect(error.message).not.toContain(wrong);
    expect(error.message).not.toContain(gateway.token);
    // Said once where operators look, not once per request.
    await codeOf(store.findByHash(hash));
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]?.[0])).toContain('check the internal token');
    const result = await judged(store, issued.apiKey);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.status).toBe(503);

    // What a wrong token gets back: a refusal, no record.
    const raw = await fetch(`${gateway.url}/internal/keys/${hash}`, { headers: { authorization: `Bearer ${wrong}` } });
    expect(raw.status).toBe(401);
    expect(await raw.text()).not.toContain(issued.key.id);
  });

  it('refuses a huge answer (10 MB, with or without Content-Length) after reading at most maxResponseBytes', async () => {
    const { hash } = await issuedKey();
    const huge = 'x'.repeat(10 * 1024 * 1024);
    let written = 0;
    const declared = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(huge.length + 12) });
      res.end(`{"record":"${huge}"}`);
    });
    expect((await codeOf(edge(declared.url).findByHash(hash))).code).toBe('TOO_LARGE');
    const chunked = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      const more = () => {
        while (written < huge.length) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.write('{"record":"');
      more();
    });
    const error = await codeOf(edge(chunked.url, newToken(), { maxResponseBytes: 65_536 }).findByHash(hash));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.message).not.toContain('xxxx');
  });

  it('refuses garbled JSON, a non-JSON answer, a non-UTF-8 body, and a path that is not the internal API', async () => {
    const { hash } = await issuedKey();
    const garbled = await fake((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"record": {"key": '));
    expect((await codeOf(edge(garbled.url).findByHash(hash))).code).toBe('GARBLED');
    const html = await fake((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>hello</h1>'));
    expect((await codeOf(edge(html.url).findByHash(hash))).code).toBe('GARBLED');
    const binary = await fake((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));
    expect((await codeOf(edge(binary.url).findByHash(hash))).code).toBe('GARBLED');
    const missing = await fake((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{}'));
    const notFound = await codeOf(edge(missing.url).findByHash(hash));
    expect(notFound.code).toBe('GARBLED');
    expect(notFound.message).toContain('check the url');
    const shapeless = await fake((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2,3]'));
    expect((await codeOf(edge(shapeless.url).findByHash(hash))).code).toBe('GARBLED');
  });

  it('refuses a record for another key, or one with a field of the wrong type, and the core answers 503, not the other key\'s access', async () => {
    const { issued, hash, record } = await issuedKey();
    const other = await issuedKey();
    const answering = (body: unknown) =>
      fake((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    const swapped = edge((await answering({ record: other.record })).url);
    expect((await codeOf(swapped.findByHash(hash))).code).toBe('GARBLED');
    const result = await judged(swapped, issued.apiKey);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.status).toBe(503);
    const mistyped = edge((await answering({ record: { ...record, account: { ...record.account, tier: 'platinum' } } })).url);
    expect((await codeOf(mistyped.findByHash(hash))).code).toBe('GARBLED');
    const sa = edge((await answering({ record: { serviceAccount: { clientId: 'someone-else' }, account: record.account } })).url);
    expect((await codeOf(sa.findServiceAccount('sa_mine'))).code).toBe('GARBLED');
  });

  it('never follows a redirect, so the token never reaches another origin', async () => {
    const { hash } = await issuedKey();
    const elsewhere: string[] = [];
    const other = await fake((req, res) => {
      elsewhere.push(String(req.headers.authorization));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"record":null}');
    });
    const redirecting = await fake((req, res) => res.writeHead(302, { location: `${other.url}${req.url}` }).end());
    expect((await codeOf(edge(redirecting.url).findByHash(hash))).code).toBe('GARBLED');
    expect(elsewhere).toEqual([]);
  });

  it('passes the caller\'s abort on, as the core\'s own lookup timeout uses it', async () => {
    const { hash } = await issuedKey();
    const hanging = await fake(() => {});
    const controller = new AbortController();
    const pending = edge(hanging.url).findByHash(hash, { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
  });

  it('refuses writes and administrative reads with READ_ONLY, and the key manager says so', async () => {
    const store = edge('http://127.0.0.1:9');
    const error = await codeOf(store.putAccount());
    expect(error.code).toBe('READ_ONLY');
    expect(error.message).toContain('putAccount');
    for (const call of [store.getKey(), store.listKeys(), store.revokeKey(), store.listSigningKeys(), store.insertServiceAccount()]) {
      expect((await codeOf(call)).code).toBe('READ_ONLY');
    }
    const manager = createKeyManager({ store });
    await expect(manager.issue({ accountId: 'acct', environment: 'live' })).rejects.toThrow(/only reads/);
  });

  it('validates its options with errors that name the option and never echo the token', () => {
    const token = newToken();
    expect(() => new HttpKeyStore({ url: 'ftp://gateway', token })).toThrow(/url/);
    expect(() => new HttpKeyStore({ url: `http://user:${token}@gateway`, token })).toThrow(/credentials/);
    expect(() => new HttpKeyStore({ url: 'http://gateway', token: 'short' })).toThrow(/token/);
    expect(() => new HttpKeyStore({ url: 'http://gateway', token: `${token} ` })).toThrow(/token/);
    const thrown = (() => {
      try {
        new HttpKeyStore({ url: 'http://gateway', token: `${token} x` });
      } catch (error) {
        return String(error);
      }
      return 'nothing thrown';
    })();
    expect(thrown).toContain('token must be');
    expect(thrown).not.toContain(token);
    expect(() => new HttpKeyStore({ url: 'http://gateway', token, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new HttpKeyStore({ url: 'http://gateway', token, reconnectDelayMs: 500, maxReconnectDelayMs: 100 })).toThrow(/maxReconnectDelayMs/);
  });
});
