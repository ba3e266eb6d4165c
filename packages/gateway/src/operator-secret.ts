// The operator secret that seals the OAuth signing keys: where a command finds it, and the checks before it is used.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommandError, UsageError } from './cli-args';

/** The fewest bytes `@finora-auth/oauth` accepts (its MIN_SECRET_BYTES), repeated so a plain command never loads jose. */
export const MIN_OPERATOR_SECRET_BYTES = 32;

const MAKE_ONE = 'make one with: openssl rand -base64 48 > finora-secret && chmod 600 finora-secret';

/** Where a secret came from, for messages: a file's path or a variable's name, never the secret. */
export interface OperatorSecret {
  bytes: Uint8Array;
  source: string;
}

/**
 * The operator secret, from the first of: `--secret-file PATH`, `$FINORA_AUTH_SECRET_FILE` (a path), and
 * `$FINORA_AUTH_SECRET` (the secret itself, for platforms that inject secrets as variables). A file is read as
 * bytes, less a trailing newline, so `openssl rand -base64 48 > file` works. Every gateway of a fleet and every
 * command that touches signing keys needs the same secret. No message ever contains it.
 */
export function readOperatorSecret(flag: string | boolean | undefined, env: Record<string, string | undefined>, cwd: string): OperatorSecret {
  const file = (typeof flag === 'string' && flag !== '' ? flag : undefined) ?? (env.FINORA_AUTH_SECRET_FILE || undefined);
  if (file !== undefined) {
    const path = resolve(cwd, file);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new CommandError(`cannot read the operator secret file ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
    }
    let end = bytes.length;
    while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
    return checked({ bytes: bytes.subarray(0, end), source: `the file ${path}` });
  }
  const value = env.FINORA_AUTH_SECRET;
  if (value !== undefined && value !== '') {
    return checked({ bytes: new TextEncoder().encode(value), source: '$FINORA_AUTH_SECRET' });
  }
  throw new UsageError(
    `this command needs the operator secret that seals the signing keys: pass --secret-file PATH or set FINORA_AUTH_SECRET_FILE (${MAKE_ONE})`,
  );
}

function checked(secret: OperatorSecret): OperatorSecret {
  if (secret.bytes.length < MIN_OPERATOR_SECRET_BYTES) {
    throw new CommandError(
      `the operator secret in ${secret.source} is ${secret.bytes.length} bytes; it needs at least ${MIN_OPERATOR_SECRET_BYTES} (${MAKE_ONE})`,
    );
  }
  return secret;
}
