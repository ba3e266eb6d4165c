// Two processes on one PostgreSQL: a revocation made in a child process reaches this process's warm cache.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, type Authenticator, type CacheOutcome, type KeyManager } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { POSTGRES_URL, dropSchema, ensureBuilt, probePostgres, uniqueSchema } from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = await probePostgres('postgres/two-processes');

/** The child's answers, one JSON object per stdout line, handed out in order. */
function lines(child: ChildProcessWithoutNullStreams): () => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((value: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>;
    const next = waiting.shift();
    if (next) next(message);
    else queue.push(message);
  });
  return () => {
    const queued = queue.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => waiting.push(resolve));
  };
}

describe.runIf(available)('PostgresKeyStore across processes', () => {
  const schema = uniqueSchema('procs');
  let store: PostgresKeyStore;
  let manager: KeyManager;
  let authenticator: Authenticator;
  let child: ChildProcessWithoutNullStreams;
  let next: () => Promise<Record<string, unknown>>;
  const outcomes: CacheOutcome[] = [];
  let stderr = '';

  beforeAll(async () => {
    ensureBuilt();
    store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema, poolSize: 4 });
    manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-procs', tier: 'premium' });
    authenticator = createAuthenticator({ store, onDecision: (event) => outcomes.push(event.cache) });
    child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/revoker.mjs', import.meta.url))], {
      env: { ...process.env, FINORA_PG_URL: POSTGRES_URL, FINORA_PG_SCHEMA: schema },
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    next = lines(child);
    expect(await next(), stderr).toEqual({ ready: true });
  }, 120_000);

  afterAll(async () => {
    child?.stdin.end();
    if (child && child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await authenticator?.close();
    await store?.close();
    await dropSchema(schema);
  });

  it('a key revoked by another process is refused here within 200 ms, though it was cached', async () => {
    for (let round = 0; round < 5; round++) {
      const { apiKey, key } = await manager.issue({ accountId: 'acct-procs', environment: 'live' });
      const ask = () => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      expect((await ask()).ok).toBe(true);
      expect((await ask()).ok).toBe(true);
      expect(outcomes.at(-1)).toBe('hit');

      child.stdin.write(`${JSON.stringify({ id: round, op: 'revoke', keyId: key.id })}\n`);
      expect(await next(), stderr).toEqual({ id: round, ok: true });
      await eventually(async () => !(await ask()).ok, 200);
      const refused = await ask();
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.error.code).toBe('INVALID_API_KEY');
    }
  });
});
