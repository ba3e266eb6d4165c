// The gateway's pieces on their own, from source: store URLs, configuration precedence, header rules, log and metric text.

import { describe, expect, it } from 'vitest';
import { loggablePath } from '../src/access-log';
import { CommandError, UsageError } from '../src/cli-args';
import { parseMetrics, resolveServeConfig } from '../src/cli-serve';
import { clientResponseHeaderList, upstreamRequestHeaders } from '../src/forward-headers';
import { GatewayMetrics } from '../src/metrics';
import { parseUpstream } from '../src/proxy';
import { parseStoreUrl, redactStoreUrl, StoreUrlError } from '../src/store-url';
import { Tracked } from '../src/tracked';


/** `url` is refused with a StoreUrlError of one line that never shows the password `pw`. */
function expectRefused(url: string): void {
  let error: unknown;
  try {
    parseStoreUrl(url);
  } catch (caught) {
    error = caught;
  }
  expect(error, url).toBeInstanceOf(StoreUrlError);
  expect((error as Error).message, url).not.toContain('\n');
  expect((error as Error).message, url).not.toContain('pw@');
}

describe('store URLs', () => {
  it('reads sqlite paths, relative to the working directory', () => {
    expect(parseStoreUrl('sqlite:./.finora/keys.db', '/srv/app')).toEqual({ kind: 'sqlite', path: '/srv/app/.finora/keys.db', url: 'sqlite:./.finora/keys.db' });
    expect(parseStoreUrl('sqlite:/var/lib/finora/keys.db', '/srv')).toMatchObject({ path: '/var/lib/finora/keys.db' });
    expect(parseStoreUrl('sqlite:///var/lib/keys.db', '/srv')).toMatchObject({ path: '/var/lib/keys.db' });
    expect(parseStoreUrl('SQLITE:keys.db', '/srv')).toMatchObject({ kind: 'sqlite', path: '/srv/keys.db' });
    expect(parseStoreUrl('sqlite::memory:', '/srv')).toMatchObject({ path: ':memory:' });
  });

  it('reads redis and postgres URLs, taking ?prefix= and ?schema= off what the driver sees', () => {
    expect(parseStoreUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379', driverUrl: 'redis://127.0.0.1:6379' });
    expect(parseStoreUrl('rediss://cache.internal:6380/2?prefix=%7Bacme%7D%3A')).toMatchObject({
      kind: 'redis',
      driverUrl: 'rediss://cache.internal:6380/2',
      prefix: '{acme}:',
    });
    expect(parseStoreUrl('postgresql://u:p@db/keys?schema=auth&sslmode=require')).toMatchObject({
      kind: 'postgres',
      driverUrl: 'postgresql://u:p@db/keys?sslmode=require',
      schema: 'auth',
    });
    expect(parseStoreUrl('postgres://db/keys')).toMatchObject({ kind: 'postgres', driverUrl: 'postgres://db/keys' });
  });

  it('reads ?cluster as a Redis Cluster: the URL node and the listed ones are seeds, its credentials and TLS go to every node', () => {
    expect(parseStoreUrl('redis://127.0.0.1:7000?cluster')).toMatchObject({ kind: 'redis', cluster: ['redis://127.0.0.1:7000'], clusterOptions: {} });
    expect(parseStoreUrl('rediss://app:p%40ss@n1.internal:7000?cluster=n2.internal:7001,%20n1.internal:7000&prefix=acme:')).toMatchObject({
      kind: 'redis',
      prefix: 'acme:',
      cluster: ['redis://n1.internal:7000', 'redis://n2.internal:7001'],
      clusterOptions: { username: 'app', password: 'p@ss', tls: {} },
    });
    for (const url of ['redis://:pw@h:7000?cluster=h2', 'redis://:pw@h:7000?cluster=h2:99999', 'redis://:pw@h:7000/3?cluster', 'redis://:pw@h:7000?cluster=a:1/x']) {
      expectRefused(url);
    }
  });

  it('refuses anything else with one line that never shows a password', () => {
    for (const url of ['', '   ', 'mysql://root:pw@db/x', 'keys.db', 'sqlite:', 'redis://', 'postgres://:pw@/x']) expectRefused(url);
  });

  it('redacts passwords and secret-looking parameters', () => {
    expect(redactStoreUrl('postgres://app:s3cret@db:5432/keys')).toBe('postgres://app:***@db:5432/keys');
    expect(redactStoreUrl('redis://:s3cret@cache:6379')).toBe('redis://:***@cache:6379');
    expect(redactStoreUrl('postgres://db/keys?password=s3cret')).not.toContain('s3cret');
    expect(redactStoreUrl('not a url s3cret')).not.toContain('s3cret');
  });
});

describe('serve configuration', () => {
  const cwd = '/srv';

  it('uses defaults when nothing is given', () => {
    expect(resolveServeConfig({}, {}, cwd)).toEqual({
      port: 8787,
      host: '127.0.0.1',
      forwardAuth: false,
      store: { kind: 'sqlite', path: '/srv/.finora/keys.db', url: 'sqlite:./.finora/keys.db' },
      upstream: undefined,
      upstreamTimeoutMs: 30_000,
      metrics: true,
      accessLog: 'stdout',
      maxHeaderSize: 16_384,
      maxBodySize: 1_048_576,
      shutdownTimeoutMs: 10_000,
      seed: true,
      throttleFailures: 0,
      throttleWindowMs: 60_000,
    });
  });

  it('prefers flags, then environment variables, then defaults', () => {
    const env = {
      PORT: '9000',
      FINORA_AUTH_STORE: 'redis://cache:6379',
      FINORA_AUTH_UPSTREAM: 'http://api.internal:3000',
      FINORA_AUTH_METRICS: 'off',
      FINORA_AUTH_UPSTREAM_TIMEOUT_MS: '5000',
      FINORA_AUTH_ACCESS_LOG: 'stderr',
    };
    const fromEnv = resolveServeConfig({}, env, cwd);
    expect(fromEnv).toMatchObject({ port: 9000, upstream: 'http://api.internal:3000', metrics: false, upstreamTimeoutMs: 5000, accessLog: 'stderr' });
    expect(fromEnv.store.kind).toBe('redis');
    expect(fromEnv.seed).toBe(false); // never a demo account in a shared store, unless asked

    const fromFlags = resolveServeConfig(
      { port: '7000', store: 'sqlite:k.db', upstream: 'https://api.example', metrics: '9100', 'upstream-timeout': '100', 'access-log': 'off', seed: false },
      env,
      cwd,
    );
    expect(fromFlags).toMatchObject({
      port: 7000,
      store: { kind: 'sqlite', path: '/srv/k.db' },
      upstream: 'https://api.example',
      metrics: { port: 9100 },
      upstreamTimeoutMs: 100,
      accessLog: 'off',
      seed: false,
    });
    expect(resolveServeConfig({ seed: true }, env, cwd).seed).toBe(true);
  });

  it('names the flag or variable of a bad value', () => {
    expect(() => resolveServeConfig({ port: 'http' }, {}, cwd)).toThrow(new UsageError('--port must be a whole number; got "http"'));
    expect(() => resolveServeConfig({}, { PORT: '70000' }, cwd)).toThrow(/PORT must be between 0 and 65535/);
    expect(() => resolveServeConfig({}, { FINORA_AUTH_UPSTREAM: 'api.internal' }, cwd)).toThrow(/FINORA_AUTH_UPSTREAM: upstream must be/);
    expect(() => resolveServeConfig({ metrics: 'sometimes' }, {}, cwd)).toThrow(/--metrics must be on, off, PORT or HOST:PORT/);
    expect(() => resolveServeConfig({ 'access-log': 'file' }, {}, cwd)).toThrow(/--access-log must be one of stdout, stderr, off/);
    expect(() => resolveServeConfig({ store: 'ftp://x' }, {}, cwd)).toThrow(UsageError);
  });

  it('reads --metrics places', () => {
    expect(parseMetrics('on', 'm')).toBe(true);
    expect(parseMetrics('OFF', 'm')).toBe(false);
    expect(parseMetrics('9100', 'm')).toEqual({ port: 9100 });
    expect(parseMetrics('127.0.0.1:9100', 'm')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseMetrics('[::1]:9100', 'm')).toEqual({ host: '::1', port: 9100 });
    expect(() => parseMetrics('0', 'm')).toThrow(UsageError);
  });

  it('checks upstream URLs', () => {
    expect(parseUpstream('http://127.0.0.1:3000/api').pathname).toBe('/api');
    for (const bad of ['127.0.0.1:3000', 'ftp://x', 'http://x/?q=1', 'http://u:p@x']) expect(() => parseUpstream(bad), bad).toThrow(TypeError);
    expect(CommandError).toBeDefined();
  });
});

describe('forwarded headers', () => {
  const identity = { accountId: 'acme', keyId: 'key_1', environment: 'live', module: 'invoices' };
  const context = { upstreamHost: 'api.internal:3000', clientHost: 'gw.example', clientProto: 'https', clientAddress: '10.0.0.7' };

  it('drops credentials, spoofed identity, hop-by-hop and Connection-named headers; adds identity and forwarding headers', () => {
    const { headers, chunked } = upstreamRequestHeaders(
      [
        'Host', 'gw.example',
        'Authorization', 'Bearer whatever',
        'FINORA-ACCOUNT-ID', 'evil',
        'finora-module', 'payments',
        'Connection', 'close, X-Hop',
        'X-Hop', '1',
        'Keep-Alive', '5',
        'TE', 'trailers',
        'Upgrade', 'websocket',
        'Proxy-Authorization', 'Basic x',
        'Expect', '100-continue',
        'X-Forwarded-For', '1.2.3.4',
        'Accept', 'a/b',
        'Accept', 'c/d',
      ],
      identity,
      context,
    );
    expect(chunked).toBe(false);
    expect(headers).toEqual([
      'Host', 'api.internal:3000',
      'Finora-Account-Id', 'acme',
      'Finora-Key-Id', 'key_1',
      'Finora-Environment', 'live',
      'Finora-Module', 'invoices',
      'Accept', 'a/b',
      'Accept', 'c/d',
      'X-Forwarded-For', '1.2.3.4, 10.0.0.7',
      'X-Real-IP', '10.0.0.7',
      'X-Forwarded-Host', 'gw.example',
      'X-Forwarded-Proto', 'https',
    ]);
  });

  it('reports a chunked body (the HTTP client frames it again), and leaves Finora-Module out for a module-less request', () => {
    const { headers, chunked } = upstreamRequestHeaders(['Transfer-Encoding', 'chunked'], { ...identity, module: undefined }, context);
    expect(chunked).toBe(true);
    expect(headers.map((name) => name.toLowerCase())).not.toContain('transfer-encoding');
    expect(headers.map((name) => name.toLowerCase())).not.toContain('finora-module');
  });

  it('drops the upstream\'s hop-by-hop response headers', () => {
    expect(
      clientResponseHeaderList({
        'content-type': 'text/plain',
        connection: 'keep-alive, X-Up-Hop',
        'x-up-hop': '1',
        'transfer-encoding': 'chunked',
        'keep-alive': 'timeout=5',
        'set-cookie': ['a=1', 'b=2'],
      }),
    ).toEqual(['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
  });
});

describe('logged paths', () => {
  it('drop the query and mask anything key-like, whole, cut short or percent-encoded', () => {
    const hex = 'ab'.repeat(24);
    expect(loggablePath('/v1/invoices?api_key=secret')).toBe('/v1/invoices');
    expect(loggablePath(`/v1/invoices/live_sk_${hex}`)).toBe('/v1/invoices/[redacted]');
    expect(loggablePath(`/x/TEST_SK_${hex.slice(0, 10)}/y`)).toBe('/x/[redacted]/y');
    expect(loggablePath(`/x/live%5Fsk%5F${hex}`)).toBe('/x/[redacted]');
    expect(loggablePath(`/${'a'.repeat(5000)}`).length).toBeLessThan(1100);
  });
});

describe('metrics text', () => {
  it('renders counters and cumulative histograms in the Prometheus text format', () => {
    const metrics = new GatewayMetrics(() => 3);
    metrics.recordDecision({ outcome: 'allowed', status: 200, reason: 'ok', cache: 'hit', durationMs: 1, keyHint: 'live_sk_…abcd', keyId: 'key_1' });
    metrics.recordDecision({ outcome: 'refused', status: 401, code: 'INVALID_API_KEY', reason: 'revoked', cache: 'miss', durationMs: 1 });
    metrics.recordDecision({ outcome: 'refused', status: 401, code: 'MISSING_API_KEY', reason: 'missing', cache: 'none', durationMs: 0 });
    metrics.storeLookups.observe(0.002, { result: 'found' });
    metrics.storeLookups.observe(0.2, { result: 'found' });
    const text = metrics.render();
    expect(text).toContain('finora_auth_decisions_total{outcome="allowed",code="OK",reason="ok"} 1');
    expect(text).toContain('finora_auth_decisions_total{outcome="refused",code="INVALID_API_KEY",reason="revoked"} 1');
    expect(text).toContain('finora_auth_cache_lookups_total{result="hit"} 1');
    expect(text).not.toContain('result="none"');
    expect(text).toContain('finora_auth_store_lookup_duration_seconds_bucket{result="found",le="0.0025"} 1');
    expect(text).toContain('finora_auth_store_lookup_duration_seconds_bucket{result="found",le="0.25"} 2');
    expect(text).toContain('finora_auth_store_lookup_duration_seconds_bucket{result="found",le="+Inf"} 2');
    expect(text).toContain('finora_auth_store_lookup_duration_seconds_count{result="found"} 2');
    expect(text).toContain('finora_auth_http_requests_in_flight 3');
    expect(text).not.toContain('abcd');
    expect(text).not.toContain('key_1');
    expect(text.endsWith('\n')).toBe(true);
  });
});

describe('tracked objects', () => {
  it('adds, deletes and iterates (deleting the current item is safe), and refuses an object tracked elsewhere', () => {
    const list = new Tracked<{ id: number }>();
    const items = [1, 2, 3, 4].map((id) => ({ id }));
    for (const item of items) list.add(item);
    list.add(items[0] as { id: number }); // already in: no change
    expect(list.size).toBe(4);
    list.delete(items[2] as { id: number });
    list.delete(items[2] as { id: number }); // already out: no change
    expect([...list].map((item) => item.id).sort()).toEqual([1, 2, 4]);
    for (const item of list) list.delete(item);
    expect(list.size).toBe(0);
    expect([...list]).toEqual([]);
    const other = new Tracked<{ id: number }>();
    other.add(items[1] as { id: number });
    expect(() => list.add(items[1] as { id: number })).toThrow(/tracked twice/);
    other.delete(items[1] as { id: number });
    list.add(items[1] as { id: number });
    expect(list.size).toBe(1);
  });
});
