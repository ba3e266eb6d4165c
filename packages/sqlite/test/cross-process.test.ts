// Several real Node processes on one SQLite file: a revocation made elsewhere reaches a warm cache within 1 second.

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, type DecisionEvent } from '@finora-auth/core';
import { SQLITE_SCHEMA_VERSION, SqliteKeyStore } from '../src/index';
import { schemaVersion } from '../src/schema';
import { tempDir } from './helpers';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
// Inside the package's node_modules, so the bundle's `import 'better-sqlite3'` resolves like the package's own.
const buildDir = here(`../node_modules/.finora-test-${process.pid}`);
const child = `${buildDir}/child.mjs`;
const temp = tempDir('cross');

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(args: string[], timeoutMs = 15_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk) => (stdout += chunk));
    proc.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`child ${args[0]} still running after ${timeoutMs} ms; stdout ${stdout} stderr ${stderr}`));
    }, timeoutMs);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  mkdirSync(buildDir, { recursive: true });
  await build({
    entryPoints: [here('./fixtures/child.ts')],
    outfile: child,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3'],
    alias: {
      '@finora-auth/core': here('../../core/src/index.ts'),
    },
    logLevel: 'silent',
  });
});

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  temp.remove();
});

describe('SqliteKeyStore across processes', () => {
  it('refuses a key revoked by another process within 1 s, though this process had it cached', async () => {
    const path = temp.file('shared/keys.db');
    const store = new SqliteKeyStore({ path });
    const decisions: DecisionEvent[] = [];
    const authenticator = createAuthenticator({ store, onDecision: (event) => decisions.push(event) });
    try {
      const manager = createKeyManager({ store });
      await manager.putAccount({ id: 'acct-cross', tier: 'premium' });
      const { apiKey, key } = await manager.issue({ accountId: 'acct-cross', environment: 'live' });
      const ask = () => authenticator.authenticate({ authorization: `Bearer ${apiKey}`, module: 'invoices' });
      expect((await ask()).ok).toBe(true);
      expect((await ask()).ok).toBe(true);
      expect(decisions.at(-1)?.cache).toBe('hit'); // warm: the cache alone would keep saying yes for 30 s

      const result = await runChild(['revoke', path, key.id]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const { revokedAt } = JSON.parse(result.stdout) as { revokedAt: number };

      let answer = await ask();
      while (answer.ok && Date.now() - revokedAt < 3_000) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        answer = await ask();
      }
      const seenAfterMs = Date.now() - revokedAt;
      expect(answer.ok).toBe(false);
      expect(answer.ok ? undefined : answer.error.code).toBe('INVALID_API_KEY');
      expect(decisions.at(-1)?.reason).toBe('revoked');
      expect(seenAfterMs).toBeLessThan(1_000);
    } finally {
      await authenticator.close();
      await store.close();
    }
  });

  it('lets a process that subscribed and never closed the store exit on its own', async () => {
    const path = temp.file('linger.db');
    const result = await runChild(['linger', path], 10_000);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ready\n');
    expect(result.code).toBe(0);
  });

  it('lets several processes create and migrate a new file at the same moment', async () => {
    const path = temp.file('race/keys.db');
    const results = await Promise.all(Array.from({ length: 4 }, () => runChild(['open', path])));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const db = new Database(path, { readonly: true });
    expect(schemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
    db.close();
  });
});
