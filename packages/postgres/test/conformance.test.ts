// PostgresKeyStore against the shared store kits, called as every store package calls them: conformance, then metering.

import { describeKeyStoreConformance, describeMeteringChecks } from '@finora-auth/core/testing';
import { describe } from 'vitest';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { POSTGRES_URL, dropSchema, dumpSchema, probePostgres, uniqueSchema } from './helpers';

// Under CI=true an unreachable PostgreSQL fails this file; elsewhere it is skipped, said aloud.
const available = await probePostgres('postgres/conformance');

describe.runIf(available)('PostgresKeyStore', () => {
  // Every open() is a new instance on the same schema: a second gateway process, as far as the store can tell.
  const schema = uniqueSchema('conf');
  describeKeyStoreConformance('PostgresKeyStore', () => ({
    open: () => new PostgresKeyStore({ connectionString: POSTGRES_URL, schema }),
    raw: () => dumpSchema(schema),
    propagationMs: 200,
    cleanup: () => dropSchema(schema),
  }));

  const metering = uniqueSchema('metering');
  describeMeteringChecks('PostgresKeyStore', () => ({
    open: () => new PostgresKeyStore({ connectionString: POSTGRES_URL, schema: metering }),
    cleanup: () => dropSchema(metering),
  }));
});
