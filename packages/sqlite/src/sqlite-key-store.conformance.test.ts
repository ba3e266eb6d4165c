// SqliteKeyStore against the shared KeyStore conformance suite, with each open() a new connection on one file.

import { describeKeyStoreConformance } from '@finora-auth/core/testing';
import { SqliteKeyStore } from './index';
import { dumpAll, tempDir } from '../test/helpers';

describeKeyStoreConformance('SqliteKeyStore', () => {
  const temp = tempDir('conformance');
  const path = temp.file('nested/dir/keys.db');
  return {
    open: () => new SqliteKeyStore({ path }),
    raw: async () => dumpAll(path),
    propagationMs: 1_000,
    cleanup: async () => temp.remove(),
  };
});
