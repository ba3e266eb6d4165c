// Fuzz fixtures: keys in every state issued through the public API, the contract's answer for any header, and its shape
// (the store wrapper the fuzz suites use is core/testing's tapStore).

import {
  AUTH_ERROR_CODES,
  createKeyManager,
  isEnterpriseModule,
  type AuthErrorCode,
  type KeyStore,
} from '@finora-auth/core';

export const DAY = 24 * 60 * 60 * 1000;
/** When the keys are issued; authenticators judge them one day later, at {@link JUDGED_AT}. */
export const ISSUED_AT = Date.parse('2026-01-01T00:00:00Z');
export const JUDGED_AT = ISSUED_AT + DAY;

/** Why a key answers the way it does. */
export type KeyState = 'ok' | 'revoked' | 'expired' | 'free' | 'deprovisioned' | 'expiring';

export interface WorldKey {
  label: string;
  apiKey: string;
  keyId: string;
  environment: 'live' | 'test';
  surface: 'retail' | 'enterprise';
  state: KeyState;
}

export interface World {
  keys: WorldKey[];
  /** Every key by its plaintext, for the oracle. */
  byToken: ReadonlyMap<string, WorldKey>;
  key(label: string): WorldKey;
  /** The authenticator's clock: one day after issue, fixed. */
  now: () => number;
  /** Every plaintext key and its 48-hex secret part: what must never appear in a log, body or header. */
  secrets(): string[];
}

/**
 * Issues keys in every state on `store`. Account ids carry `tag` so several worlds can share one database.
 * States: usable (live and test, retail and enterprise, one close to expiry), revoked, expired, on an account
 * downgraded to free, and an enterprise key whose account was deprovisioned.
 */
export async function buildWorld(store: KeyStore, tag = randomTag()): Promise<World> {
  const manager = createKeyManager({ store, now: () => ISSUED_AT });
  const old = createKeyManager({ store, now: () => ISSUED_AT - 91 * DAY });
  const short = createKeyManager({ store, now: () => ISSUED_AT, keyTtlDays: 10 });
  const acct = (name: string) => `fz-${tag}-${name}`;
  await manager.putAccount({ id: acct('premium'), tier: 'premium' });
  await manager.putAccount({ id: acct('ent'), tier: 'accountant_pro', enterprise: true });
  await manager.putAccount({ id: acct('free'), tier: 'premium' });
  await manager.putAccount({ id: acct('deprov'), tier: 'premium', enterprise: true });

  const keys: WorldKey[] = [];
  const add = async (
    label: string,
    state: KeyState,
    issued: Promise<{ apiKey: string; key: { id: string; environment: 'live' | 'test'; surface: 'retail' | 'enterprise' } }>,
  ) => {
    const { apiKey, key } = await issued;
    const entry: WorldKey = { label, apiKey, keyId: key.id, environment: key.environment, surface: key.surface, state };
    keys.push(entry);
    return entry;
  };
  await add('live-retail', 'ok', manager.issue({ accountId: acct('premium'), environment: 'live', name: 'shop' }));
  await add('test-retail', 'ok', manager.issue({ accountId: acct('premium'), environment: 'test' }));
  await add('live-enterprise', 'ok', manager.issue({ accountId: acct('ent'), environment: 'live', surface: 'enterprise' }));
  await add('test-enterprise', 'ok', manager.issue({ accountId: acct('ent'), environment: 'test', surface: 'enterprise' }));
  await add('expiring', 'expiring', short.issue({ accountId: acct('premium'), environment: 'live' }));
  const revoked = await add('revoked', 'revoked', manager.issue({ accountId: acct('premium'), environment: 'live' }));
  await manager.revoke(revoked.keyId);
  await add('expired', 'expired', old.issue({ accountId: acct('premium'), environment: 'live' }));
  await add('free', 'free', manager.issue({ accountId: acct('free'), environment: 'live' }));
  await manager.putAccount({ id: acct('free'), tier: 'free' });
  await add('deprovisioned', 'deprovisioned', manager.issue({ accountId: acct('deprov'), environment: 'live', surface: 'enterprise' }));
  await manager.putAccount({ id: acct('deprov'), tier: 'premium', enterprise: false });

  const byToken = new Map(keys.map((k) => [k.apiKey, k]));
  return {
    keys,
    byToken,
    key(label) {
      const found = keys.find((k) => k.label === label);
      if (!found) throw new Error(`no key labelled ${label}`);
      return found;
    },
    now: () => JUDGED_AT,
    secrets: () => keys.flatMap((k) => [k.apiKey, k.apiKey.slice(-48)]),
  };
}

