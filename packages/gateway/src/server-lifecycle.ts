// Listening and graceful shutdown: connections tracked from their first byte, idle ones ended, busy ones cut at a deadline.

import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Tracked } from './tracked';

/** Requests in flight on a connection, kept on its socket. */
const BUSY = Symbol('finora-auth.busy');
export type Connection = Socket & { [BUSY]?: number };

/**
 * Open connections and their requests in flight. Node's closeIdleConnections() misses a connection that has not
 * sent its first request yet, which would hold a graceful shutdown open until the keep-alive timeout; so
 * connections are tracked here. (Linked lists, not a Set or Map: see tracked.ts.)
 */
export class Connections {
  readonly #sockets = new Tracked<Connection>();
  shuttingDown = false;

  constructor(server: Server) {
    server.on('connection', (socket: Connection) => {
      socket[BUSY] = 0;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** A request started on `socket`; `end(socket)` when its response closes. (No closure per request.) */
  begin(socket: Socket): void {
    const connection = socket as Connection;
    connection[BUSY] = (connection[BUSY] ?? 0) + 1;
  }

  /** The response of a request `begin` counted on `socket` closed. */
  end(socket: Socket): void {
    const connection = socket as Connection;
    connection[BUSY] = (connection[BUSY] ?? 1) - 1;
    this.endIfIdle(connection);
  }

  /** Once shutting down, a connection with nothing in flight has nothing left to do. */
  endIfIdle(socket: Connection): void {
    if (this.shuttingDown && !socket[BUSY]) socket.end();
  }

  endIdle(): void {
    for (const socket of this.#sockets) this.endIfIdle(socket);
  }

  /** Cuts every connection; returns how many had a request in flight. */
  cut(): number {
    let forced = 0;
    for (const socket of this.#sockets) {
      if (socket[BUSY]) forced += 1;
      socket.destroy();
    }
    return forced;
  }
}

export function listenOn(target: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    target.once('error', onError);
    target.listen(port, host, () => {
      target.off('error', onError);
      resolve(target.address() as AddressInfo);
    });
  });
}

/** A URL for an address really bound; the unspecified addresses are reached as `localhost`. */
export function urlOf(address: AddressInfo, path = ''): string {
  const host = address.address === '::' || address.address === '0.0.0.0' ? 'localhost' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}${path}`;
}

/** Stops accepting, ends idle connections now and busy ones when their last answer is sent, cuts the rest at `deadline`. */
export function stopServer(target: Server, deadline: number, connections?: Connections): Promise<number> {
  if (!target.listening) return Promise.resolve(0);
  return new Promise((resolve) => {
    let forced = 0;
    const timer = setTimeout(() => {
      forced = connections?.cut() ?? 0;
      target.closeAllConnections();
    }, Math.max(0, deadline - Date.now()));
    target.close(() => {
      clearTimeout(timer);
      resolve(forced);
    });
    target.closeIdleConnections();
    connections?.endIdle();
  });
}
