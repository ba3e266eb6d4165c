// What every CLI test file sets up the same way: the built binary, a temporary folder with a SQLite store, and the
// one-line failure every command promises.

import { afterAll, beforeAll, expect } from 'vitest';
import { ensureBuilt, tempDir, type CliResult, type TempDir } from '../support';

export interface CliSuite {
  temp: TempDir;
  /** `--store <the folder's SQLite store>`, to spread into a command's arguments. */
  store: string[];
}

/**
 * Makes the file's folder and store, builds the binary before its tests (then runs `setUp`, e.g. to add the
 * accounts they share) and removes the folder after them. Call it at the top level of a test file.
 */
export function cliSuite(setUp?: (suite: CliSuite) => Promise<unknown> | void): CliSuite {
  const temp = tempDir();
  const suite: CliSuite = { temp, store: ['--store', temp.storeUrl] };
  beforeAll(async () => {
    ensureBuilt();
    await setUp?.(suite);
  }, 240_000);
  afterAll(() => temp.remove());
  return suite;
}

/** The failure shape every command promises: a non-zero status, nothing on stdout, one line on stderr. Returns it. */
export function expectOneLineError(result: CliResult, status: number, pattern: RegExp): string {
  expect(result.code, result.stderr).toBe(status);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^finora-auth: /);
  expect(lines[0]).toMatch(pattern);
  return lines[0] as string;
}
