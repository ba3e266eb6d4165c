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
