// Issue 9, finding 5: a refused request's body is not read in full, and 100 Continue waits until the request is allowed.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './support/raw-http';
import { startGateway, type GatewayFixture } from './upstreams/gateway-fixture';
import { startNodeUpstream, type NodeEchoUpstream } from './upstreams/servers';

/** A raw connection that collects what the server sends and notes when it closes. */
function open(port: number): { socket: Socket; received: () => string; closed: Promise<void>; isClosed: () => boolean } {
  const socket = connect({ port, host: '127.0.0.1' });
  let received = '';
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined); // a reset after the answer is the point of some tests
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => (isClosed = true));
  return { socket, received: () => received, closed, isClosed: () => isClosed };
}

/** Resolves once `text` has arrived (or the connection closed). */
async function waitFor(connection: ReturnType<typeof open>, pattern: RegExp): Promise<string> {
  while (!pattern.test(connection.received()) && !connection.isClosed()) {
    await new Promise<void>((resolve) => {
      connection.socket.once('data', () => resolve());
      connection.socket.once('close', () => resolve());
    });
  }
  return connection.received();
}

describe('bodies of refused requests, and Expect: 100-continue', () => {
  let node: NodeEchoUpstream;
  let gateway: GatewayFixture;
  beforeAll(async () => {
    node = await startNodeUpstream();
    gateway = await startGateway(node.url);
  });
  afterAll(async () => {
    await gateway?.close();
    await node?.close();
  });

  it('answers a 401 to a 200 MB upload with Connection: close and stops reading, instead of draining it', async () => {
    const total = 200 * 1024 * 1024;
    const connection = open(gateway.port);
    connection.socket.write(`POST /v1/documents HTTP/1.1\r\nHost: gw\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let written = 0;
    while (written < total && !connection.isClosed()) {
      written += chunk.length;
      if (!connection.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          connection.socket.once('drain', () => resolve());
          connection.socket.once('close', () => resolve());
        });
      }
    }
    await connection.closed;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(connection.received()).toMatch(/\r\nconnection: close\r\n/i);
    // What the kernel's buffers hold at most, far from 200 MB.
    expect(written).toBeLessThan(total / 4);
  });

  it('drains a small chunked body before a refusal, but answers with Connection: close once one passes 64 KiB', async () => {
    const client = new RawClient(gateway.port);
    const small = await client.send(Buffer.from('POST /v1/documents HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n'));
    expect(small.status).toBe(401);
    expect(small.closed).toBe(false);

    const connection = open(gateway.port);
    connection.socket.write('POST /v1/documents HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.from(`40000\r\n${'a'.repeat(0x40000)}\r\n`);
    let written = 0;
    while (written < 200 * 1024 * 1024 && !connection.isClosed()) {
      written += chunk.length;
      if (!connection.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          connection.socket.once('drain', () => resolve());
          connection.socket.once('close', () => resolve());
        });
      }
    }
    await connection.closed;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(connection.received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(written).toBeLessThan(50 * 1024 * 1024);
  });

  it('drains a small refused body and keeps the connection', async () => {
    const client = new RawClient(gateway.port);
    const body = 'x'.repeat(1_000);
    const first = await client.send(Buffer.from(`POST /v1/documents HTTP/1.1\r\nHost: gw\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    expect(first.status).toBe(401);
    expect(first.closed).toBe(false);
    const second = await client.send(Buffer.from(`GET /v1/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${gateway.retailKey}\r\n\r\n`), { close: true });
    expect(second.status).toBe(200);
  });

  it('sends no 100 Continue to a request it refuses, and closes the connection', async () => {
    const connection = open(gateway.port);
    connection.socket.write('PUT /v1/documents/1 HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n');
    const answer = await waitFor(connection, /\r\n\r\n/);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    await connection.closed;
    expect(connection.received()).not.toMatch(/100 Continue/);
  });

  it('sends 100 Continue once the request is allowed, then streams the body to the upstream', async () => {
    const seen = node.seen.length;
    const connection = open(gateway.port);
    connection.socket.write(
      `PUT /v1/documents/1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${gateway.retailKey}\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n`,
    );
    expect(await waitFor(connection, /\r\n\r\n/)).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    connection.socket.write('0123456789');
    const answer = await waitFor(connection, /HTTP\/1\.1 200 [^]*"route"/);
    expect(answer).toMatch(/HTTP\/1\.1 200 /);
    expect(node.seen).toHaveLength(seen + 1);
    expect(node.seen.at(-1)?.rawHeaders.map((name) => name.toLowerCase())).not.toContain('expect');
    connection.socket.destroy();
  });
});
