// Where the issuer's endpoints live under its URL, and its RFC 8414 authorization server metadata.

export interface IssuerEndpoints {
  /** Request paths the handler answers. */
  tokenPath: string;
  jwksPath: string;
  metadataPath: string;
  metadata: Record<string, unknown>;
}

/**
 * The endpoints of an issuer at `issuer` (an http(s) URL with no query or fragment). With a path, say
 * `https://example.com/auth`, the token endpoint is `/auth/oauth/token` and the metadata sits where RFC 8414 §3.1
 * puts it, `/.well-known/oauth-authorization-server/auth`.
 */
export function issuerEndpoints(issuer: string): IssuerEndpoints {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError('finora-auth: issuer must be an absolute http(s) URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
    throw new TypeError('finora-auth: issuer must be an http(s) URL without credentials, query or fragment');
  }
  const path = url.pathname.replace(/\/+$/, '');
  const base = `${url.origin}${path}`;
  const tokenPath = `${path}/oauth/token`;
  const jwksPath = `${path}/.well-known/jwks.json`;
  return {
    tokenPath,
    jwksPath,
    metadataPath: `/.well-known/oauth-authorization-server${path}`,
    metadata: {
      issuer: base,
      token_endpoint: `${url.origin}${tokenPath}`,
      jwks_uri: `${url.origin}${jwksPath}`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: [],
    },
  };
}
