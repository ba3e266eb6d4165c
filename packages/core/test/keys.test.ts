// Key format and digests: the node:crypto fast path and Web Crypto must agree, or stored keys would never match.

import { describe, expect, it } from 'vitest';
import {
  API_KEY_PATTERN,
  CLIENT_SECRET_PATTERN,
  generateApiKey,
  generateClientId,
  generateClientSecret,
  isApiKey,
  isClientSecret,
  keyHint,
  sha256Hex,
} from '../src/index';

describe('keys', () => {
  it('hashes to the standard SHA-256 digest, the same as Web Crypto', async () => {
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = generateApiKey('live');
    const web = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key))).toString('hex');
    expect(await sha256Hex(key)).toBe(web);
  });

  it('generates keys in the format for each environment, and refuses another environment', () => {
    expect(generateApiKey('live')).toMatch(/^live_sk_[0-9a-f]{48}$/);
    expect(generateApiKey('test')).toMatch(API_KEY_PATTERN);
    expect(() => generateApiKey('prod' as never)).toThrow(TypeError);
  });

  it('recognises only the exact format, and hints with the prefix and last 4 characters', () => {
    const key = generateApiKey('test');
    expect(isApiKey(key)).toBe(true);
    expect(isApiKey(`${key}\n`)).toBe(false);
    expect(isApiKey(key.toUpperCase())).toBe(false);
    expect(keyHint(key)).toBe(`test_sk_…${key.slice(-4)}`);
  });
});

describe('client secrets (v2)', () => {
  it('have a scannable prefix of their own, 24 random bytes, and are never mistaken for keys', () => {
    const secrets = new Set(Array.from({ length: 20 }, () => generateClientSecret('live')));
    expect(secrets.size).toBe(20);
    for (const secret of secrets) {
      expect(secret).toMatch(CLIENT_SECRET_PATTERN);
      expect(secret.startsWith('live_cs_')).toBe(true);
      expect(isClientSecret(secret)).toBe(true);
      expect(isApiKey(secret)).toBe(false);
    }
    expect(generateClientSecret('test')).toMatch(/^test_cs_[0-9a-f]{48}$/);
    expect(generateClientId()).toMatch(/^sa_[0-9a-f]{24}$/);
    expect(() => generateClientSecret('prod' as never)).toThrow(TypeError);
  });
});
