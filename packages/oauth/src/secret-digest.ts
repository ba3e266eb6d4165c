// Checking a client secret: its SHA-256 digest against the stored one, in time that does not depend on where they differ.

import { sha256Hex } from '@finora-auth/core';

/** A digest no secret has (not hex), compared against when the client id is unknown, so both paths cost the same. */
const NO_DIGEST = 'x'.repeat(64);

export async function secretMatches(secret: string, storedHash: string | undefined): Promise<boolean> {
  const digest = await sha256Hex(secret);
  const expected = storedHash !== undefined && storedHash.length === digest.length ? storedHash : NO_DIGEST;
  let difference = 0;
  for (let i = 0; i < digest.length; i++) difference |= digest.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0 && expected !== NO_DIGEST;
}
