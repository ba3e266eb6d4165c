// The token `serve --internal-token-file` reads for HttpKeyStore: read once, trimmed, checked; never printed.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommandError } from './cli-args';

/** Fewest characters an internal token may have (a 32-byte random value as hex is 64). */
export const MIN_INTERNAL_TOKEN_LENGTH = 32;

const MAKE_ONE = 'make one with: openssl rand -hex 32 > internal.token && chmod 600 internal.token';

/** The token in the file at `file` (relative to `cwd`), surrounding whitespace removed. No message contains it. */
export function readInternalToken(file: string, cwd: string): string {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CommandError(`cannot read the internal token file ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  const token = text.trim();
  if (token.length < MIN_INTERNAL_TOKEN_LENGTH) {
    throw new CommandError(`the internal token in ${path} is ${token.length} characters; it needs at least ${MIN_INTERNAL_TOKEN_LENGTH} (${MAKE_ONE})`);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new CommandError(`the internal token in ${path} must be one line of printable characters without spaces (${MAKE_ONE})`);
  }
  return token;
}
