// A raw-socket HTTP/1.1 client: sends any bytes (NUL, repeated headers, 64 KB values) that Node's own client refuses.

import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Lower-cased names; a repeated field becomes an array. */
  headers: Record<string, string | string[]>;
  body: string;
  /** The status line and header block exactly as received. */
  head: string;
  /** The server closed the connection after this response. */
  closed: boolean;
}

export type RawHeader = readonly [name: string, value: string];

/**
 * Builds a GET request. Header values are written byte for byte: characters up to U+00FF as one byte (latin1, as
 * Node's parser reads them back), anything above as UTF-8.
 */
export function buildRequest(path: string, headers: readonly RawHeader[], method = 'GET'): Buffer {
  const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, 'latin1')];
  for (const [name, value] of headers) {
    parts.push(Buffer.from(`${name}: `, 'latin1'), encodeValue(value), Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('\r\n', 'latin1'));
  return Buffer.concat(parts);
}

export function encodeValue(value: string): Buffer {
  // Every code unit below 256 fits one latin1 byte; anything wider is sent as UTF-8.
  const fitsLatin1 = [...value].every((char) => char.charCodeAt(0) <= 0xff);
  return fitsLatin1 ? Buffer.from(value, 'latin1') : Buffer.from(value, 'utf8');
}

/** What a server's parser receives for `value`: its bytes read back as latin1. */
export function asReceived(value: string): string {
  return encodeValue(value).toString('latin1');
}

/** Parses one response from the front of `buffer`; `undefined` until it is complete (or `ended` says no more is coming). */
function parseResponse(buffer: Buffer, ended: boolean): { response: RawResponse; used: number } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const head = buffer.subarray(0, headEnd).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers[name];
    headers[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  const bodyStart = headEnd + 4;
  const closed = /close/i.test(String(headers.connection ?? ''));
  const length = headers['content-length'];
  if (typeof length === 'string') {
    const end = bodyStart + Number(length);
    if (buffer.length < end) return undefined;
    return { response: { status, headers, head, body: buffer.subarray(bodyStart, end).toString('utf8'), closed }, used: end };
  }
  if (/chunked/i.test(String(headers['transfer-encoding'] ?? ''))) {
    const chunks: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size in response to ${statusLine}`);
      if (size === 0) {
        const trailerEnd = buffer.indexOf('\r\n', lineEnd + 2);
        if (trailerEnd === -1) return undefined;
        const body = Buffer.concat(chunks).toString('utf8');
        return { response: { status, headers, head, body, closed }, used: trailerEnd + 2 };
      }
      if (buffer.length < lineEnd + 2 + size + 2) return undefined;
      chunks.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { response: { status, headers, head, body: '', closed }, used: bodyStart };
  }
  // No length: the body runs to the end of the connection.
  if (!ended) return undefined;
  return { response: { status, headers, head, body: buffer.subarray(bodyStart).toString('utf8'), closed: true }, used: buffer.length };
}

/**
 * One keep-alive connection, one request at a time; it reconnects after the server closes. Requests are never
 * pipelined, so each response belongs to the request just sent.
 */
export class RawClient {
  #socket: net.Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #waiter: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly timeoutMs = 10_000,
  ) {}

  /** `close`: drop the connection after this response (for requests whose bytes may parse as more than one). */
  send(request: Buffer, options: { close?: boolean } = {}): Promise<RawResponse> {
    const run = this.#queue.then(() => this.#send(request, options.close ?? false));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #connect(): Promise<net.Socket> {
    if (this.#socket && !this.#ended && !this.#socket.destroyed) return this.#socket;
    this.#socket?.destroy();
    const socket = net.connect({ port: this.port, host: '127.0.0.1', noDelay: true });
    this.#socket = socket;
    this.#buffer = Buffer.alloc(0);
    this.#ended = false;
    // Events of an earlier socket (its late 'close') must not touch this one's state.
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket !== socket) return;
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#waiter?.();
    });
    const finish = () => {
      if (this.#socket !== socket) return;
      this.#ended = true;
      this.#waiter?.();
    };
    socket.on('end', finish);
    socket.on('close', finish);
    // A reset after the server answered and closed is normal (it may close before reading all we sent).
    socket.on('error', finish);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return socket;
  }

  async #send(request: Buffer, close: boolean): Promise<RawResponse> {
    const socket = await this.#connect();
    socket.write(request);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.#buffer, this.#ended);
      if (parsed) {
        this.#buffer = this.#buffer.subarray(parsed.used);
        if (parsed.response.closed || close || this.#buffer.length > 0) {
          socket.destroy();
          this.#ended = true;
        }
        return parsed.response;
      }
      if (this.#ended) throw new Error(`connection closed without a response (${this.#buffer.length} bytes received)`);
      const left = deadline - Date.now();
      if (left <= 0) {
        socket.destroy();
        this.#ended = true;
        throw new Error(`no response within ${this.timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          this.#waiter = undefined;
          resolve();
        };
      });
    }
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }
}

/** A small pool of raw clients, so a campaign keeps several requests in flight. */
export class RawPool {
  readonly #clients: RawClient[];
  #next = 0;

  constructor(port: number, size = 8, timeoutMs = 10_000) {
    this.#clients = Array.from({ length: size }, () => new RawClient(port, timeoutMs));
  }

  get size(): number {
    return this.#clients.length;
  }

  send(request: Buffer, options: { close?: boolean } = {}): Promise<RawResponse> {
    const client = this.#clients[this.#next++ % this.#clients.length] as RawClient;
    return client.send(request, options);
  }

  close(): void {
    for (const client of this.#clients) client.close();
  }
}

/** Node's own answers when its parser refuses a request, before any application code runs. */
export function isParserRefusal(response: RawResponse): boolean {
  return (
    (response.status === 400 || response.status === 431) &&
    response.body === '' &&
    response.closed &&
    response.headers['content-type'] === undefined
  );
}
