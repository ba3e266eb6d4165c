// `finora-auth signing-keys list|rotate`: the OAuth issuer's signing keys, through @finora-auth/oauth, under the operator secret.

import type { KeyStore } from '@finora-auth/core';
import { createTokenIssuer, SigningKeyError, type SigningKeyInfo } from '@finora-auth/oauth';
import { CommandError, parse, UsageError } from './cli-args';
import { help, JSON_OPTION, printJson, STORE_OPTION, type Io } from './cli-admin';
import { closeQuietly, openReachableStore, storeSpec, withDeadline } from './cli-store';
import { signingKeysTable } from './format';
import { HELP } from './help';
import { readOperatorSecret } from './operator-secret';
import { unreachable, type StoreSpec } from './store-url';

/**
 * Listing and rotating never mint a token, so the issuer URL and audience are placeholders here: what matters is
 * the store and the secret the keys are sealed under.
 */
const ADMIN_ISSUER = 'http://finora-auth.invalid';

async function withIssuer<T>(spec: StoreSpec, secret: Uint8Array, work: (issuer: ReturnType<typeof createTokenIssuer>) => Promise<T>): Promise<T> {
  const store: KeyStore = await openReachableStore(spec);
  try {
    let issuer;
    try {
      issuer = createTokenIssuer({ store, issuer: ADMIN_ISSUER, audience: 'finora-auth', secret, throttle: false });
    } catch (error) {
      // The one TypeError left once the secret is checked: a store without the v2 signing-key methods.
      throw new CommandError(error instanceof Error ? error.message : String(error));
    }
    return await withDeadline(spec, work(issuer));
  } catch (error) {
    if (error instanceof CommandError) throw error;
    if (error instanceof SigningKeyError) throw new CommandError(`${error.message} (every gateway and command on one store needs the same secret)`);
    throw unreachable(spec, error);
  } finally {
    await closeQuietly(store);
  }
}

export async function signingKeysCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === '--help' || sub === '-h') {
    io.out(HELP['signing-keys'] ?? '');
    return 0;
  }
  if (sub === undefined) throw new UsageError('"signing-keys" needs a command: list or rotate (see: finora-auth signing-keys --help)');
  if (sub !== 'list' && sub !== 'rotate') throw new UsageError(`unknown command "signing-keys ${sub}" (see: finora-auth signing-keys --help)`);
  const name = `signing-keys ${sub}`;
  const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION, 'secret-file': { type: 'string' } });
  if (help(io, name, parsed)) return 0;
  const spec = storeSpec(parsed.values.store, io.env, io.cwd);
  const secret = readOperatorSecret(parsed.values['secret-file'], io.env, io.cwd);
  if (sub === 'list') {
    const keys: SigningKeyInfo[] = await withIssuer(spec, secret.bytes, (issuer) => issuer.listSigningKeys());
    if (parsed.values.json) printJson(io, keys);
    else if (keys.length === 0) {
      io.out('No signing keys yet: the first is made when the first token is issued, or with: finora-auth signing-keys rotate\n');
    } else io.out(`${signingKeysTable(keys)}\n`);
    return 0;
  }
  const key = await withIssuer(spec, secret.bytes, (issuer) => issuer.rotateSigningKey());
  if (parsed.values.json) printJson(io, key);
  else {
    io.out(
      `Rotated: signing key ${key.kid} (${key.alg}) signs new tokens. The previous keys stay published while tokens they ` +
        'signed may live; running gateways sign with it once they reload their keys (every 30 s by default).\n',
    );
  }
  return 0;
}
