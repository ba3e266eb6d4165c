// Scopes: what is a scope, how a list is normalised, the level a method needs and the allow rule.

import { describe, expect, it } from 'vitest';
import {
  FULL_ACCESS,
  ScopeError,
  isScope,
  normalizeScopes,
  requiredLevel,
  scopeNeeded,
  scopesAllow,
  scopesToStore,
  scopesWithin,
} from '../src/index';

describe('isScope', () => {
  it('accepts read, write and <catalog module>:read|write only', () => {
    for (const scope of ['read', 'write', 'invoices:read', 'payments:write', 'petty-cash:read']) expect(isScope(scope)).toBe(true);
    for (const scope of ['', 'READ', 'admin', 'invoices', 'invoices:', ':read', 'invoice:read', 'invoices:delete', 'invoices:read:write', ' read', 42, null]) {
      expect(isScope(scope)).toBe(false);
    }
  });
});

describe('normalizeScopes', () => {
  it('drops duplicates and scopes another one includes, and sorts, bare scopes first', () => {
    expect(normalizeScopes(['payments:read', 'invoices:write', 'invoices:read', 'invoices:write'])).toEqual(['invoices:write', 'payments:read']);
    expect(normalizeScopes(['customers:write', 'invoices:read', 'read'])).toEqual(['read', 'customers:write']);
    expect(normalizeScopes(['invoices:write', 'write', 'read'])).toEqual(['write']);
  });

  it('refuses what is not a non-empty list of scopes, without echoing a long or odd entry', () => {
    for (const input of [[], 'read', undefined, ['read', 'nope:read'], new Array(101).fill('read')]) {
      expect(() => normalizeScopes(input)).toThrow(ScopeError);
    }
    const secretish = `live_sk_${'a'.repeat(48)}`;
    expect(() => normalizeScopes([secretish])).toThrow(/not shown/);
    expect(() => normalizeScopes(['banking:read'])).toThrow(/"banking:read"/);
  });

  it('stores full access as absent, as on every v1 row', () => {
    expect(scopesToStore(undefined)).toBeUndefined();
    expect(scopesToStore(['write'])).toBeUndefined();
    expect(scopesToStore(['write', 'invoices:read'])).toBeUndefined();
    expect(scopesToStore(['read'])).toEqual(['read']);
  });
});

describe('requiredLevel', () => {
  it('GET, HEAD and OPTIONS need read; every other method, and no method at all, needs write', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(requiredLevel(method)).toBe('read');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'PROPFIND', 'get', '', undefined]) expect(requiredLevel(method)).toBe('write');
  });
});

describe('scopesAllow', () => {
  it('with a module: a bare scope or that module’s scope grants the level; write includes read', () => {
    expect(scopesAllow(FULL_ACCESS, 'write', 'payments')).toBe(true);
    expect(scopesAllow(['read'], 'read', 'payments')).toBe(true);
    expect(scopesAllow(['read'], 'write', 'invoices')).toBe(false);
    expect(scopesAllow(['invoices:write'], 'read', 'invoices')).toBe(true);
    expect(scopesAllow(['invoices:write'], 'write', 'invoices')).toBe(true);
    expect(scopesAllow(['invoices:read'], 'write', 'invoices')).toBe(false);
    expect(scopesAllow(['invoices:write'], 'read', 'customers')).toBe(false);
  });

  it('without a module: any scope that grants the level', () => {
    expect(scopesAllow(['invoices:read'], 'read', undefined)).toBe(true);
    expect(scopesAllow(['invoices:read'], 'write', undefined)).toBe(false);
    expect(scopesAllow(['invoices:read', 'payments:write'], 'write', undefined)).toBe(true);
    expect(scopesAllow([], 'read', undefined)).toBe(false);
  });

  it('names the scope that would allow a refused request', () => {
    expect(scopeNeeded('write', 'invoices')).toBe('invoices:write');
    expect(scopeNeeded('read', undefined)).toBe('read');
  });
});

describe('scopesWithin', () => {
  it('lets a token narrow its service account’s scopes, never widen them', () => {
    expect(scopesWithin(['invoices:read'], ['write'])).toBe(true);
    expect(scopesWithin(['invoices:read'], ['invoices:write'])).toBe(true);
    expect(scopesWithin(['read'], ['read'])).toBe(true);
    expect(scopesWithin(['read'], ['write'])).toBe(true);
    expect(scopesWithin(['write'], ['read'])).toBe(false);
    expect(scopesWithin(['read'], ['invoices:write'])).toBe(false);
    expect(scopesWithin(['invoices:write'], ['invoices:read'])).toBe(false);
    expect(scopesWithin(['payments:read'], ['invoices:write', 'read'])).toBe(true);
  });
});
