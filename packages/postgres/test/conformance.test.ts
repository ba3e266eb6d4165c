// The shared KeyStore conformance suite, run on PostgresKeyStore instances sharing one schema of a real database.

import { describe } from 'vitest';
import { describeKeyStoreConformance } from '@finora-auth/core/testing';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { POSTGRES_URL, dropSchema, dumpSchema, probePostgres, uniqueSchema } from './helpers';

const available = await probePostgres('postgres/conformance');

describe.runIf(available)('PostgresKeyStore', () => {
  const schema = uniqueSchema('conf');
  describeKeyStoreConformance('PostgresKeyStore', () => ({
    // Every call is a new instance on the same schema: a second gateway process, as far as the store can tell.
    open: () => new PostgresKeyStore({ connectionString: POSTGRES_URL, schema }),
    raw: () => dumpSchema(schema),
    propagationMs: 200,
    cleanup: () => dropSchema(schema),
  }));
});
