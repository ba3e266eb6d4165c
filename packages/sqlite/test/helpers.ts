// Test helpers: a temporary directory per suite, and every stored value read through a separate connection.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export function tempDir(label: string): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `finora-sqlite-${label}-`));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every row of every table, as text: what is at rest in the file. */
export function dumpAll(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    return tables
      .map((table) => `${table}\n${JSON.stringify(db.prepare(`SELECT * FROM "${table.replaceAll('"', '""')}"`).all())}`)
      .join('\n');
  } finally {
    db.close();
  }
}
