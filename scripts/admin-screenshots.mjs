// Screenshots of the admin console's main pages at 1280 and 375 px into docs/admin/, from the real `serve`.
// Run after `pnpm run build`: node scripts/admin-screenshots.mjs   (needs Chromium: Debian's `chromium` package)

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs', 'admin');
const { createKeyManager } = await import(join(root, 'packages/core/dist/index.js'));
const { SqliteKeyStore } = await import(join(root, 'packages/sqlite/dist/index.js'));

const dir = mkdtempSync(join(tmpdir(), 'finora-admin-shots-'));
const storeUrl = `sqlite:${join(dir, 'keys.db')}`;
const token = randomBytes(32).toString('base64url');
writeFileSync(join(dir, 'admin-token'), `${token}\n`, { mode: 0o600 });

// Made-up accounts; some keys made 80 days ago so the expiring page has rows.
const DAY = 86_400_000;
const store = new SqliteKeyStore({ path: join(dir, 'keys.db') });
const today = createKeyManager({ store });
const earlier = createKeyManager({ store, now: () => Date.now() - 80 * DAY });
await today.putAccount({ id: 'acme-books', tier: 'premium' });
await today.putAccount({ id: 'northwind-traders', tier: 'accountant_pro', enterprise: true });
await today.putAccount({ id: 'corner-bakery', tier: 'free' });
await today.putAccount({ id: 'lagos-logistics', tier: 'premium' });
await earlier.issue({ accountId: 'acme-books', environment: 'live', name: 'Shopify sync' });
await today.issue({ accountId: 'acme-books', environment: 'test', name: 'Staging checkout', scopes: ['invoices:read', 'customers:read'] });
const old = await earlier.issue({ accountId: 'northwind-traders', environment: 'live', name: 'ERP bridge' });
await today.issue({ accountId: 'northwind-traders', environment: 'live', surface: 'enterprise', name: 'BI warehouse', scopes: ['business-intelligence:read'] });
await today.rotate(old.key.id);
await today.issue({ accountId: 'northwind-traders', environment: 'test', name: 'Payroll export <test>', scopes: ['payroll:read'] });
const revoked = await today.issue({ accountId: 'northwind-traders', environment: 'live', name: 'Old POS terminal' });
await today.revoke(revoked.key.id);
await today.createServiceAccount({ accountId: 'northwind-traders', environment: 'live', name: 'Treasury bot', scopes: ['payments:write'] });
await earlier.issue({ accountId: 'lagos-logistics', environment: 'live', name: 'Fleet invoices' });
await today.grantCredits('northwind-traders', 50_000);
await today.grantCredits('acme-books', 2_500);
// Made-up usage for the chart: a working-week rhythm, live and test apart.
const erp = old.key.id;
const rows = [];
for (let i = 29; i >= 0; i--) {
  const date = new Date(Date.now() - i * DAY);
  const weekday = date.getUTCDay() % 6 !== 0;
  const live = (weekday ? 900 : 200) + ((i * 137) % 300);
  const test = (weekday ? 260 : 40) + ((i * 61) % 120);
  const day = date.toISOString().slice(0, 10);
  rows.push({ day, accountId: 'northwind-traders', keyId: erp, environment: 'live', module: 'invoices', allowed: live, creditsSpent: live });
  rows.push({ day, accountId: 'northwind-traders', keyId: erp, environment: 'test', module: 'invoices', allowed: test, creditsSpent: 0 });
}
await store.addUsage(rows);
await store.close();

const serve = spawn(process.execPath, [join(root, 'packages/gateway/dist/cli.js'), 'serve', '--port', '0', '--store', storeUrl, '--admin-token-file', join(dir, 'admin-token')], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
const url = await new Promise((resolve, reject) => {
  let stderr = '';
  serve.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
    const match = /listening on (http:\/\/\S+?),/.exec(stderr);
    if (match) resolve(match[1]);
  });
  serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
});

const executablePath = process.env.FINORA_CHROMIUM ?? execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
mkdirSync(out, { recursive: true });
try {
  for (const width of [1280, 375]) {
    const context = await browser.newContext({ viewport: { width, height: width === 375 ? 740 : 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(`${url}/admin/`);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor();
    await page.screenshot({ path: join(out, `accounts-${width}.png`), fullPage: true });
    await page.goto(`${url}/admin/accounts/northwind-traders`);
    await page.screenshot({ path: join(out, `account-${width}.png`), fullPage: true });
    await page.goto(`${url}/admin/accounts/acme-books`);
    await page.getByLabel('Name (one key per integration)').fill(`Xero import (${width} px)`);
    await page.getByRole('button', { name: 'Generate Key' }).click();
    await page.getByText('Store it now.').waitFor();
    await page.screenshot({ path: join(out, `reveal-${width}.png`), fullPage: true });
    await page.goto(`${url}/admin/expiring`);
    await page.screenshot({ path: join(out, `expiring-${width}.png`), fullPage: true });
    await context.close();
  }
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  serve.kill('SIGTERM');
  await new Promise((resolve) => serve.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}
