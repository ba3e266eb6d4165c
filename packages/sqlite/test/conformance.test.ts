// SqliteKeyStore against the shared store kits, called as every store package calls them: conformance, then metering.

import { describeKeyStoreConformance, describeMeteringChecks } from '@finora-auth/core/testing';
import { afterAll } from 'vitest';
import { SqliteKeyStore } from '../src/index';
import { dumpAll, tempDir } from './helpers';

const temp = tempDir('conformance');
afterAll(() => temp.remove());

// Each open() is a new connection on one file: a second process, as far as the data is concerned.
describeKeyStoreConformance('SqliteKeyStore', () => {
  const path = temp.file('nested/dir/keys.db');
  return { open: () => new SqliteKeyStore({ path }), raw: async () => dumpAll(path), propagationMs: 1_000 };
});

describeMeteringChecks('SqliteKeyStore', () => {
  const path = temp.file('metering.db');
  return { open: () => new SqliteKeyStore({ path }) };
});
