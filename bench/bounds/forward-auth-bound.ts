// An upper bound for forward-auth (`node bench/forward-auth.mjs --bound`): `createGateway`'s shape, but its
// server answers the proxy's question straight from node:http's request event with the shipped
// `judgeForwardAuth` and the core's cached decision, and nothing else: no access log, metrics, response or
// connection tracking, close listener, own endpoints or body handling.
//
// Built from these sources by bench/bounds/build.mjs; never shipped.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, type KeyStore } from '@finora-auth/core';
import { judgeForwardAuth, type JudgedForwardAuth } from '../../packages/gateway/src/forward-auth';

function write(answer: JudgedForwardAuth, res: ServerResponse): void {
  if ('headerList' in answer) {
    answer.headerList.push('Content-Length', '0');
    res.writeHead(answer.status, answer.headerList);
    res.end();
    return;
  }
  answer.headers['Content-Length'] = String(Buffer.byteLength(answer.body));
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

export function createGateway(options: { store: KeyStore }) {
  const authenticator = createAuthenticator({ store: options.store });
  const server = createServer((req, res) => {
    const judged = judgeForwardAuth(authenticator, req);
    if (judged instanceof Promise) void judged.then((answer) => write(answer, res));
    else write(judged, res);
  });
  return {
    server,
    listen: (port: number, host: string) =>
      new Promise<{ port: number }>((resolve) => server.listen(port, host, () => resolve({ port: (server.address() as AddressInfo).port }))),
    close: async () => {
      server.close();
      return { forced: 0 };
    },
  };
}
