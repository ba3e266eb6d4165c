// How commands show accounts and keys to people: aligned tables, dates as days, statuses in words.

import type { Account, KeyInfo, RateLimit, ServiceAccountInfo } from '@finora-auth/core';
import type { SigningKeyInfo } from '@finora-auth/oauth';

const DAY_MS = 24 * 60 * 60 * 1000;

const day = (date: Date) => date.toISOString().slice(0, 10);

/** Of a key or a service account: revoked, expired, expiring within 14 days, or active. */
export function keyStatus(key: { revokedAt?: Date; expiresAt: Date }, now: number): string {
  if (key.revokedAt) return `revoked ${day(key.revokedAt)}`;
  const left = key.expiresAt.getTime() - now;
  if (left <= 0) return 'expired';
  const days = Math.ceil(left / DAY_MS);
  return days <= 14 ? `expires in ${days} day${days === 1 ? '' : 's'}` : 'active';
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function keysTable(keys: KeyInfo[], now: number, withAccount = false): string {
  const header = [...(withAccount ? ['ACCOUNT'] : []), 'KEY ID', 'ENV', 'SURFACE', 'HINT', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'STATUS'];
  const rows = keys.map((key) => [
    ...(withAccount ? [key.accountId] : []),
    key.id,
    key.environment,
    key.surface,
    key.hint,
    key.name ?? '-',
    scopesText(key.scopes),
    day(key.createdAt),
    day(key.expiresAt),
    keyStatus(key, now),
  ]);
  return table(header, rows);
}

/** Scopes as one cell: `write` (full access), `read`, or a comma-separated list. */
export function scopesText(scopes: readonly string[] | undefined): string {
  return scopes === undefined || scopes.length === 0 ? 'write' : scopes.join(',');
}

/** `, scopes …` for a limited credential, nothing for a full-access one (which is what a v1 key always was). */
function limitedScopes(scopes: readonly string[] | undefined): string {
  const text = scopesText(scopes);
  return text === 'write' ? '' : `, scopes ${text}`;
}

/** A rate limit for people: `100/60s`, or `-` for none. */
export function rateLimitText(limit: RateLimit | undefined): string {
  return limit ? `${limit.requests}/${limit.perSeconds}s` : '-';
}

export function accountsTable(accounts: Account[]): string {
  const rows = accounts.map((account) => [
    account.id,
    account.tier,
    account.enterprise ? 'provisioned' : '-',
    rateLimitText(account.rateLimit),
    account.metered ? 'metered' : '-',
  ]);
  return table(['ACCOUNT', 'TIER', 'ENTERPRISE', 'RATE LIMIT', 'CREDITS'], rows);
}

export function describeAccount(account: Account): string {
  const limit = account.rateLimit ? `, rate limit ${rateLimitText(account.rateLimit)} per credential` : '';
  return `account ${account.id}: tier ${account.tier}, enterprise ${account.enterprise ? 'provisioned' : 'not provisioned'}${limit}`;
}

/** The once-only display of a new key, with the warning that it will not be shown again. */
export function issuedKeyText(apiKey: string, key: KeyInfo, verb: 'Created' | 'Rotated', oldKeyId?: string): string {
  const lines = [
    `${verb} key ${key.id} for account ${key.accountId} (${key.environment}, ${key.surface}${key.name ? `, "${key.name}"` : ''}${limitedScopes(key.scopes)}${key.rateLimit ? `, rate limit ${rateLimitText(key.rateLimit)}` : ''}), expires ${day(key.expiresAt)}.`,
    '',
    `    ${apiKey}`,
    '',
    'Store this key now: it is shown only this once, and finora-auth keeps only its SHA-256 digest.',
  ];
  if (oldKeyId) {
    lines.push(`The old key ${oldKeyId} still works: deploy the new one, then run: finora-auth keys revoke ${oldKeyId}`);
  }
  return lines.join('\n');
}

export function serviceAccountsTable(serviceAccounts: ServiceAccountInfo[], now: number): string {
  const header = ['CLIENT ID', 'ENV', 'SECRET', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'STATUS'];
  const rows = serviceAccounts.map((sa) => [
    sa.clientId,
    sa.environment,
    sa.secretHint,
    sa.name ?? '-',
    scopesText(sa.scopes),
    day(sa.createdAt),
    day(sa.expiresAt),
    keyStatus(sa, now),
  ]);
  return table(header, rows);
}

/** The once-only display of a service account's new client secret, with the warning that it will not be shown again. */
export function issuedSecretText(clientSecret: string, sa: ServiceAccountInfo, verb: 'Created' | 'Rotated'): string {
  const what = verb === 'Created' ? 'service account' : 'the secret of service account';
  const lines = [
    `${verb} ${what} ${sa.clientId} for account ${sa.accountId} (${sa.environment}${sa.name ? `, "${sa.name}"` : ''}${limitedScopes(sa.scopes)}), secret expires ${day(sa.expiresAt)}.`,
    '',
    `    client id:      ${sa.clientId}`,
    `    client secret:  ${clientSecret}`,
    '',
    'Store this secret now: it is shown only this once, and finora-auth keeps only its SHA-256 digest.',
  ];
  if (verb === 'Rotated') lines.push('The old secret no longer works, and tokens issued under it are refused from now on.');
  lines.push('Get a token with: POST /oauth/token, grant_type=client_credentials, the client id and secret as HTTP Basic credentials.');
  return lines.join('\n');
}

const instant = (date: Date) => `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;

export function signingKeysTable(keys: SigningKeyInfo[]): string {
  const status = (key: SigningKeyInfo) => (key.retiredAt === undefined ? 'signing' : key.published ? 'retired, still published' : 'retired');
  const rows = keys.map((key) => [key.kid, key.alg, instant(key.createdAt), key.retiredAt ? instant(key.retiredAt) : '-', status(key)]);
  return table(['KID', 'ALG', 'CREATED', 'RETIRED', 'STATUS'], rows);
}
