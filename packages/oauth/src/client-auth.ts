// Client authentication at the token endpoint: client_secret_basic or client_secret_post (RFC 6749 §2.3.1), never both.

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export type ClientCredentials =
  | { ok: true; method: ClientAuthMethod; clientId: string; clientSecret: string }
  | { ok: false; error: 'invalid_request' | 'invalid_client'; description: string };

const MAX_CLIENT_ID = 128;
const MAX_CLIENT_SECRET = 256;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASIC = /^basic +(\S+)$/i;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** RFC 6749 §2.3.1: Basic's user and password are form-urlencoded before base64. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function fromBasic(header: string): { clientId: string; clientSecret: string } | undefined {
  const encoded = BASIC.exec(header.trim())?.[1];
  if (!encoded || encoded.length > 1_024 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) return undefined;
  let text: string;
  try {
    text = decoder.decode(Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = formDecode(text.slice(0, colon));
  const clientSecret = formDecode(text.slice(colon + 1));
  return clientId === undefined || clientSecret === undefined ? undefined : { clientId, clientSecret };
}

/** The credentials a token request authenticates with; descriptions never quote them. */
export function readClientCredentials(authorization: string | null, form: URLSearchParams): ClientCredentials {
  const postedId = form.get('client_id');
  const postedSecret = form.get('client_secret');
  let method: ClientAuthMethod;
  let credentials: { clientId: string; clientSecret: string } | undefined;
  if (authorization !== null && authorization.trim() !== '') {
    if (postedId !== null || postedSecret !== null) {
      return { ok: false, error: 'invalid_request', description: 'use one client authentication method: HTTP Basic or form fields, not both' };
    }
    method = 'client_secret_basic';
    credentials = fromBasic(authorization);
    if (!credentials) return { ok: false, error: 'invalid_client', description: 'the Authorization header is not well-formed HTTP Basic' };
  } else {
    if (postedId === null && postedSecret === null) {
      return { ok: false, error: 'invalid_client', description: 'client authentication is required' };
    }
    if (postedId === null || postedSecret === null) {
      return { ok: false, error: 'invalid_client', description: 'client_id and client_secret are both required' };
    }
    method = 'client_secret_post';
    credentials = { clientId: postedId, clientSecret: postedSecret };
  }
  const { clientId, clientSecret } = credentials;
  if (clientId.length === 0 || clientId.length > MAX_CLIENT_ID || clientSecret.length === 0 || clientSecret.length > MAX_CLIENT_SECRET) {
    return { ok: false, error: 'invalid_client', description: 'client authentication failed' };
  }
  return { ok: true, method, clientId, clientSecret };
}
