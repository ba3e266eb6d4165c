// The `--rate-limit N/SECONDS` option of `keys create` and `accounts set`, and how a rate limit is shown.

import type { RateLimit } from '@finora-auth/core';
import { UsageError, wholeNumber } from './cli-args';

const RATE_LIMIT = /^(\d+)\/(\d+)$/;

/** `N/SECONDS` (at most N requests in any SECONDS seconds), or (where `none` is allowed) `none` to remove it. */
export function parseRateLimit(value: string, option: string, allowNone: boolean): RateLimit | null {
  if (allowNone && value === 'none') return null;
  const match = RATE_LIMIT.exec(value.trim());
  if (!match) {
    throw new UsageError(
      `${option} must be N/SECONDS, at most N requests in any SECONDS seconds (e.g. 100/60)${allowNone ? ', or none' : ''}; got ${JSON.stringify(value)}`,
    );
  }
  return {
    requests: wholeNumber(match[1]!, `${option}'s request count`, 1, 1_000_000_000),
    perSeconds: wholeNumber(match[2]!, `${option}'s window in seconds`, 1, 31 * 24 * 60 * 60),
  };
}
