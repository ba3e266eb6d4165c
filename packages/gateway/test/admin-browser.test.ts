// The admin console in Debian's Chromium (playwright-core): the flows an operator clicks through, against a running gateway.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyManager } from '@finora-auth/core';
import { SqliteKeyStore } from '@finora-auth/sqlite';
import { adminToken } from './admin-support';
import { ensureBuilt, eventually, KEY_PATTERN, startServe, tempDir, type ServeHandle, type TempDir } from './support';

/** Debian's package `chromium`; .ci/run installs it when missing. A missing browser fails these tests, never skips them. */
function chromiumPath(): string {
  if (process.env.FINORA_CHROMIUM) return process.env.FINORA_CHROMIUM;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('Chromium is missing: install Debian\'s "chromium" package (apt-get install chromium), or set FINORA_CHROMIUM');
  }
}

let browser: Browser;
let temp: TempDir;
let serve: ServeHandle;
/** The same SQLite file the running `serve` uses, for checks behind the console's back. */
let store: SqliteKeyStore;
const token = adminToken() + adminToken();

// The real `finora-auth serve --admin-token-file`: the console and the API on one port, one store.
beforeAll(async () => {
  const executablePath = chromiumPath();
  ensureBuilt();
  temp = tempDir();
  writeFileSync(join(temp.dir, 'admin-token'), `${token}\n`, { mode: 0o600 });
  const path = join(temp.dir, 'console.db');
  serve = await startServe(['--store', `sqlite:${path}`, '--no-seed', '--access-log', 'off', '--admin-token-file', join(temp.dir, 'admin-token')]);
  store = new SqliteKeyStore({ path });
  browser = await chromium.launch({ executablePath, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await store?.close();
  temp?.remove();
});

interface Session {
  context: BrowserContext;
  page: Page;
  /** Every alert/prompt a page raised (confirm dialogs are answered and not counted). */
  alerts: string[];
  /** Console errors, CSP violations among them. */
  errors: string[];
}

async function loggedIn(): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(5_000);
  const page = await context.newPage();
  const alerts: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (dialog) => {
    if (dialog.type() === 'confirm') void dialog.accept();
    else {
      alerts.push(dialog.message());
      void dialog.dismiss();
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${serve.url}/admin/`);
  // Keyboard only: the token field has focus, Enter submits.
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('token');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor();
  return { context, page, alerts, errors };
}

async function createAccount(page: Page, id: string, tier: 'free' | 'premium' | 'accountant_pro'): Promise<void> {
  await page.goto(`${serve.url}/admin/`);
  await page.getByLabel('Account id').fill(id);
  await page.locator('#new-tier').selectOption(tier);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: `Account ${id}` }).waitFor();
}

async function generateKey(page: Page, name: string, environment: 'live' | 'test' = 'live'): Promise<string> {
  await page.getByLabel('Name (one key per integration)').fill(name);
  await page.locator('#key-env').selectOption(environment);
  await page.getByRole('button', { name: 'Generate Key' }).click();
  await page.getByText('Store it now.').waitFor();
  const key = (await page.locator('#secret').textContent())?.trim() ?? '';
  expect(key).toMatch(/^(live|test)_sk_[0-9a-f]{48}$/);
  return key;
}

async function call(key: string): Promise<number> {
  const response = await fetch(`${serve.url}/v1/invoices`, { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

function keyRow(page: Page, name: string) {
  return page.locator('tr[data-key-id]', { has: page.locator('td.name', { hasText: name }) });
}

describe('the admin console in Chromium', () => {
  it('logs in, creates an account, generates a key the gateway accepts, revokes it and the gateway refuses it within 1 s', async () => {
    const { context, page, errors } = await loggedIn();
    try {
      await createAccount(page, 'acme', 'premium');
      const key = await generateKey(page, 'bookkeeping');
      expect(await call(key)).toBe(200);
      await page.getByRole('link', { name: 'Done: back to the account' }).click();
      expect(await page.content()).not.toContain(key);
      await keyRow(page, 'bookkeeping').getByRole('button', { name: 'Revoke' }).click();
      await page.locator('p.notice', { hasText: 'revoked' }).waitFor();
      const took = await eventually(async () => (await call(key)) === 401, 1_000);
      expect(took).toBeLessThan(1_000);
      await expect.poll(() => keyRow(page, 'bookkeeping').textContent()).toContain('Revoked');
      // History holds no reveal: going back lands on pages fetched by GET, none with the key.
      await page.goBack();
      expect(await page.content()).not.toContain(key);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('rotates a key: the new one shown once, the old one listed as still valid, both accepted until the old is revoked', async () => {
    const { context, page } = await loggedIn();
    try {
      await createAccount(page, 'rotator', 'accountant_pro');
      const old = await generateKey(page, 'warehouse');
      await page.getByRole('link', { name: 'Done: back to the account' }).click();
      await keyRow(page, 'warehouse').getByRole('button', { name: 'Rotate' }).click();
      await page.getByText('Store it now.').waitFor();
      const fresh = (await page.locator('#secret').textContent())?.trim() ?? '';
      expect(fresh).toMatch(KEY_PATTERN);
      expect(fresh).not.toBe(old);
      await page.getByRole('heading', { name: 'The old key is still valid' }).waitFor();
      const oldRow = page.locator('section', { hasText: 'The old key is still valid' }).locator('tr[data-key-id]');
      expect(await oldRow.textContent()).toContain('Valid');
      expect(await call(old)).toBe(200);
      expect(await call(fresh)).toBe(200);
      await oldRow.getByRole('button', { name: 'Revoke' }).click();
      await page.locator('p.notice', { hasText: 'revoked' }).waitFor();
      await eventually(async () => (await call(old)) === 401, 1_000);
      expect(await call(fresh)).toBe(200);
    } finally {
      await context.close();
    }
  });

  it('a reload of a reveal page posts the form again but makes no second key and shows no key, only a link to the account', async () => {
    const { context, page } = await loggedIn();
    try {
      await createAccount(page, 'reloader', 'premium');
      const key = await generateKey(page, 'once-only');
      const [resent] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.reload()]);
      expect(resent.status()).toBe(409);
      await page.getByRole('heading', { name: 'Key already created' }).waitFor();
      expect(await page.content()).not.toMatch(KEY_PATTERN);
      await page.getByRole('link', { name: 'Open account reloader' }).click();
      await page.getByRole('heading', { name: 'Account reloader' }).waitFor();
      expect(await page.locator('tr[data-key-id]').count()).toBe(1);
      expect(await page.content()).not.toContain(key);
      expect(await createKeyManager({ store }).list('reloader')).toHaveLength(1);
      expect(await call(key)).toBe(200);
    } finally {
      await context.close();
    }
  });

  it('confirms a revoke without JavaScript on a confirmation page', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    context.setDefaultTimeout(5_000);
    const page = await context.newPage();
    try {
      await page.goto(`${serve.url}/admin/`);
      await page.getByLabel('Admin token').fill(token);
      await page.getByRole('button', { name: 'Log in' }).click();
      await createAccount(page, 'nojs', 'premium');
      const key = await generateKey(page, 'kiosk');
      await page.getByRole('link', { name: 'Done: back to the account' }).click();
      await keyRow(page, 'kiosk').getByRole('button', { name: 'Revoke' }).click();
      await page.getByRole('heading', { name: 'Confirm' }).waitFor();
      expect(await call(key)).toBe(200);
      await page.getByRole('button', { name: 'Revoke key' }).click();
      await page.locator('p.notice', { hasText: 'revoked' }).waitFor();
      expect(await call(key)).toBe(401);
    } finally {
      await context.close();
    }
  });

  it('the script: the copy button copies the key, and a dismissed confirmation revokes nothing', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(5_000);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: serve.url });
    const page = await context.newPage();
    try {
      await page.goto(`${serve.url}/admin/`);
      await page.getByLabel('Admin token').fill(token);
      await page.getByRole('button', { name: 'Log in' }).click();
      await createAccount(page, 'scripted', 'premium');
      const key = await generateKey(page, 'clipboard');
      await page.getByRole('button', { name: 'Copy to clipboard' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
      await page.getByRole('link', { name: 'Done: back to the account' }).click();
      const posts: string[] = [];
      page.on('request', (request) => {
        if (request.method() === 'POST') posts.push(request.url());
      });
      let asked = '';
      page.once('dialog', (dialog) => {
        asked = dialog.message();
        void dialog.dismiss();
      });
      await keyRow(page, 'clipboard').getByRole('button', { name: 'Revoke' }).click();
      await expect.poll(() => asked).toContain('Revoke this key?');
      // Nothing was posted: after a fresh load of the page no POST was ever sent, and the key still works.
      await page.reload();
      expect(posts).toEqual([]);
      expect(await keyRow(page, 'clipboard').textContent()).toContain('Valid');
      expect(await call(key)).toBe(200);
      expect((await createKeyManager({ store }).list('scripted'))[0]?.revokedAt).toBeUndefined();
    } finally {
      await context.close();
    }
  });

  it('shows a free account no Generate Key button, and says why', async () => {
    const { context, page } = await loggedIn();
    try {
      await createAccount(page, 'hobbyist', 'free');
      expect(await page.getByRole('button', { name: 'Generate Key' }).count()).toBe(0);
      expect(await page.locator('#no-keys-reason').textContent()).toContain('Free accounts cannot use the API');
    } finally {
      await context.close();
    }
  });

  it('refuses a POST without the CSRF token, and a cross-site form post, creating nothing', async () => {
    const { context, page } = await loggedIn();
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<form method="post" action="${serve.url}/admin/accounts"><input name="id" value="csrf-victim-2"><input name="tier" value="premium"><button>Win a prize</button></form>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      // The console's own form with its token removed.
      await page.evaluate(() => document.querySelectorAll('input[name="csrf"]').forEach((input) => input.remove()));
      await page.getByLabel('Account id').fill('csrf-victim-1');
      const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Create account' }).click()]);
      expect(refused.status()).toBe(403);
      await page.getByText('This form is stale or did not come from the console').waitFor();
      // Another site (localhost is not 127.0.0.1) posting to the console while the operator is logged in.
      await page.goto(`http://localhost:${(attacker.address() as AddressInfo).port}/`);
      const [crossSite] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Win a prize' }).click()]);
      expect(crossSite.status()).toBe(403);
      expect(await store.getAccount('csrf-victim-1')).toBeNull();
      expect(await store.getAccount('csrf-victim-2')).toBeNull();
    } finally {
      attacker.closeAllConnections();
      await new Promise((resolve) => attacker.close(resolve));
      await context.close();
    }
  });

  it('renders an injected key name inert: no script runs, the text is visible, the override is shown as an escape', async () => {
    const { context, page, alerts, errors } = await loggedIn();
    try {
      await createAccount(page, 'inject', 'premium');
      const name = '<img src=x onerror=alert(1)>\u202Egnp.exe';
      await generateKey(page, name, 'test');
      await page.getByRole('link', { name: 'Done: back to the account' }).click();
      const cell = page.locator('tr[data-key-id] td.name').first();
      await expect.poll(() => cell.innerText()).toContain('<img src=x onerror=alert(1)>\\u{202E}gnp.exe');
      expect(await cell.isVisible()).toBe(true);
      expect(await page.locator('main img').count()).toBe(0);
      expect(await page.evaluate(() => document.body.textContent?.includes('\u202E'))).toBe(false);
      expect(alerts).toEqual([]);
      expect(errors).toEqual([]);
      expect((await createKeyManager({ store: store }).list('inject'))[0]?.name).toBe(name);
    } finally {
      await context.close();
    }
  });

  it('is readable at 375 px: no page scrolls sideways', async () => {
    const { context, page } = await loggedIn();
    try {
      await page.setViewportSize({ width: 375, height: 800 });
      await createAccount(page, 'narrow-screen-account', 'premium');
      await generateKey(page, 'phone');
      for (const path of ['/admin/', '/admin/accounts/narrow-screen-account', '/admin/expiring']) {
        await page.goto(serve.url + path);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      }
    } finally {
      await context.close();
    }
  });
});
