// The admin console over HTTP: escaping, headers on every answer, login, sessions, throttle, CSRF, reveals, input errors.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKeyManager, MemoryKeyStore } from '@finora-auth/core';
import { createAdminConsole, CONTENT_SECURITY_POLICY, escapeHtml } from '../src/admin/index';
import { adminToken, ConsoleClient, csrfOf, once, onceOf, startConsole, type Answer, type ConsoleHandle } from './admin-support';
import { KEY_PATTERN } from './support';

let handle: ConsoleHandle | undefined;
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});

async function consoleWith(options: Parameters<typeof startConsole>[0] = {}) {
  handle = await startConsole(options);
  return { handle, client: new ConsoleClient(handle.url), manager: createKeyManager({ store: handle.store }) };
}

function expectSecurityHeaders(answer: Answer): void {
  expect(answer.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

describe('escapeHtml', () => {
  it('turns markup into text', () => {
    expect(escapeHtml('<img src=x onerror=alert(1)>')).toBe('&lt;img src=x onerror=alert(1)&gt;');
    expect(escapeHtml(`"'&\``)).toBe('&quot;&#39;&amp;&#96;');
  });

  it('shows control characters and bidi overrides as visible escapes', () => {
    expect(escapeHtml('pay\u202Eroll')).toBe('pay\\u{202E}roll');
    for (const char of ['\u202A', '\u202B', '\u202C', '\u202D', '\u2066', '\u2067', '\u2068', '\u2069', '\u200F', '\u0000', '\n', '\u001b', '\u0085']) {
      const out = escapeHtml(`a${char}b`);
      expect(out).not.toContain(char);
      expect(out).toMatch(/^a\\u\{[0-9A-F]+\}b$/);
    }
  });

  it('leaves ordinary text, including other scripts, as it is', () => {
    expect(escapeHtml('Facturación 請求書 فاتورة')).toBe('Facturación 請求書 فاتورة');
    expect(escapeHtml(undefined)).toBe('');
  });
});

describe('createAdminConsole', () => {
  it('refuses a short token, naming the option', () => {
    expect(() => createAdminConsole({ store: new MemoryKeyStore(), token: 'x'.repeat(31) })).toThrow(/token must be at least 32/);
  });
});

describe('the admin console over HTTP', () => {
  it('sends the CSP and the security headers on every answer: login, assets, pages, reveals, errors', async () => {
    const { handle, client } = await consoleWith();
    const answers: Answer[] = [await client.get('/admin/'), await client.get('/admin/assets/admin.css'), await client.get('/admin/assets/admin.js')];
    answers.push(await client.get('/admin/nope'), await client.post('/admin/login', { token: 'wrong' }));
    const csrf = await client.login(handle.token);
    answers.push(await client.get('/admin/'), await client.get('/admin/expiring'), await client.get('/admin/nope'));
    answers.push(await client.post('/admin/accounts', { csrf, id: 'acme', tier: 'premium' }));
    answers.push(await client.get('/admin/accounts/acme'), await client.get('/admin/accounts/missing'));
    answers.push(await client.post('/admin/accounts/acme/keys', { csrf, once: once(), name: 'books', environment: 'test' }));
    answers.push(await client.post('/admin/accounts', { id: 'no-csrf', tier: 'premium' }));
    for (const answer of answers) expectSecurityHeaders(answer);
    expect(answers[1]!.headers.get('content-type')).toMatch(/^text\/css/);
    expect(answers[2]!.headers.get('content-type')).toMatch(/^text\/javascript/);
    // No inline script or style anywhere (the CSP would block it; the pages must not need it).
    for (const answer of answers.filter((a) => a.headers.get('content-type')?.startsWith('text/html'))) {
      expect(answer.body).not.toMatch(/<script>|<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=/i);
    }
  });

  it('logs in with the token and sets an HttpOnly, SameSite=Strict session cookie on /admin/ (not Secure over plain HTTP)', async () => {
    const { handle, client } = await consoleWith();
    const wrong = await client.post('/admin/login', { token: adminToken() });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const right = await client.post('/admin/login', { token: handle.token });
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/admin/');
    const cookie = right.headers.get('set-cookie') as string;
    expect(cookie).toMatch(/^finora_admin=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/admin/');
    expect(cookie).not.toContain('Secure');
    expect((await client.get('/admin/')).body).toContain('Create an account');
  });

  it('marks the cookie Secure when the request came over TLS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'finora-admin-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const token = adminToken();
      const admin = createAdminConsole({ store: new MemoryKeyStore(), token });
      const server = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => void admin.handle(req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
      try {
        const response = await undiciFetch(`https://127.0.0.1:${(server.address() as AddressInfo).port}/admin/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }).toString(),
          redirect: 'manual',
          dispatcher,
        });
        expect(response.status).toBe(303);
        expect(response.headers.get('set-cookie')).toMatch(/; Secure$/);
      } finally {
        await dispatcher.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throttles failed logins per client address with 429 and Retry-After, even for the right token, until the window ends', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const { handle, client } = await consoleWith({ now: () => clock, loginThrottle: { failures: 3, windowMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect((await client.post('/admin/login', { token: adminToken() })).status).toBe(401);
    const throttled = await client.post('/admin/login', { token: handle.token });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.headers.get('set-cookie')).toBeNull();
    clock += 60_000;
    expect((await client.post('/admin/login', { token: handle.token })).status).toBe(303);
  });

  it('ends a session after its idle time and after its absolute lifetime', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const { handle, client } = await consoleWith({ now: () => clock, sessions: { idleMs: 60_000, absoluteMs: 150_000 } });
    await client.login(handle.token);
    clock += 59_000;
    expect((await client.get('/admin/expiring')).status).toBe(200);
    clock += 59_000;
    expect((await client.get('/admin/expiring')).status).toBe(200);
    clock += 59_000; // 177 s after login: past the absolute lifetime though never idle for long
    const ended = await client.get('/admin/expiring');
    expect(ended.status).toBe(401);
    expect(ended.body).toContain('Admin token');
    await client.login(handle.token);
    clock += 61_000;
    expect((await client.get('/admin/expiring')).status).toBe(401);
  });

  it('ends the session on log out: the old cookie opens nothing any more', async () => {
    const { handle, client } = await consoleWith();
    const csrf = await client.login(handle.token);
    const old = client.cookie as string;
    const out = await client.post('/admin/logout', { csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^finora_admin=; .*Max-Age=0/);
    expect((await client.request('/admin/expiring', { headers: { cookie: old } })).status).toBe(401);
  });

  it('refuses a POST without the CSRF token, with a wrong one, or from another origin, and changes nothing', async () => {
    const { handle, client } = await consoleWith();
    const csrf = await client.login(handle.token);
    const attempts = [
      await client.post('/admin/accounts', { id: 'evil1', tier: 'premium' }),
      await client.post('/admin/accounts', { csrf: csrf.slice(0, -2) + 'xx', id: 'evil2', tier: 'premium' }),
      await client.post('/admin/accounts', { csrf, id: 'evil3', tier: 'premium' }, { origin: 'https://attacker.example' }),
      await client.post('/admin/accounts', { csrf, id: 'evil4', tier: 'premium' }, { 'sec-fetch-site': 'cross-site' }),
    ];
    for (const answer of attempts) expect(answer.status).toBe(403);
    for (const id of ['evil1', 'evil2', 'evil3', 'evil4']) expect(await handle.store.getAccount(id)).toBeNull();
    const another = new ConsoleClient(handle.url);
    const otherCsrf = await another.login(handle.token);
    expect((await client.post('/admin/accounts', { csrf: otherCsrf, id: 'evil5', tier: 'premium' })).status).toBe(403);
    const ok = await client.post('/admin/accounts', { csrf, id: 'fine', tier: 'premium' }, { origin: handle.url, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(await handle.store.getAccount('fine')).toMatchObject({ tier: 'premium', enterprise: false });
  });

  it('refuses every action without a session', async () => {
    const { handle, client } = await consoleWith();
    await createKeyManager({ store: handle.store }).putAccount({ id: 'acme', tier: 'premium' });
    const answer = await client.post('/admin/accounts/acme/keys', { csrf: 'anything', name: 'x', environment: 'live' });
    expect(answer.status).toBe(403);
    expect(answer.body).not.toMatch(KEY_PATTERN);
    expect(await createKeyManager({ store: handle.store }).list('acme')).toEqual([]);
  });

  it('shows a generated key once, in the answer to the POST, and in no page after it', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const reveal = await client.post('/admin/accounts/acme/keys', { csrf, once: once(), name: 'bookkeeping', environment: 'live', scopes: 'invoices:read' });
    expect(reveal.status).toBe(200);
    expect(reveal.headers.get('location')).toBeNull();
    const keys = reveal.body.match(KEY_PATTERN) ?? [];
    expect(keys).toHaveLength(1);
    expect(reveal.body).toContain('Store it now');
    const [info] = await manager.list('acme');
    expect(info).toMatchObject({ name: 'bookkeeping', environment: 'live', scopes: ['invoices:read'] });
    const rotated = await client.post(`/admin/accounts/acme/keys/${info!.id}/rotate`, { csrf, once: once(), confirm: 'yes' });
    expect(rotated.status).toBe(200);
    const newKeys = rotated.body.match(KEY_PATTERN) ?? [];
    expect(newKeys).toHaveLength(1);
    expect(newKeys[0]).not.toBe(keys[0]);
    expect(rotated.body).toContain('The old key is still valid');
    for (const path of ['/admin/', '/admin/accounts/acme', '/admin/expiring', '/admin/open?account=acme']) {
      const page = await client.get(path);
      expect(page.body).not.toMatch(KEY_PATTERN);
    }
  });

  it('asks for confirmation before a revoke posted without it, then revokes', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acme', environment: 'test', name: 'pos' });
    const ask = await client.post(`/admin/accounts/acme/keys/${key.id}/revoke`, { csrf });
    expect(ask.status).toBe(200);
    expect(ask.body).toContain('Revoke key');
    expect(csrfOf(ask.body)).toBe(csrf);
    expect((await manager.list('acme'))[0]!.revokedAt).toBeUndefined();
    const done = await client.post(`/admin/accounts/acme/keys/${key.id}/revoke`, { csrf, confirm: 'yes' });
    expect(done.status).toBe(303);
    expect((await manager.list('acme'))[0]!.revokedAt).toBeInstanceOf(Date);
    const page = await client.get('/admin/accounts/acme');
    expect(page.body).toContain('revoked');
    // A revoked key cannot be rotated: a clear message, no key.
    const rotate = await client.post(`/admin/accounts/acme/keys/${key.id}/rotate`, { csrf, once: once(), confirm: 'yes' });
    expect(rotate.status).toBe(409);
    expect(rotate.body).toContain('a revoked key cannot be rotated');
    expect(rotate.body).not.toMatch(KEY_PATTERN);
  });

  it('will not act on a key of another account', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    await manager.putAccount({ id: 'other', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'other', environment: 'test', name: 'theirs' });
    expect((await client.post(`/admin/accounts/acme/keys/${key.id}/revoke`, { csrf, confirm: 'yes' })).status).toBe(404);
    expect((await manager.list('other'))[0]!.revokedAt).toBeUndefined();
  });

  it('gives bad input a clear message with the form refilled', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const empty = await client.post('/admin/accounts/acme/keys', { csrf, once: once(), name: '  ', environment: 'live', scopes: 'reports:read' });
    expect(empty.status).toBe(400);
    expect(empty.body).toContain('Give the key a name');
    expect(empty.body).toContain('value="reports:read"');
    const unknown = await client.post('/admin/accounts/acme/keys', { csrf, once: once(), name: 'bi', environment: 'live', scopes: 'invoices:read telepathy:read' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('&quot;telepathy:read&quot; is not a scope');
    expect(unknown.body).toContain('value="bi"');
    expect(unknown.body).toContain('value="invoices:read telepathy:read"');
    const badId = await client.post('/admin/accounts', { csrf, id: ' ', tier: 'premium' });
    expect(badId.status).toBe(400);
    expect(badId.body).toContain('An account id is');
    const again = await client.post('/admin/accounts', { csrf, id: 'acme', tier: 'free', enterprise: 'yes' });
    expect(again.status).toBe(400);
    expect(again.body).toContain('already exists');
    expect(await handle.store.getAccount('acme')).toMatchObject({ tier: 'premium' });
    expect(await manager.list('acme')).toEqual([]);
  });

  it('asks for confirmation before downgrading to free an account with valid keys', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    await manager.issue({ accountId: 'acme', environment: 'live', name: 'pos' });
    const refused = await client.post('/admin/accounts/acme/settings', { csrf, tier: 'free' });
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('1 valid key');
    expect(refused.body).toMatch(/name="confirm" value="yes" required/);
    expect(await handle.store.getAccount('acme')).toMatchObject({ tier: 'premium' });
    expect((await client.post('/admin/accounts/acme/settings', { csrf, tier: 'free', confirm: 'yes' })).status).toBe(303);
    expect(await handle.store.getAccount('acme')).toMatchObject({ tier: 'free' });
    // Upgrading and provisioning needs no confirmation.
    expect((await client.post('/admin/accounts/acme/settings', { csrf, tier: 'accountant_pro', enterprise: 'yes' })).status).toBe(303);
    expect(await handle.store.getAccount('acme')).toMatchObject({ tier: 'accountant_pro', enterprise: true });
  });

  it('offers a free account no key generation, says why, and refuses a forged generate POST', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'hobby', tier: 'free' });
    const page = await client.get('/admin/accounts/hobby');
    expect(page.body).not.toContain('Generate Key');
    expect(page.body).toContain('Free accounts cannot use the API');
    const forged = await client.post('/admin/accounts/hobby/keys', { csrf, once: once(), name: 'sneaky', environment: 'live' });
    expect(forged.status).toBe(400);
    expect(forged.body).not.toMatch(KEY_PATTERN);
    expect(await manager.list('hobby')).toEqual([]);
  });

  it('creates, rotates and revokes service accounts of an enterprise account, showing each secret once', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'bank', tier: 'accountant_pro', enterprise: true });
    const made = await client.post('/admin/accounts/bank/service-accounts', { csrf, once: once(), name: 'ledger sync', environment: 'test', scopes: 'payments:write' });
    expect(made.status).toBe(200);
    const secrets = made.body.match(/(live|test)_cs_[0-9a-f]{48}/g) ?? [];
    expect(secrets).toHaveLength(1);
    const [sa] = await manager.listServiceAccounts('bank');
    expect(sa).toMatchObject({ name: 'ledger sync', scopes: ['payments:write'] });
    const rotated = await client.post(`/admin/accounts/bank/service-accounts/${sa!.clientId}/rotate`, { csrf, once: once(), confirm: 'yes' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatch(/test_cs_[0-9a-f]{48}/);
    expect(rotated.body).not.toContain(secrets[0]);
    const page = await client.get('/admin/accounts/bank');
    expect(page.body).toContain(sa!.clientId);
    expect(page.body).not.toMatch(/_cs_[0-9a-f]{48}/);
    expect((await client.post(`/admin/accounts/bank/service-accounts/${sa!.clientId}/revoke`, { csrf, confirm: 'yes' })).status).toBe(303);
    expect((await manager.listServiceAccounts('bank'))[0]!.revokedAt).toBeInstanceOf(Date);
  });

  it('lists keys expiring within 14 days across accounts', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const { handle, client } = await consoleWith({ now: () => clock });
    const manager = createKeyManager({ store: handle.store, now: () => clock });
    await manager.putAccount({ id: 'a1', tier: 'premium' });
    await manager.putAccount({ id: 'a2', tier: 'accountant_pro' });
    await manager.issue({ accountId: 'a1', environment: 'live', name: 'old-one' });
    clock += 80 * 86_400_000;
    await manager.issue({ accountId: 'a2', environment: 'test', name: 'new-one' });
    await client.login(handle.token);
    const page = (await client.get('/admin/expiring')).body;
    expect(page).toContain('old-one');
    expect(page).not.toContain('new-one');
    expect(page).toContain('href="/admin/accounts/a1"');
  });

  it('lists accounts with tier, provisioning and credits', async () => {
    const { handle, client, manager } = await consoleWith();
    await manager.putAccount({ id: 'zeta', tier: 'free' });
    await manager.putAccount({ id: 'alpha', tier: 'accountant_pro', enterprise: true });
    await manager.grantCredits('alpha', 250);
    await client.login(handle.token);
    const page = (await client.get('/admin/')).body;
    const rows = [...page.matchAll(/<tr><td[^>]*><a href="\/admin\/accounts\/([^"]+)">[^<]*<\/a><\/td><td[^>]*>([^<]*)<\/td><td[^>]*>([^<]*)<\/td><td[^>]*>([^<]*)<\/td><\/tr>/g)].map((m) => m.slice(1));
    expect(rows).toEqual([
      ['alpha', 'Accountant Pro', 'Provisioned', '250'],
      ['zeta', 'Free', 'No', 'unmetered'],
    ]);
  });

  it('grants credits, refusing an amount that is not a whole number above 0', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    expect((await client.get('/admin/accounts/acme')).body).toContain('Balance: <strong>unmetered</strong>');
    for (const amount of ['0', '-5', '1.5', 'lots', '']) {
      const refused = await client.post('/admin/accounts/acme/credits', { csrf, once: once(), amount });
      expect(refused.status).toBe(400);
      expect(refused.body).toContain('a whole number above 0');
    }
    expect(await manager.credits('acme')).toEqual({ metered: false, balance: null });
    expect((await client.post('/admin/accounts/acme/credits', { csrf, once: once(), amount: '1000' })).status).toBe(303);
    expect((await client.post('/admin/accounts/acme/credits', { csrf, once: once(), amount: '500' })).status).toBe(303);
    expect(await manager.credits('acme')).toMatchObject({ metered: true, balance: 1500 });
    const page = (await client.get('/admin/accounts/acme')).body;
    expect(page).toContain('Granted 500 credits: the balance is 1500.');
    expect(page).toContain('Balance: <strong>1500</strong>');
  });

  it('charts usage per day with live and test apart, and the credits spent', async () => {
    const clock = Date.parse('2026-03-31T12:00:00Z');
    const { handle, client } = await consoleWith({ now: () => clock });
    const manager = createKeyManager({ store: handle.store, now: () => clock });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    await manager.putAccount({ id: 'other', tier: 'premium' });
    await handle.store.addUsage!([
      { day: '2026-03-30', accountId: 'acme', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 40, creditsSpent: 40 },
      { day: '2026-03-30', accountId: 'acme', keyId: 'key_a', environment: 'live', module: 'reports', allowed: 2, creditsSpent: 2 },
      { day: '2026-03-30', accountId: 'acme', keyId: 'key_b', environment: 'test', allowed: 7, creditsSpent: 0 },
      { day: '2026-03-02', accountId: 'acme', keyId: 'key_a', environment: 'live', allowed: 1, creditsSpent: 1 },
      { day: '2026-02-01', accountId: 'acme', keyId: 'key_a', environment: 'live', allowed: 900, creditsSpent: 900 },
      { day: '2026-03-30', accountId: 'other', keyId: 'key_c', environment: 'live', allowed: 5000, creditsSpent: 0 },
    ]);
    await client.login(handle.token);
    const page = (await client.get('/admin/accounts/acme')).body;
    expect(page).toContain('aria-label="Last 30 days: 43 live requests, 7 test requests, 43 credits spent."');
    expect(page).toContain('<title>2026-03-30: 42 live, 7 test, 42 credits</title>');
    expect(page).toContain('<title>2026-03-02: 1 live, 0 test, 1 credits</title>');
    expect(page).not.toContain('2026-02-01');
    expect(page.match(/<rect /g)).toHaveLength(60);
    expect(page).toContain('<tr><td>2026-03-30</td><td>42</td><td>7</td><td>42</td></tr>');
  });

  it('works on a store without the v2 listing and credits: says it cannot list, opens an account by id, shows no credits', async () => {
    const memory = new MemoryKeyStore();
    const missing = new Set<PropertyKey>(['listAccounts', 'getCredits', 'grantCredits', 'listUsage']);
    const v1Store = new Proxy(memory, {
      get(target, name) {
        if (missing.has(name)) return undefined;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { handle, client } = await consoleWith({ store: v1Store });
    await createKeyManager({ store: memory }).putAccount({ id: 'acme', tier: 'premium' });
    await client.login(handle.token);
    const accounts = (await client.get('/admin/')).body;
    expect(accounts).toContain('This store cannot list its accounts');
    const open = await client.get('/admin/open?account=acme');
    expect(open.status).toBe(303);
    expect(open.headers.get('location')).toBe('/admin/accounts/acme');
    const page = await client.get('/admin/accounts/acme');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Generate Key');
    expect(page.body).not.toContain('Grant credits');
    expect(page.body).not.toContain('<svg');
  });

  it('asks for confirmation before removing enterprise provisioning from an account with enterprise credentials', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
    await manager.issue({ accountId: 'bank', environment: 'live', surface: 'enterprise', name: 'bi' });
    await manager.createServiceAccount({ accountId: 'bank', environment: 'live', name: 'treasury' });
    const refused = await client.post('/admin/accounts/bank/settings', { csrf, tier: 'premium' });
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('1 enterprise key and 1 service account are refused for enterprise modules');
    expect(await handle.store.getAccount('bank')).toMatchObject({ enterprise: true });
    expect((await client.post('/admin/accounts/bank/settings', { csrf, tier: 'premium', confirm: 'yes' })).status).toBe(303);
    expect(await handle.store.getAccount('bank')).toMatchObject({ enterprise: false });
  });
});

/** A memory store whose `method` can be held (so a request stays in flight) or made to fail once; `getAccount` calls counted. */
function storeWith(method: 'insertKey' | 'grantCredits') {
  const memory = new MemoryKeyStore();
  const control = { failNext: false, held: [] as Array<() => void>, holding: false, calls: 0, accountReads: 0 };
  const store = new Proxy(memory, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name, target);
      if (typeof value !== 'function') return value;
      if (name === 'getAccount') control.accountReads++;
      if (name !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        control.calls++;
        if (control.holding) await new Promise<void>((resolve) => control.held.push(resolve));
        if (control.failNext) {
          control.failNext = false;
          throw new Error('connection refused');
        }
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return { store, control };
}

describe('a creating form sent twice (a reload of its answer, a double click)', () => {
  it('makes one key: the second answer says the key was already created, shows no key, and links to the account', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const nonce = onceOf((await client.get('/admin/accounts/acme')).body, '/admin/accounts/acme/keys');
    const form = { csrf, once: nonce, name: 'bookkeeping', environment: 'live' };
    const first = await client.post('/admin/accounts/acme/keys', form);
    expect(first.status).toBe(200);
    expect(first.body.match(KEY_PATTERN)).toHaveLength(1);
    const again = await client.post('/admin/accounts/acme/keys', form);
    expect(again.status).toBe(409);
    expect(again.body).toContain('Key already created');
    expect(again.body).not.toMatch(KEY_PATTERN);
    expect(again.body).toContain('href="/admin/accounts/acme"');
    const keys = await manager.list('acme');
    expect(keys).toHaveLength(1);
    expect(again.body).toContain(keys[0]!.hint);
    expectSecurityHeaders(again);
  });

  it('rotates once, through the no-JavaScript confirmation too: the confirmation carries the form nonce, a resend makes no third key', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acme', environment: 'live', name: 'pos' });
    const action = `/admin/accounts/acme/keys/${key.id}/rotate`;
    const nonce = onceOf((await client.get('/admin/accounts/acme')).body, action);
    const ask = await client.post(action, { csrf, once: nonce });
    expect(ask.status).toBe(200);
    expect(onceOf(ask.body, action)).toBe(nonce);
    expect(await manager.list('acme')).toHaveLength(1);
    expect((await client.post(action, { csrf, once: nonce, confirm: 'yes' })).body.match(KEY_PATTERN)).toHaveLength(1);
    const again = await client.post(action, { csrf, once: nonce, confirm: 'yes' });
    expect(again.status).toBe(409);
    expect(again.body).toContain('Key already rotated');
    expect(again.body).not.toMatch(KEY_PATTERN);
    expect(await manager.list('acme')).toHaveLength(2);
  });

  it('creates one service account and rotates its secret once, never showing a secret to the resend', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'bank', tier: 'accountant_pro', enterprise: true });
    const create = { csrf, once: onceOf((await client.get('/admin/accounts/bank')).body, '/admin/accounts/bank/service-accounts'), name: 'ledger', environment: 'live' };
    expect((await client.post('/admin/accounts/bank/service-accounts', create)).status).toBe(200);
    const resent = await client.post('/admin/accounts/bank/service-accounts', create);
    expect(resent.status).toBe(409);
    expect(resent.body).toContain('Service account already created');
    expect(resent.body).not.toMatch(/_cs_[0-9a-f]{48}/);
    const [sa, ...more] = await manager.listServiceAccounts('bank');
    expect(more).toEqual([]);
    const action = `/admin/accounts/bank/service-accounts/${sa!.clientId}/rotate`;
    const rotate = { csrf, once: onceOf((await client.get('/admin/accounts/bank')).body, action), confirm: 'yes' };
    expect((await client.post(action, rotate)).body).toMatch(/live_cs_[0-9a-f]{48}/);
    const hint = (await manager.listServiceAccounts('bank'))[0]!.secretHint;
    expect(hint).not.toBe(sa!.secretHint);
    const again = await client.post(action, rotate);
    expect(again.status).toBe(409);
    expect(again.body).toContain('Secret already rotated');
    expect(again.body).not.toMatch(/_cs_[0-9a-f]{48}/);
    expect((await manager.listServiceAccounts('bank'))[0]!.secretHint).toBe(hint);
  });

  it('grants credits once: the resend says they were already granted and the balance holds one grant', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const form = { csrf, once: onceOf((await client.get('/admin/accounts/acme')).body, '/admin/accounts/acme/credits'), amount: '500' };
    expect((await client.post('/admin/accounts/acme/credits', form)).status).toBe(303);
    const again = await client.post('/admin/accounts/acme/credits', form);
    expect(again.status).toBe(409);
    expect(again.body).toContain('This form already granted 500 credits');
    expect(await manager.credits('acme')).toMatchObject({ balance: 500 });
  });

  it('acts once on a double click: the second post waits for the first and is told what it made', async () => {
    const { store, control } = storeWith('insertKey');
    const { handle, client, manager } = await consoleWith({ store });
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const form = { csrf, once: onceOf((await client.get('/admin/accounts/acme')).body, '/admin/accounts/acme/keys'), name: 'twice', environment: 'test' };
    control.holding = true;
    const first = client.post('/admin/accounts/acme/keys', form);
    await vi.waitFor(() => expect(control.held).toHaveLength(1));
    const reads = control.accountReads;
    const second = client.post('/admin/accounts/acme/keys', form);
    // The second post has read the account, so (in the same turn) it has found the first one's nonce pending.
    await vi.waitFor(() => expect(control.accountReads).toBe(reads + 1));
    control.holding = false;
    for (const resolve of control.held.splice(0)) resolve();
    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 409]);
    expect(answers[1]!.body).toContain('Key already created');
    expect(answers[1]!.body).not.toMatch(KEY_PATTERN);
    expect(control.calls).toBe(1);
    expect(await manager.list('acme')).toHaveLength(1);
  });

  it('does not act again on a form whose first send met a store fault (it may have taken effect), and says so', async () => {
    const { store, control } = storeWith('grantCredits');
    const { handle, client, manager } = await consoleWith({ store });
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const form = { csrf, once: onceOf((await client.get('/admin/accounts/acme')).body, '/admin/accounts/acme/credits'), amount: '70' };
    control.failNext = true;
    const fault = await client.post('/admin/accounts/acme/credits', form);
    expect(fault.status).toBe(503);
    expect(fault.body).toContain('The key store did not answer');
    expect(fault.body).not.toContain('connection refused'); // the driver's own words stay out of the page
    const again = await client.post('/admin/accounts/acme/credits', form);
    expect(again.status).toBe(409);
    expect(again.body).toContain('may or may not have taken effect');
    expect(control.calls).toBe(1);
    // A fresh form from the page works.
    const fresh = { ...form, once: onceOf((await client.get('/admin/accounts/acme')).body, '/admin/accounts/acme/credits') };
    expect((await client.post('/admin/accounts/acme/credits', fresh)).status).toBe(303);
    expect(await manager.credits('acme')).toMatchObject({ balance: 70 });
  });

  it('lets a form refused for its input be corrected and sent with the same nonce, and refuses a creating form without one', async () => {
    const { handle, client, manager } = await consoleWith();
    const csrf = await client.login(handle.token);
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const nonce = once();
    expect((await client.post('/admin/accounts/acme/keys', { csrf, once: nonce, name: '', environment: 'live' })).status).toBe(400);
    expect((await client.post('/admin/accounts/acme/keys', { csrf, once: nonce, name: 'fixed', environment: 'live' })).status).toBe(200);
    for (const bad of [undefined, '', 'short']) {
      const fields: Record<string, string> = { csrf, name: 'no-nonce', environment: 'live', ...(bad === undefined ? {} : { once: bad }) };
      const refused = await client.post('/admin/accounts/acme/keys', fields);
      expect(refused.status).toBe(400);
      expect(refused.body).toContain('Form out of date');
    }
    expect((await client.post('/admin/accounts/acme/credits', { csrf, amount: '5' })).status).toBe(400);
    expect((await manager.list('acme')).map((key) => key.name)).toEqual(['fixed']);
    expect(await manager.credits('acme')).toMatchObject({ metered: false });
  });
});
