// A TCP proxy that can freeze like a silent network partition: sockets stay open, no byte moves either way
// (held, in order, and delivered on thaw, as TCP would retransmit them once the network heals).

import { connect, createServer, type Server, type Socket } from 'node:net';

export class FreezeProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pipes = new Set<{ client: Socket; upstream: Socket }>();
  /** Bytes held while frozen, per destination socket, in arrival order. */
  readonly #held = new Map<Socket, Buffer[]>();
  #frozen = false;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  /** Listens on a free loopback port and forwards every connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<FreezeProxy> {
    const server = createServer();
    const proxy = new FreezeProxy(server, target);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('freeze proxy not listening');
    return address.port;
  }

  /** `url` (redis://…, postgres://…) pointed at the proxy instead. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** From now on nothing is forwarded, in either direction, on any connection, old or new; nothing is closed. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Delivers what was held, in order, and forwards again. */
  thaw(): void {
    this.#frozen = false;
    for (const [destination, chunks] of this.#held) {
      if (!destination.destroyed) for (const chunk of chunks) destination.write(chunk);
    }
    this.#held.clear();
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.#pipes) {
      client.destroy();
      upstream.destroy();
    }
    this.#pipes.clear();
    this.#held.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    const pipe = { client, upstream };
    this.#pipes.add(pipe);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#held.delete(client);
      this.#held.delete(upstream);
      this.#pipes.delete(pipe);
    };
    for (const socket of [client, upstream]) socket.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => this.#forward(chunk, upstream));
    upstream.on('data', (chunk: Buffer) => this.#forward(chunk, client));
  }

  #forward(chunk: Buffer, destination: Socket): void {
    if (!this.#frozen) {
      destination.write(chunk);
      return;
    }
    const held = this.#held.get(destination);
    if (held) held.push(chunk);
    else this.#held.set(destination, [chunk]);
  }
}