export function randomTag(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------------------------------------------
// The oracle: the contract's decision table, written again from CONTRACT.md without reading the core's parser.

export interface Expected {
  status: 200 | 401 | 403 | 503;
  code?: AuthErrorCode;
  key?: WorldKey;
  /** An allowed key within 14 days of expiry gets `Finora-Key-Expires-At`. */
  expiryHeader?: boolean;
}

const BEARER_KEY = /^[Bb][Ee][Aa][Rr][Ee][Rr] +((?:live|test)_sk_[0-9a-f]{48})$/;

/** `missing`, `malformed`, or the token in key format: the contract's rows 1 and 2. */
export function referenceToken(header: string | null | undefined): 'missing' | 'malformed' | { token: string } {
  if (header === undefined || header === null) return 'missing';
  // RFC 9110 §5.5: leading and trailing spaces and tabs are not part of a field value. (A loop, not /[ \t]+$/,
  // which backtracks quadratically on 64 KB of spaces.)
  const ows = (c: string | undefined) => c === ' ' || c === '\t';
  let start = 0;
  let end = header.length;
  while (start < end && ows(header[start])) start++;
  while (end > start && ows(header[end - 1])) end--;
  const value = header.slice(start, end);
  if (value === '') return 'missing';
  const match = BEARER_KEY.exec(value);
  return match?.[1] ? { token: match[1] } : 'malformed';
}

/** What the contract says a request with this Authorization value (and module) must get in `world`. */
export function expectedFor(world: World, header: string | null | undefined, module?: string): Expected {
  const parsed = referenceToken(header);
  if (parsed === 'missing') return { status: 401, code: 'MISSING_API_KEY' };
  if (parsed === 'malformed') return { status: 401, code: 'INVALID_API_KEY' };
  const key = world.byToken.get(parsed.token);
  if (!key) return { status: 401, code: 'INVALID_API_KEY' };
  if (key.state === 'revoked' || key.state === 'expired') return { status: 401, code: 'INVALID_API_KEY', key };
  if (key.state === 'free') return { status: 403, code: 'PREMIUM_REQUIRED', key };
  const enterpriseOk = key.surface === 'enterprise' && key.state !== 'deprovisioned';
  if (module !== undefined && isEnterpriseModule(module) && !enterpriseOk) return { status: 403, code: 'ENTERPRISE_ONLY', key };
  return { status: 200, key, expiryHeader: key.state === 'expiring' };
}

// ---------------------------------------------------------------------------------------------------------------
// The shape every refusal must have on the wire.

const CHALLENGE: Record<AuthErrorCode, string | undefined> = {
  MISSING_API_KEY: 'Bearer realm="finora"',
  INVALID_API_KEY: 'Bearer realm="finora", error="invalid_token"',
  PREMIUM_REQUIRED: 'Bearer realm="finora", error="insufficient_scope"',
  ENTERPRISE_ONLY: 'Bearer realm="finora", error="insufficient_scope"',
  AUTH_UNAVAILABLE: undefined,
};
const STATUS_OF: Record<AuthErrorCode, number> = {
  MISSING_API_KEY: 401,
  INVALID_API_KEY: 401,
  PREMIUM_REQUIRED: 403,
  ENTERPRISE_ONLY: 403,
  AUTH_UNAVAILABLE: 503,
};

/** Header lookup that tolerates any case and repeated fields (repeats are a problem of their own). */
export type HeaderBag = Record<string, string | string[] | undefined>;

function single(headers: HeaderBag, name: string, problems: string[]): string | undefined {
  const value = headers[name.toLowerCase()];
  if (Array.isArray(value)) {
    problems.push(`${name} sent ${value.length} times`);
    return value[0];
  }
  return value;
}

/**
 * Problems with a refusal as sent on the wire (empty when it matches the contract): status in 401/403/503, JSON body
 * with exactly `error.code` in the closed union and `error.message`, status matching the code, `Cache-Control: no-store`,
 * the RFC 6750 challenge for 401/403 and `Retry-After` for 503.
 */
export function refusalProblems(status: number, headers: HeaderBag, body: string): string[] {
  const problems: string[] = [];
  if (status !== 401 && status !== 403 && status !== 503) problems.push(`status ${status} is not a refusal status`);
  const contentType = single(headers, 'content-type', problems);
  if (!contentType || !/^application\/json\s*(;|$)/i.test(contentType)) problems.push(`content-type ${String(contentType)}`);
  const cacheControl = single(headers, 'cache-control', problems);
  if (cacheControl !== 'no-store') problems.push(`cache-control ${String(cacheControl)}`);
  let code: AuthErrorCode | undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    const error = (parsed as { error?: unknown })?.error as Record<string, unknown> | undefined;
    const keysOk =
      parsed !== null &&
      typeof parsed === 'object' &&
      Object.keys(parsed).join() === 'error' &&
      error !== null &&
      typeof error === 'object' &&
      Object.keys(error).sort().join() === 'code,message';
    if (!keysOk) problems.push(`body shape ${body.slice(0, 200)}`);
    if (typeof error?.message !== 'string' || error.message === '') problems.push('error.message is not text');
    if (AUTH_ERROR_CODES.includes(error?.code as AuthErrorCode)) code = error?.code as AuthErrorCode;
    else problems.push(`error.code ${JSON.stringify(error?.code)} is not in the union`);
  } catch {
    problems.push(`body is not JSON: ${body.slice(0, 200)}`);
  }
  if (code) {
    if (STATUS_OF[code] !== status) problems.push(`status ${status} for ${code}`);
    const challenge = single(headers, 'www-authenticate', problems);
    const wanted = CHALLENGE[code];
    if (wanted !== undefined && challenge !== wanted) problems.push(`www-authenticate ${String(challenge)} for ${code}`);
    if (code === 'AUTH_UNAVAILABLE' && !/^\d+$/.test(single(headers, 'retry-after', problems) ?? '')) {
      problems.push('503 without a Retry-After in seconds');
    }
  }
  return problems;
}

/** The refusal code in a body already judged well-shaped. */
export function refusalCode(body: string): AuthErrorCode | undefined {
  try {
    return (JSON.parse(body) as { error?: { code?: AuthErrorCode } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Every secret of `world` found in `text`, for leak checks. */
export function leaksIn(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret));
}
