// The command's argument parsing says what is wrong: a negative number is a wrong value, not a missing one, and
// a flag given with its negation is a contradiction, not "the last one wins".

import { describe, expect, it } from 'vitest';
import { parse, UsageError, wholeNumber } from '../src/cli-args';

const EXPIRING = { within: { type: 'string' } } as const;
const ACCOUNTS = { tier: { type: 'string' }, enterprise: { type: 'boolean' } } as const;

describe('cli-args parse', () => {
  it('reads --within -3 as the value -3, which the number check then refuses by name', () => {
    const parsed = parse('keys expiring', ['--within', '-3'], EXPIRING);
    expect(parsed.values.within).toBe('-3');
    expect(() => wholeNumber(parsed.values.within as string, '--within', 1)).toThrow('--within must be a whole number; got "-3"');
  });

  it('still says a value is missing when there is none', () => {
    expect(() => parse('keys expiring', ['--within'], EXPIRING)).toThrow(/--within of "keys expiring" needs a value/);
  });

  it('refuses --enterprise with --no-enterprise, in either order', () => {
    for (const args of [['--enterprise', '--no-enterprise'], ['--no-enterprise', '--enterprise']]) {
      expect(() => parse('accounts set', ['acme', '--tier', 'premium', ...args], ACCOUNTS, 1)).toThrow(UsageError);
      expect(() => parse('accounts set', ['acme', ...args], ACCOUNTS, 1)).toThrow(/--(no-)?enterprise and --(no-)?enterprise contradict each other/);
    }
  });

  it('accepts either one alone, and the same one twice', () => {
    expect(parse('accounts set', ['acme', '--no-enterprise'], ACCOUNTS, 1).values.enterprise).toBe(false);
    expect(parse('accounts set', ['acme', '--enterprise', '--enterprise'], ACCOUNTS, 1).values.enterprise).toBe(true);
  });
});
