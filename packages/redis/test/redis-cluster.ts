// Starts and stops a private 3-master Redis Cluster on free loopback ports (each master its own process and temp
// dir, append-only with fsync on every write), for tests that run the Redis store on a cluster and kill masters.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { REDIS_SERVER_BIN, freePort } from './redis-server';

const run = promisify(execFile);

export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';

/** Both binaries are installed. Under CI=true a missing one must fail the run: pass this to `requireService`. */
export const clusterToolsAvailable = (): boolean => existsSync(REDIS_SERVER_BIN) && existsSync(REDIS_CLI_BIN);

export interface ClusterNode {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Starts it again after a kill (same dir: same node id, slots and data); resolves once it answers. */
  start(): Promise<void>;
  /** Ends it abruptly (SIGKILL) and waits for the process to exit. */
  kill(): Promise<void>;
}

export interface PrivateRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's URL, for `new RedisKeyStore({ cluster })`. */
  readonly urls: string[];
  /** The node that serves `key`'s slot (by its hash tag). */
  ownerOf(key: string): Promise<ClusterNode>;
  /** Resolves once every running node reports `cluster_state:ok`. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes their directories. */
  dispose(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function startNode(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER_BIN,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      // A killed master is seen as failed within about a second; the other masters keep serving their slots.
      '--cluster-node-timeout', '1000',
      '--cluster-require-full-coverage', 'no',
      '--save', '',
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--daemonize', 'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`redis-server (cluster) did not start on ${port}:\n${log}`)), 10_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server (cluster) exited (${code ?? signal}) while starting on ${port}:\n${log}`));
    });
  });
  return child;
}

async function clusterInfo(port: number): Promise<string> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return String(await redis.call('CLUSTER', 'INFO'));
  } catch {
    return '';
  } finally {
    redis.disconnect();
  }
}

export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  if (!clusterToolsAvailable()) throw new Error(`redis-server (${REDIS_SERVER_BIN}) or redis-cli (${REDIS_CLI_BIN}) is not installed`);
  const dirs: string[] = [];
  const nodes: (ClusterNode & { child?: ChildProcess })[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'finora-redis-cluster-'));
    dirs.push(dir);
    const node: ClusterNode & { child?: ChildProcess } = {
      port,
      url: `redis://127.0.0.1:${port}`,
      get running() {
        return node.child !== undefined && node.child.exitCode === null && node.child.signalCode === null;
      },
      async start() {
        if (node.running) return;
        node.child = await startNode(port, dir);
      },
      async kill() {
        const child = node.child;
        if (!child || !node.running) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      },
    };
    nodes.push(node);
  }

  const cluster: PrivateRedisCluster = {
    nodes,
    urls: nodes.map((node) => node.url),
    async ownerOf(key) {
      const redis = new Redis({ port: nodes.find((n) => n.running)!.port, host: '127.0.0.1' });
      try {
        const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
        const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        const owner = nodes.find((node) => node.port === range?.[2][1]);
        if (!owner) throw new Error(`no node serves slot ${slot}`);
        return owner;
      } finally {
        redis.disconnect();
      }
    },
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const infos = await Promise.all(nodes.filter((n) => n.running).map((n) => clusterInfo(n.port)));
        if (infos.every((info) => info.includes('cluster_state:ok'))) return;
        if (Date.now() > deadline) throw new Error(`the Redis Cluster is not healthy after ${timeoutMs} ms:\n${infos.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async dispose() {
      await Promise.all(nodes.map((node) => node.kill()));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await Promise.all(nodes.map((node) => node.start()));
    await run(REDIS_CLI_BIN, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    await cluster.waitHealthy();
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}
