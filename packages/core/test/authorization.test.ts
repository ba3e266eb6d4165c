// parseAuthorization: the contract's Bearer rules, in linear time.

import { describe, expect, it } from 'vitest';
import { generateApiKey, parseAuthorization } from '../src/index';

describe('parseAuthorization', () => {
  const key = generateApiKey('test');

  it('reads "Bearer <key>" in any case, with one or more spaces', () => {
    for (const header of [`Bearer ${key}`, `bearer ${key}`, `bEaReR   ${key}`, `\tBearer ${key}\t`]) {
      expect(parseAuthorization(header)).toEqual({ kind: 'api-key', token: key });
    }
  });

  it('calls an absent or blank header missing', () => {
    for (const header of [undefined, null, '', ' ', '\t ']) expect(parseAuthorization(header)).toEqual({ kind: 'missing' });
  });

  it('calls everything else malformed', () => {
    for (const header of [
      key, `Bearer`, `Bearer  `, `Bearer\t${key}`, `Bearer ${key} `.repeat(2), `Bearer ${key} x`, `Bearer ${key}\n`,
      `Bearer ${key}\r\nX: y`, `Bearer: ${key}`, `Bearerx ${key}`, `Bearer ${key.slice(0, 55)}`, `Bearer ${key}a`,
      `Bearer ${key.replace(/[a-f]/, 'A')}`, `Bearer ${key.replace('test', 'Test')}`, `Bearer ${key.replace('_sk_', '_pk_')}`,
      `Bearer ${key.replace(/.$/, 'g')}`, `Bearer ${key.replace(/.$/, '\uff10')}`,
    ]) {
      expect(parseAuthorization(header), JSON.stringify(header)).toEqual({ kind: 'malformed' });
    }
    expect(parseAuthorization(42 as never)).toEqual({ kind: 'malformed' });
  });

  it('reads megabyte headers (the shapes that make a backtracking regex quadratic) and answers', () => {
    for (const header of [`Bearer ${' '.repeat(1 << 20)}x`, `Bearer ${'a'.repeat(1 << 20)}`, `${'Bearer '.repeat(1 << 16)}${key}`]) {
      expect(parseAuthorization(header)).toEqual({ kind: 'malformed' });
    }
    expect(parseAuthorization(' '.repeat(1 << 20))).toEqual({ kind: 'missing' });
    expect(parseAuthorization(`Bearer ${' '.repeat(65_536)}${key}`)).toEqual({ kind: 'api-key', token: key });
  });

  it('does work linear in the header: one header 64x longer costs no more than 64 short ones (quadratic: 64x more)', () => {
    // The same bytes either way, so a linear parser takes about as long for both and a quadratic one 64x longer
    // for the long header; the bound (8x) leaves room for a noisy machine, not for a quadratic parser.
    const shapes = [
      (n: number) => `Bearer ${' '.repeat(n)}x`,
      (n: number) => `Bearer ${' '.repeat(n)}${key}`,
      (n: number) => `${' '.repeat(n)}Bearer ${key}${' '.repeat(n)}`,
      (n: number) => `Bearer ${'a'.repeat(n)}`,
      (n: number) => `${'Bearer '.repeat(Math.ceil(n / 7))}${key}`,
    ];
    const base = 16_384;
    // Fastest of several rounds: a pause (GC, another process) only ever adds time.
    const fastest = (run: () => void) => {
      let best = Infinity;
      for (let round = 0; round < 7; round++) {
        const started = performance.now();
        run();
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    for (const shape of shapes) {
      const short = Array.from({ length: 64 }, () => shape(base));
      const long = shape(base * 64);
      // Flattens both (a template literal is a rope until first read) and warms the parser up, outside the timing.
      for (const header of [...short, long]) parseAuthorization(header);
      const shortMs = fastest(() => {
        for (const header of short) parseAuthorization(header);
      });
      const longMs = fastest(() => parseAuthorization(long));
      expect(longMs, `${JSON.stringify(long.slice(0, 12))}…: ${longMs.toFixed(3)} ms for one long, ${shortMs.toFixed(3)} ms for 64 short`).toBeLessThan(8 * Math.max(shortMs, 0.05));
    }
  });
});

describe('parseAuthorization with tokens accepted (v2)', () => {
  const jws = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"sa"}').toString('base64url')}.c2ln`;

  it('reads a compact JWS as a token of its own kind only when tokens are accepted', () => {
    expect(parseAuthorization(`Bearer ${jws}`, true)).toEqual({ kind: 'token', token: jws });
    expect(parseAuthorization(`Bearer ${jws}`)).toEqual({ kind: 'malformed' });
    const key = generateApiKey('live');
    expect(parseAuthorization(`Bearer ${key}`, true)).toEqual({ kind: 'api-key', token: key });
  });

  it('still calls anything else malformed', () => {
    for (const header of [`Bearer ${jws}.x`, `Bearer ${jws} x`, `Basic ${jws}`, 'Bearer eyJ.a.b', `Bearer ${jws.replace('.', '..')}`]) {
      expect(parseAuthorization(header, true)).toEqual({ kind: 'malformed' });
    }
  });
});
