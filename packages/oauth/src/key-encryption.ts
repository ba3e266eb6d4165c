// Sealing signing keys under the operator secret: HKDF-SHA-256 per kid, then AES-256-GCM with the kid as associated data.

import { base64url } from 'jose';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** Fixed salt: the derived keys differ per kid (HKDF info), and a change of scheme gets a new salt and version. */
const SALT = encoder.encode('finora-auth/oauth signing-key encryption v1');
const VERSION = 'v1';

/** At least 32 bytes, from a password manager or `openssl rand -base64 48`: the only thing a database copy lacks. */
export const MIN_SECRET_BYTES = 32;

/** Why a signing key could not be sealed or opened. Never carries the secret or key material. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** The operator secret's bytes; a TypeError when it is neither a string nor bytes, or shorter than 32 bytes. */
export function operatorSecretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? encoder.encode(secret) : secret instanceof Uint8Array ? new Uint8Array(secret) : undefined;
  if (!bytes || bytes.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`finora-auth: secret must be a string or bytes of at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

/** The operator secret as an HKDF base key (not extractable). */
export function importOperatorSecret(bytes: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', new Uint8Array(bytes), 'HKDF', false, ['deriveKey']);
}

function keyFor(base: CryptoKey, kid: string): Promise<CryptoKey> {
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: SALT, info: encoder.encode(kid) },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** `v1.<iv>.<ciphertext>` (base64url): the private JWK text, readable only with the same secret and kid. */
export async function sealPrivateKey(base: CryptoKey, kid: string, privateJwk: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(kid) },
    await keyFor(base, kid),
    encoder.encode(privateJwk),
  );
  return `${VERSION}.${base64url.encode(iv)}.${base64url.encode(new Uint8Array(sealed))}`;
}

/** The private JWK text sealed by {@link sealPrivateKey}; a SigningKeyError when the secret (or the kid) differs. */
export async function openPrivateKey(base: CryptoKey, kid: string, sealed: string): Promise<string> {
  const [version, iv, data, extra] = sealed.split('.');
  if (version !== VERSION || !iv || !data || extra !== undefined) {
    throw new SigningKeyError(`finora-auth: signing key ${kid} is not sealed in a form this version reads`);
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: new Uint8Array(base64url.decode(iv)), additionalData: encoder.encode(kid) },
      await keyFor(base, kid),
      new Uint8Array(base64url.decode(data)),
    );
    return decoder.decode(plain);
  } catch {
    throw new SigningKeyError(
      `finora-auth: signing key ${kid} cannot be decrypted: the operator secret is not the one it was sealed with`,
    );
  }
}
