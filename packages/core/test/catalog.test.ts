// moduleFromPath: every spelling a framework might route to a module's handler is judged as that module.

import { describe, expect, it } from 'vitest';
import { assertModule, ENTERPRISE_MODULES, isEnterpriseModule, moduleFromPath, RETAIL_MODULES } from '../src/index';

describe('moduleFromPath', () => {
  it.each([
    ['/payments', 'payments'],
    ['/payments/', 'payments'],
    ['/payments/123?x=1', 'payments'],
    ['/v1/payments', 'payments'],
    ['/v22/payments/abc', 'payments'],
    ['/PAYMENTS', 'payments'],
    ['/V1/Payments', 'payments'],
    ['/%70ayments', 'payments'],
    ['/%2570ayments', 'payments'],
    ['/v1%2Fpayments', 'payments'],
    ['//payments', 'payments'],
    ['/v1//payments', 'payments'],
    ['/./payments', 'payments'],
    ['/invoices/../payments', 'payments'],
    ['/v1/invoices/..%2Fpayments', 'payments'],
    ['\\payments', 'payments'],
    ['/v1\\payments', 'payments'],
    ['/payments%20', 'payments'],
    ['/business-intelligence/x', 'business-intelligence'],
    ['/v1/invoices', 'invoices'],
    ['/petty-cash', 'petty-cash'],
  ])('%s → %s', (path, module) => {
    expect(moduleFromPath(path)).toBe(module);
  });

  it.each(['/', '', '/health', '/v1', '/v1/unknown/payments', '/api/payments', '/paymentsx', '/%E0%A4%A'])('%s → no module', (path) => {
    expect(moduleFromPath(path)).toBeUndefined();
  });

  it('handles a 64 KB path', () => {
    expect(moduleFromPath(`/payments/${'a/'.repeat(32_768)}`)).toBe('payments');
    expect(moduleFromPath('/'.repeat(65_536) + 'payments')).toBe('payments');
  });
});

describe('catalog', () => {
  it('lists the 17 retail and 6 enterprise modules of the product rules', () => {
    expect(RETAIL_MODULES).toHaveLength(17);
    expect(ENTERPRISE_MODULES).toEqual(['smart-loans', 'business-intelligence', 'account-officers', 'branch-analytics', 'payments', 'ai']);
    expect(RETAIL_MODULES.some(isEnterpriseModule)).toBe(false);
  });

  it('throws a TypeError naming the option for a name outside the catalog', () => {
    expect(() => assertModule('invoice', 'options.module')).toThrow(/options\.module.*"invoice"/);
    expect(() => assertModule('payments')).not.toThrow();
  });
});

describe('moduleFromPath, the strictest reading', () => {
  it.each([
    ['/payments/../invoices', 'payments'], // Express and Koa route this raw path to /payments/*
    ['/invoices/../payments', 'payments'], // URL parsers resolve it to /payments
    ['/v1/ai/%2e%2e/reports', 'ai'],
    ['/invoices/../reports', 'invoices'],
    // WHATWG URL (Hono, Workers) resolves raw and %2e dot segments before decoding, so a double-encoded `..` stays
    // a segment below the enterprise module there, while a decode-first reading resolves it away (found by the
    // gateway path fuzzer in front of a Hono upstream).
    ['/./smart-loans/%252e%252e/invoices', 'smart-loans'],
    ['/invoices/%2e%2e/./ai/%252e%252e/invoices', 'ai'],
    ['/x/%2E./payments/%252e%252e/invoices', 'payments'],
  ])('%s → %s', (path, module) => {
    expect(moduleFromPath(path)).toBe(module);
  });

  it.each([
    ['/', '/v1/payments', 'payments'],
    ['/123', '/payments', 'payments'],
    ['/invoices', '/api', 'invoices'],
    ['/invoices', '/api/v2', 'invoices'],
    ['/x', '/api/ai/v1', 'ai'],
    ['/invoices', '', 'invoices'],
    ['/', '/api', undefined],
  ])('%s under mount %s → %s', (path, mount, module) => {
    expect(moduleFromPath(path, mount)).toBe(module);
  });
});
