// `serve --admin-token-file PATH`: reads the admin console's token once, trimmed, and checks its length; never echoes it.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommandError } from '../cli-args';
import { MIN_ADMIN_TOKEN_LENGTH } from './index';

const MAKE_ONE = 'make one with: openssl rand -base64 32 > admin-token && chmod 600 admin-token';

export function readAdminToken(file: string, cwd: string): string {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CommandError(`--admin-token-file: cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  const token = text.trim();
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new CommandError(
      `--admin-token-file: the token in ${path} is ${token.length} characters; it needs at least ${MIN_ADMIN_TOKEN_LENGTH} (${MAKE_ONE})`,
    );
  }
  return token;
}
