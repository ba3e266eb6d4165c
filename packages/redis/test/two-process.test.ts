// Two processes on one Redis: a revocation made in a child Node process (running the built package) reaches this
// process's warm cache within 200 ms. Also proves the build loads through both `import` and `require`.

import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createAuthenticator, createKeyManager, type DecisionEvent } from '@finora-auth/core';
import { RedisKeyStore } from '@finora-auth/redis';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAnswers, requireService } from './redis-server';
import { REDIS_URL, dropPrefix, uniquePrefix } from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

const packageDir = fileURLToPath(new URL('..', import.meta.url));
// A private build (the package's tsup settings, without declarations): rebuilding the real dist/ here could pull
// it from under another process that is using it.
const distDir = `${packageDir}.tmp/test-dist-${process.pid}`;
const PROPAGATION_BOUND_MS = 200;

describe.runIf(available)('RedisKeyStore across processes', () => {
  const prefix = uniquePrefix('two-process');
  let child: ChildProcess;
  let store: RedisKeyStore;
  const replies: Record<string, unknown>[] = [];

  const reply = async (predicate: (message: Record<string, unknown>) => boolean) => {
    await eventually(() => replies.some(predicate), 10_000);
    const found = replies.find(predicate)!;
    if ('error' in found) throw new Error(`child: ${String(found.error)}`);
    return found;
  };

  beforeAll(async () => {
    await build({
      entry: { index: `${packageDir}src/index.ts` },
      format: ['esm', 'cjs'],
      outDir: distDir,
      dts: false,
      clean: true,
      target: 'es2022',
      platform: 'node',
      external: ['ioredis', '@finora-auth/core'],
      silent: true,
      config: false,
    });
    child = fork(fileURLToPath(new URL('./fixtures/revoker.mjs', import.meta.url)), {
      env: { ...process.env, FINORA_REDIS_DIST: `${distDir}/index.js`, FINORA_REDIS_URL: REDIS_URL, FINORA_REDIS_PREFIX: prefix },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (message) => replies.push(message as Record<string, unknown>));
    store = new RedisKeyStore({ url: REDIS_URL, prefix });
    await reply((m) => m.ready === true || 'error' in m);
  }, 60_000);

  afterAll(async () => {
    if (child?.connected) {
      child.send({ exit: true });
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await store?.close();
    await dropPrefix(REDIS_URL, prefix);
    rmSync(distDir, { recursive: true, force: true });
  });

  it('loads the build through require as well as import', () => {
    const script = `const { RedisKeyStore } = require(${JSON.stringify(`${distDir}/index.cjs`)});
      const s = new RedisKeyStore({ url: 'redis://127.0.0.1:1' }); s.close().then(() => console.log(typeof RedisKeyStore));`;
    const result = spawnSync(process.execPath, ['-e', script], { cwd: packageDir, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('function');
  });

  it(`refuses a key revoked by another process within ${PROPAGATION_BOUND_MS} ms, though it was cached`, async () => {
    const decisions: DecisionEvent[] = [];
    const authenticator = createAuthenticator({ store, cache: { ttlMs: 600_000 }, onDecision: (e) => decisions.push(e) });
    try {
      const manager = createKeyManager({ store });
      await manager.putAccount({ id: 'acct-two-process', tier: 'premium' });
      for (let round = 0; round < 3; round++) {
        const { apiKey, key } = await manager.issue({ accountId: 'acct-two-process', environment: 'live' });
        const ask = () => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
        // Warm until served from the cache (the first answers may come while the channel is still subscribing).
        await eventually(async () => (await ask()).ok && decisions.at(-1)?.cache === 'hit', 5_000);

        child.send({ revoke: key.id });
        await reply((m) => m.revoked === key.id || 'error' in m);
        await eventually(async () => {
          const result = await ask();
          return !result.ok && result.error.code === 'INVALID_API_KEY';
        }, PROPAGATION_BOUND_MS);
        expect(decisions.at(-1)?.reason).toBe('revoked');
      }
    } finally {
      await authenticator.close();
    }
  });
});
