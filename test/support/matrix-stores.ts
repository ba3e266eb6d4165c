// The stores the matrix runs on: the four of fuzz-stores.ts, and the HTTP store reading a gateway's internal API.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryKeyStore, type KeyStore } from '@finora-auth/core';
import { HttpKeyStore } from '@finora-auth/http';
import { createInternalApi } from '../../packages/gateway/src/internal-api';
import { availableStores, openStore } from './fuzz-stores';

export type MatrixStoreName = 'memory' | 'sqlite' | 'redis' | 'postgres' | 'http';

export interface MatrixStore {
  name: MatrixStoreName;
  /** What the authenticators read. */
  store: KeyStore;
  /** Where the key manager writes, when `store` is read-only (the HTTP store). */
  writer?: KeyStore;
  dispose(): Promise<void>;
}

/**
 * The stores this machine runs, in order. Under CI=true a Redis or PostgreSQL that does not answer fails the suite
 * (fuzz-stores.ts's rule); elsewhere it is left out with the reason printed.
 */
export async function matrixStores(suite: string): Promise<MatrixStoreName[]> {
  return [...(await availableStores(suite)), 'http'];
}

export async function openMatrixStore(name: MatrixStoreName): Promise<MatrixStore> {
  if (name !== 'http') {
    const opened = await openStore(name);
    return { name, store: opened.store, dispose: () => opened.dispose() };
  }
  // A gateway's internal API over the store it writes to, in this process; the HTTP store asks it over loopback.
  const writer = new MemoryKeyStore();
  const token = randomBytes(32).toString('hex');
  const api = createInternalApi({ store: writer, token });
  const server = createServer((req, res) => {
    if (!api.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const store = new HttpKeyStore({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token });
  return {
    name,
    store,
    writer,
    async dispose() {
      await store.close();
      api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await writer.close();
    },
  };
}
