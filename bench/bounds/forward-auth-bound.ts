// An upper bound for forward-auth (`node bench/forward-auth.mjs --bound`): `createGateway`'s shape, but its
// server answers the proxy's question straight from node:http's request event with the shipped
// `judgeForwardAuth`, the core's cached decision and the shipped answer writer, and nothing else: no access
// log, metrics, response or connection tracking, close listener, own endpoints or body handling.
//
// Built from these sources by bench/bounds/build.mjs; never shipped.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, type KeyStore } from '@finora-auth/core';
import { judgeForwardAuth } from '../../packages/gateway/src/forward-auth';
import { writeForwardAuthAnswer } from '../../packages/gateway/src/forward-auth-mode';

export function createGateway(options: { store: KeyStore }) {
  const authenticator = createAuthenticator({ store: options.store });
  const server = createServer((req, res) => {
    const judged = judgeForwardAuth(authenticator, req);
    if (judged instanceof Promise) void judged.then((answer) => writeForwardAuthAnswer(answer, res));
    else writeForwardAuthAnswer(judged, res);
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
