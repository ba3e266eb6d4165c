// An in-process gateway in front of a test upstream, on a MemoryKeyStore with keys issued by the key manager.

import { createKeyManager, MemoryKeyStore } from '@finora-auth/core';
import { tapStore } from '@finora-auth/core/testing';
import type { AccessRecord } from '../../src/access-log';
import { createGateway, type GatewayOptions } from '../../src/gateway';

export interface GatewayFixture {
  port: number;
  url: string;
  manager: ReturnType<typeof createKeyManager>;
  /** A retail (dashboard) key of `acme`, a premium account provisioned for enterprise modules. */
  retailKey: string;
  retailKeyId: string;
  enterpriseKey: string;
  /** Access log lines so far. */
  lines: AccessRecord[];
  /** Key lookups the store answered so far. */
  lookups(): number;
  close(): Promise<unknown>;
}

export async function startGateway(upstream: string | undefined, options: Partial<GatewayOptions> = {}): Promise<GatewayFixture> {
  const memory = new MemoryKeyStore();
  const store = tapStore(memory);
  const manager = createKeyManager({ store: memory });
  await manager.putAccount({ id: 'acme', tier: 'premium', enterprise: true });
  const retail = await manager.issue({ accountId: 'acme', environment: 'test' });
  const enterprise = await manager.issue({ accountId: 'acme', environment: 'live', surface: 'enterprise' });
  const lines: AccessRecord[] = [];
  const gateway = createGateway({
    store,
    ...(upstream === undefined ? {} : { upstream }),
    accessLog: { write: (chunk: string) => lines.push(...chunk.trim().split('\n').map((line) => JSON.parse(line) as AccessRecord)) },
    ...options,
  });
  const address = await gateway.listen(0, '127.0.0.1');
  return {
    port: address.port,
    url: address.url,
    manager,
    retailKey: retail.apiKey,
    retailKeyId: retail.key.id,
    enterpriseKey: enterprise.apiKey,
    lines,
    lookups: () => store.lookups,
    close: () => gateway.close(),
  };
}
