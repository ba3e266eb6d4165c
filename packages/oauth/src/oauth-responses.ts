// The token endpoint's answers: JSON that is never cached, and the RFC 6749 §5.2 error shape.

/** The error codes of RFC 6749 §5.2, and `temporarily_unavailable` / `server_error` for the server's own faults. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'server_error';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...NO_STORE, ...headers },
  });
}

/** A public JSON document (key set, metadata) that caches may keep for `maxAgeSeconds`. */
export function publicJson(body: unknown, maxAgeSeconds: number): Response {
  return new Response(JSON.stringify(body), {
    headers: { 'Content-Type': 'application/json', 'Cache-Control': `public, max-age=${maxAgeSeconds}` },
  });
}

/** The challenge a 401 `invalid_client` carries (RFC 6749 §5.2). */
export const BASIC_CHALLENGE = 'Basic realm="finora"';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  temporarily_unavailable: 503,
  server_error: 500,
};

/** An RFC 6749 §5.2 error; `description` is fixed text for a person, never a credential. */
export function oauthError(
  error: OAuthErrorCode,
  description: string,
  options: { status?: number; headers?: Record<string, string> } = {},
): Response {
  const headers = error === 'invalid_client' ? { 'WWW-Authenticate': BASIC_CHALLENGE, ...options.headers } : { ...options.headers };
  return json({ error, error_description: description }, options.status ?? STATUS[error], headers);
}
