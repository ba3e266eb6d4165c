// Test helpers: a gateway's internal API on a real node:http server, raw servers for faults, tokens, and waiting for events.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { KeyStore, StoreEvent } from '@finora-auth/core';
import { createInternalApi, type InternalApi, type InternalApiOptions } from '../../gateway/src/internal-api';

/** A fresh internal token, as an operator would make one (`openssl rand -hex 32`). */
export const newToken = (): string => randomBytes(32).toString('hex');

export interface Running {
  url: string;
  server: Server;
  /** Cuts every open connection (a gateway that died) and stops listening. */
  kill(): Promise<void>;
}

/** A node:http server on a loopback port; `kill` destroys its connections, so no test waits on a keep-alive. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, port = 0): Promise<Running> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    server,
    kill: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface InternalGateway extends Running {
  api: InternalApi;
  token: string;
}

/** The gateway's internal API over `store`, as `serve --internal-token-file` mounts it (other paths: 418, never reached). */
export async function internalGateway(store: KeyStore, options: Partial<InternalApiOptions> = {}, port = 0): Promise<InternalGateway> {
  const token = options.token ?? newToken();
  const api = createInternalApi({ store, token, ...options });
  const running = await serve((req, res) => {
    if (!api.handle(req, res)) res.writeHead(418).end();
  }, port);
  return {
    ...running,
    api,
    token,
    kill: async () => {
      api.close();
      await running.kill();
    },
  };
}

/** Records a store's events; `next` resolves with the first event (from now or already seen) matching `match`. */
export function listen(store: KeyStore) {
  const events: StoreEvent[] = [];
  const waiters: { match: (e: StoreEvent) => boolean; resolve: (e: StoreEvent) => void }[] = [];
  const stop = store.subscribe((event) => {
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.match(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    events,
    stop,
    /** The next event matching `match` from now on. */
    next(match: (e: StoreEvent) => boolean, withinMs = 5_000): Promise<StoreEvent> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching store event within ${withinMs} ms`)), withinMs);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      });
    },
  };
}

export const isReset = (live: boolean) => (e: StoreEvent) => e.type === 'reset' && e.live === live;
