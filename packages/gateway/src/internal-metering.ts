// The internal API's four metering operations (take and return credits, add usage, count a rate window): bodies read capped, validated strictly.

import type { IncomingMessage } from 'node:http';
import { isModule, type UsageIncrement } from '@finora-auth/core';

/** Account ids as the key manager accepts them; key ids, client ids and rate buckets fit the same shape. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const DAY_FORMAT = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Most credits one take or return moves (the core's leases are at most 500; a request's cost may be more). */
export const MAX_CREDITS = 1_000_000;
/** Most rows in one usage batch (the core's batches are 1,000 rows; HttpKeyStore sends larger ones in parts). */
export const MAX_USAGE_ROWS = 1_000;
/** Largest count in one usage row, or one rate-window increment. */
const MAX_COUNT = 1_000_000_000_000;
/** Longest a rate window may be kept (twice a window of 400 days). */
const MAX_TTL_MS = 800 * DAY_MS;

/** Largest body, in bytes: a usage batch of MAX_USAGE_ROWS rows of the longest ids fits; the others are tiny. */
export const MAX_USAGE_BODY = 512 * 1024;
export const MAX_SMALL_BODY = 1024;

export type MeteringOperation = 'take' | 'return' | 'usage' | 'rate-window';

export type MeteringRequest =
  | { operation: 'take'; accountId: string; want: number; min: number }
  | { operation: 'return'; accountId: string; amount: number }
  | { operation: 'usage'; rows: UsageIncrement[] }
  | { operation: 'rate-window'; bucket: string; windowStart: number; by: number; ttlMs: number };

/** Why a body was refused: the status and the message (which never echoes the body). */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

const whole = (value: unknown, least: number, most: number): value is number =>
  Number.isSafeInteger(value) && (value as number) >= least && (value as number) <= most;

const isId = (value: unknown): value is string => typeof value === 'string' && ID.test(value);

/** `YYYY-MM-DD` naming a real UTC day. */
function isDay(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = DAY_FORMAT.exec(value);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === value;
}

/** An object with exactly these fields (`optional` ones may be absent): anything else is refused, not ignored. */
function fields(value: unknown, required: readonly string[], optional: readonly string[] = []): value is Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const names = Object.keys(value);
  return required.every((name) => names.includes(name)) && names.every((name) => required.includes(name) || optional.includes(name));
}

const bad = (message: string) => new BodyError(400, message);

function usageRow(value: unknown): UsageIncrement {
  if (!fields(value, ['day', 'accountId', 'keyId', 'environment', 'allowed', 'creditsSpent'], ['module'])) {
    throw bad('A usage row is { day, accountId, keyId, environment, module?, allowed, creditsSpent }.');
  }
  const { day, accountId, keyId, environment, module, allowed, creditsSpent } = value;
  if (!isDay(day)) throw bad('A usage row\'s day is a UTC day, YYYY-MM-DD.');
  if (!isId(accountId) || !isId(keyId)) throw bad('A usage row names its account and credential by id.');
  if (environment !== 'live' && environment !== 'test') throw bad('A usage row\'s environment is live or test.');
  if (module !== undefined && !isModule(module)) throw bad('A usage row\'s module, when present, is a catalog module.');
  if (!whole(allowed, 0, MAX_COUNT) || !whole(creditsSpent, 0, MAX_COUNT)) throw bad('A usage row\'s counts are whole numbers >= 0.');
  const row: UsageIncrement = { day, accountId, keyId, environment, allowed, creditsSpent };
  if (module !== undefined) row.module = module;
  return row;
}

/** The operation a parsed JSON body asks for, validated; throws BodyError (400) for anything else. */
export function parseMetering(operation: MeteringOperation, body: unknown): MeteringRequest {
  switch (operation) {
    case 'take': {
      if (!fields(body, ['accountId', 'want', 'min'])) throw bad('A take is { accountId, want, min }; the gateway\'s clock decides refills.');
      const { accountId, want, min } = body;
      if (!isId(accountId)) throw bad('accountId is an account id.');
      if (!whole(want, 0, MAX_CREDITS) || !whole(min, 0, MAX_CREDITS) || min > want) {
        throw bad(`want and min are whole numbers, 0 <= min <= want <= ${MAX_CREDITS}.`);
      }
      return { operation, accountId, want, min };
    }
    case 'return': {
      if (!fields(body, ['accountId', 'amount'])) throw bad('A return is { accountId, amount }.');
      const { accountId, amount } = body;
      if (!isId(accountId)) throw bad('accountId is an account id.');
      if (!whole(amount, 0, MAX_CREDITS)) throw bad(`amount is a whole number from 0 to ${MAX_CREDITS}.`);
      return { operation, accountId, amount };
    }
    case 'usage': {
      if (!fields(body, ['rows']) || !Array.isArray(body.rows)) throw bad('Usage is { rows: [...] }.');
      if (body.rows.length > MAX_USAGE_ROWS) throw bad(`At most ${MAX_USAGE_ROWS} usage rows at once.`);
      return { operation, rows: body.rows.map(usageRow) };
    }
    case 'rate-window': {
      if (!fields(body, ['bucket', 'windowStart', 'by', 'ttlMs'])) throw bad('A rate-window increment is { bucket, windowStart, by, ttlMs }.');
      const { bucket, windowStart, by, ttlMs } = body;
      if (!isId(bucket)) throw bad('bucket is a credential id.');
      if (!whole(windowStart, 0, Number.MAX_SAFE_INTEGER)) throw bad('windowStart is epoch ms, a whole number.');
      if (!whole(by, 0, MAX_COUNT)) throw bad('by is a whole number >= 0.');
      if (!whole(ttlMs, 1, MAX_TTL_MS)) throw bad(`ttlMs is a whole number from 1 to ${MAX_TTL_MS}.`);
      return { operation, bucket, windowStart, by, ttlMs };
    }
  }
}

/**
 * Reads a JSON body of at most `max` bytes within `timeoutMs`. A declared or counted excess is 413 (the rest is not
 * read), a wrong content type 415, a slow body 408, bad JSON 400.
 */
export function readJsonBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) return reject(new BodyError(415, 'The body must be application/json.'));
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return reject(new BodyError(413, `The body is larger than ${max} bytes.`));
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => finish(new BodyError(408, 'The body did not arrive in time.')), timeoutMs);
    const finish = (error?: BodyError) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      if (error) return reject(error);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        reject(bad('The body is not JSON.'));
      }
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > max) finish(new BodyError(413, `The body is larger than ${max} bytes.`));
      else chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = () => finish(bad('The body was cut off.'));
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * Credits taken through this gateway process and not yet given back, per account: a return is honoured up to
 * that, so a holder of the internal token can give back what it took but never raise a balance above where it was.
 * Only accounts the store granted credits for appear here, so it is bounded by the metered accounts.
 */
export class LeaseLedger {
  readonly #outstanding = new Map<string, number>();

  taken(accountId: string, granted: number): void {
    if (granted > 0) this.#outstanding.set(accountId, (this.#outstanding.get(accountId) ?? 0) + granted);
  }

  /** How much of `amount` may go back, taken off what is outstanding. */
  giveBack(accountId: string, amount: number): number {
    const outstanding = this.#outstanding.get(accountId) ?? 0;
    const allowed = Math.min(outstanding, amount);
    if (outstanding - allowed > 0) this.#outstanding.set(accountId, outstanding - allowed);
    else this.#outstanding.delete(accountId);
    return allowed;
  }

  /** For tests and metrics. */
  outstanding(accountId: string): number {
    return this.#outstanding.get(accountId) ?? 0;
  }
}
