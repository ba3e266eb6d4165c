// An upper bound for proxy mode (`node bench/gateway.mjs --bounds`): node:http and undici's Pool.dispatch, as
// the gateway uses them, with the core's cached decision and the gateway's own target check, and nothing else:
// no access log, metrics, response or connection tracking, close listener, retry or timeouts of its own.
//
// - `contract`: the headers the contract requires and no more: Host, the identity headers first, Authorization,
//   hop-by-hop headers and client copies of identity headers dropped.
// - `forwarding`: the headers the gateway really sends (`upstreamRequestHeaders`, with X-Forwarded-For/-Host/
//   -Proto and X-Real-IP).
//
// Built from these sources by bench/bounds/build.mjs; never shipped.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { authorizationFromRawHeaders, createAuthenticator, type AuthRequest, type AuthResult, type KeyStore } from '@finora-auth/core';
import { clientResponseHeaderList, upstreamRequestHeaders, type Identity } from '../../packages/gateway/src/forward-headers';
import { judgeTarget } from '../../packages/gateway/src/target';

export type BoundVariant = 'contract' | 'forwarding';

const CONTRACT_DROP = new Set([
  'authorization',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'finora-account-id',
  'finora-key-id',
  'finora-environment',
  'finora-module',
  'finora-scopes',
]);

function contractHeaders(raw: readonly string[], identity: Identity, upstreamHost: string): string[] {
  const headers = ['Host', upstreamHost, 'Finora-Account-Id', identity.accountId, 'Finora-Key-Id', identity.keyId, 'Finora-Environment', identity.environment];
  if (identity.module !== undefined) headers.push('Finora-Module', identity.module);
  for (let i = 0; i < raw.length; i += 2) {
    if (!CONTRACT_DROP.has((raw[i] as string).toLowerCase())) headers.push(raw[i] as string, raw[i + 1] as string);
  }
  return headers;
}

export async function listenBoundProxy(options: { store: KeyStore; upstream: string; variant: BoundVariant }): Promise<number> {
  const upstream = new URL(options.upstream);
  const authenticator = createAuthenticator({ store: options.store });
  const pool = new Pool(upstream.origin, { pipelining: 1 });

  function forward(req: IncomingMessage, res: ServerResponse, result: AuthResult & { ok: true }): void {
    const headers =
      options.variant === 'contract'
        ? contractHeaders(req.rawHeaders, result.context, upstream.host)
        : upstreamRequestHeaders(req.rawHeaders, result.context, {
            upstreamHost: upstream.host,
            clientHost: req.headers.host,
            clientProto: 'http',
            clientAddress: req.socket.remoteAddress,
          }).headers;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const extra = result.headers;
    // The bare undici proxy's handler in bench/gateway.mjs, on purpose: the bound differs from it only by the decision and the headers.
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(controller, status, upstreamHeaders) {
        const out = clientResponseHeaderList(upstreamHeaders);
        for (const name in extra) out.push(name, extra[name] as string);
        res.writeHead(status, out);
        res.on('drain', () => controller.resume());
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) controller.pause();
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      },
    };
    pool.dispatch({ origin: upstream.origin, path: req.url ?? '/', method: req.method ?? 'GET', headers, body: hasBody ? req : null }, handler);
  }

  const server = createServer((req, res) => {
    const target = judgeTarget(req.url ?? '/');
    if (!target.ok) {
      res.writeHead(400).end();
      return;
    }
    const request: AuthRequest = { authorization: authorizationFromRawHeaders(req.rawHeaders), method: req.method ?? 'GET', origin: req.headers.origin ?? null };
    if (target.module !== undefined) request.module = target.module;
    const decided = (result: AuthResult): void => {
      if (result.ok) forward(req, res, result);
      else res.writeHead(result.error.status, result.error.headers).end(JSON.stringify(result.error.body));
    };
    const result = authenticator.authenticateNow?.(request) ?? authenticator.authenticate(request);
    if (result instanceof Promise) void result.then(decided);
    else decided(result);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
