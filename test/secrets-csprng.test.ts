// Key generation: 24 bytes straight from Web Crypto's CSPRNG (keys.ts), and output that looks like it.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKeyManager, generateApiKey, MemoryKeyStore } from '@finora-auth/core';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Pearson's chi-squared statistic of `counts` against a uniform distribution. */
function chiSquared(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

// Critical values of chi-squared with 15 degrees of freedom: 59.7 is exceeded by chance with p ≈ 3e-7; 70 with
// p ≈ 4.5e-9, so the 48 per-position tests together raise a false alarm with p ≈ 2e-7. With the 192 bit tests
// (p ≈ 2e-9 each) a sound generator fails this file about once in a million runs.
const CHI2_15_P1E7 = 59.7;
const CHI2_15_P1E9 = 70;

describe('key generation', () => {
  it('fills each key with 24 bytes from crypto.getRandomValues, and never calls Math.random', () => {
    const draws: Uint8Array[] = [];
    const original = crypto.getRandomValues.bind(crypto);
    const spy = vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const filled = original(array as unknown as Uint8Array);
      draws.push(new Uint8Array(filled));
      return array;
    });
    const random = vi.spyOn(Math, 'random');
    for (const environment of ['live', 'test'] as const) {
      const key = generateApiKey(environment);
      const bytes = draws.at(-1);
      expect(bytes?.length).toBe(24);
      // The key's 48 hex characters are exactly those bytes: nothing else went into it.
      expect(key).toBe(`${environment}_sk_${Buffer.from(bytes ?? []).toString('hex')}`);
    }
    expect(spy).toHaveBeenCalledTimes(2);
    expect(random).not.toHaveBeenCalled();
  });

  it('issues keys through the key manager from the same source', async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct', tier: 'premium' });
    const draws: string[] = [];
    const original = crypto.getRandomValues.bind(crypto);
    vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      original(array as unknown as Uint8Array);
      draws.push(Buffer.from(array as unknown as Uint8Array).toString('hex'));
      return array;
    });
    const random = vi.spyOn(Math, 'random');
    const { apiKey } = await manager.issue({ accountId: 'acct', environment: 'live' });
    expect(draws).toContain(apiKey.slice(-48));
    expect(random).not.toHaveBeenCalled();
  });

  it('gives 10,000 distinct keys whose hex digits are uniform overall, at every position, and bit by bit', () => {
    const N = 10_000;
    const keys = Array.from({ length: N }, (_, i) => generateApiKey(i % 2 ? 'live' : 'test'));
    expect(new Set(keys).size).toBe(N);
    expect(new Set(keys.map((k) => k.slice(-48))).size).toBe(N);

    const overall = new Array<number>(16).fill(0);
    const perPosition = Array.from({ length: 48 }, () => new Array<number>(16).fill(0));
    const ones = new Array<number>(192).fill(0);
    for (const key of keys) {
      const hex = key.slice(-48);
      expect(hex).toMatch(/^[0-9a-f]{48}$/);
      for (let i = 0; i < 48; i++) {
        const digit = parseInt(hex[i] as string, 16);
        overall[digit] = (overall[digit] ?? 0) + 1;
        const row = perPosition[i] as number[];
        row[digit] = (row[digit] ?? 0) + 1;
        for (let bit = 0; bit < 4; bit++) if (digit & (8 >> bit)) ones[i * 4 + bit] = (ones[i * 4 + bit] ?? 0) + 1;
      }
    }
    expect(chiSquared(overall)).toBeLessThan(CHI2_15_P1E7);
    for (const row of perPosition) expect(chiSquared(row)).toBeLessThan(CHI2_15_P1E9);
    // Each bit is 1 in half the keys: the standard deviation is 50 over 10,000; six of them is p ≈ 2e-9 per bit.
    for (const count of ones) expect(Math.abs(count - N / 2)).toBeLessThan(300);
  });

  it('shares no long run between keys: no 12-hex-character piece of one key appears in another', () => {
    const keys = Array.from({ length: 2_000 }, () => generateApiKey('live').slice(-48));
    const seen = new Set<string>();
    let repeats = 0;
    for (const hex of keys) {
      for (let i = 0; i + 12 <= 48; i += 12) {
        const piece = hex.slice(i, i + 12);
        if (seen.has(piece)) repeats++;
        seen.add(piece);
      }
    }
    // 8,000 pieces of 48 bits: a repeat by chance has probability about 1e-7.
    expect(repeats).toBe(0);
  });
});
