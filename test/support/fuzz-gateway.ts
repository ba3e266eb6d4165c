// The gateway as a fuzz subject: `finora-auth serve` in-process, proxying to a framework app with a route per module.

import type { AuthenticatorOptions, KeyStore } from '@finora-auth/core';
import { createGateway } from '@finora-auth/gateway';
import { startApp, type Framework, type RunningApp } from './fuzz-apps';
import type { RawResponse } from '../../packages/gateway/test/support/raw-http';

export interface GatewaySubject {
  port: number;
  /** The upstream application: its hits say which route's handler ran, with the identity the gateway forwarded. */
  upstream: RunningApp;
  close(): Promise<void>;
}

/**
 * Starts the gateway on 127.0.0.1:0 in front of `upstream` (a framework app with no auth middleware of its own,
 * routing on the path the gateway forwards), with access logs off.
 */
export async function startGateway(
  upstreamFramework: Framework,
  options: { store: KeyStore; authenticator?: Omit<AuthenticatorOptions, 'store'>; maxHeaderSize?: number },
): Promise<GatewaySubject> {
  const upstream = await startApp(upstreamFramework);
  const gateway = createGateway({
    store: options.store,
    upstream: `http://127.0.0.1:${upstream.port}`,
    accessLog: false,
    metrics: false,
    authenticator: options.authenticator ?? {},
    ...(options.maxHeaderSize === undefined ? {} : { maxHeaderSize: options.maxHeaderSize }),
  });
  const address = await gateway.listen(0, '127.0.0.1');
  return {
    port: address.port,
    upstream,
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}

/** The gateway's own answer when Node's parser refuses a request: 400 or 431, its JSON error, connection closed. */
export function isGatewayParserRefusal(response: RawResponse): boolean {
  if (!response.closed || (response.status !== 400 && response.status !== 431)) return false;
  try {
    const code = (JSON.parse(response.body) as { error?: { code?: string } }).error?.code;
    return code === (response.status === 400 ? 'BAD_REQUEST' : 'HEADERS_TOO_LARGE');
  } catch {
    return false;
  }
}
