import { describe, expect, it } from 'vitest';
import { decimal } from '../src/decimal';

describe('decimal', () => {
  it('writes what String() writes, for every whole number around each group of three digits', () => {
    const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1010, 1100, 9999, 10_000, 100_000, 999_999, 1_000_000, 1_000_001, 1_002_003, 999_999_999, 1_000_000_000, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER];
    for (let n = 0; n < 5000; n++) samples.push(n, n * 997 + 13, n * 1_000_003);
    for (const n of samples) expect(decimal(n)).toBe(String(n));
  });

  it('writes the right text for counts that go down, up and jump, as a balance does', () => {
    const counts: number[] = [];
    for (let n = 1_000_000_999; n > 999_997_990; n--) counts.push(n);
    counts.push(5, 1_000_000_000, 999, 1000, 1_000_001, 1_000_001_000, 1_000_000_000_000, 999_999_999_999);
    for (const n of counts) expect(decimal(n)).toBe(String(n));
  });

  it('falls back to String() for anything but a safe whole number >= 0', () => {
    for (const n of [-1, -1000, 0.5, 1234.5, Number.MAX_SAFE_INTEGER + 2, Infinity, NaN, -0]) expect(decimal(n)).toBe(String(n));
  });
});
