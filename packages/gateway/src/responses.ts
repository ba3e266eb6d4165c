// The gateway's own error answers, in the contract's shape: {"error":{"code":…,"message":…}}.

/** Codes the gateway itself answers with; the authenticator's codes come from the core. */
export type GatewayErrorCode =
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'HEADERS_TOO_LARGE'
  | 'BAD_REQUEST'
  /** A request target that upstreams in other languages would route differently (see target.ts). */
  | 'INVALID_REQUEST'
  | 'SHUTTING_DOWN'
  | 'TOO_MANY_FAILED_AUTHENTICATIONS'
  | 'INTERNAL_ERROR';

export function errorBody(code: GatewayErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
