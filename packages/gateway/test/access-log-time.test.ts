// The access log's `time` field: what `new Date(ms).toISOString()` writes, made from a per-second prefix.

import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/access-log';

describe('isoTime', () => {
  it('writes what toISOString writes, through milliseconds, seconds, days and years, in any order', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
    const samples: number[] = [];
    for (let ms = start; ms < start + 2_100; ms += 7) samples.push(ms, ms); // the same ms twice: the reused text
    samples.push(0, 999, 1_000, 1_001, -1, -999, -1_000, -1_001, Date.UTC(1969, 11, 31, 23, 59, 59, 999), start, start - 86_400_000, start + 86_400_000 * 366);
    samples.push(Date.UTC(10_000, 0, 1, 0, 0, 0, 5), 1.5, start + 0.25);
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
