// The helpers adapters read Node's request with: each must read exactly what the framework (or Node) would.

import { describe, expect, it } from 'vitest';
import { authorizationFromRawHeaders, fieldFromRawHeaders, targetPath } from '../src/index';

describe('authorizationFromRawHeaders / fieldFromRawHeaders', () => {
  it('joins every copy with ", " whatever the case, so two Authorization headers are never read as the first', () => {
    const raw = ['Host', 'x', 'authorization', 'Bearer a', 'Accept', '*/*', 'AUTHORIZATION', 'Bearer b'];
    expect(authorizationFromRawHeaders(raw)).toBe('Bearer a, Bearer b');
    expect(fieldFromRawHeaders(raw, 'authorization')).toBe('Bearer a, Bearer b');
  });

  it('reads Origin as Node joins it in req.headers, and null when it is absent', () => {
    const raw = ['Origin', '', 'oRiGiN', 'https://app.example'];
    expect(fieldFromRawHeaders(raw, 'origin')).toBe(', https://app.example');
    expect(fieldFromRawHeaders(['Host', 'x', 'Originx', 'y', 'Orig', 'z'], 'origin')).toBeNull();
    expect(authorizationFromRawHeaders([])).toBeNull();
    // A value whose text looks like a name is not taken for one: pairs are read two by two.
    expect(fieldFromRawHeaders(['X-Note', 'origin', 'Origin', 'o'], 'origin')).toBe('o');
  });
});

describe('targetPath', () => {
  it.each([
    ['/v1/invoices', '/v1/invoices'],
    ['/v1/invoices?x=/v1/payments', '/v1/invoices'],
    ['/v1/invoices#/payments', '/v1/invoices'],
    ['http://host:8080/v1/payments?q', '/v1/payments'],
    ['HTTPS://host/v1/ai', '/v1/ai'],
    ['//evil/v1/payments', '//evil/v1/payments'],
    ['*', '*'],
    ['', ''],
  ])('%j -> %j', (url, path) => {
    expect(targetPath(url)).toBe(path);
  });
});
