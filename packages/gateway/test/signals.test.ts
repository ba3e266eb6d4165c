// SIGTERM/SIGINT at any moment of `serve`: held until serve listens, honoured while it starts, exit 0 (1 if twice).

import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { serveCommand, type ServeIo } from '../src/cli-serve';
import { heldSignals } from '../src/signals';
import { tempDir, type TempDir } from './support';

const temps: TempDir[] = [];
afterEach(() => {
  while (temps.length) temps.pop()?.remove();
});

/** An in-process `serve` whose process signals are an emitter the test fires. */
function harness(options: { now?: () => number } = {}) {
  const temp = tempDir();
  temps.push(temp);
  const process = new EventEmitter();
  let stderr = '';
  const io: ServeIo = {
    out: () => {},
    err: (text) => void (stderr += text),
    env: {},
    cwd: temp.dir,
    now: options.now ?? Date.now,
    log: () => ({ write: () => true }),
    signals: heldSignals(process as unknown as Parameters<typeof heldSignals>[0]),
  };
  return { temp, io, process, stderr: () => stderr, dbPath: `${temp.dir}/.finora/keys.db` };
}

describe('heldSignals', () => {
  it('holds a signal that came before any handler and delivers it once one is registered, in order', async () => {
    const process = new EventEmitter();
    const signals = heldSignals(process as never);
    process.emit('SIGINT');
    process.emit('SIGTERM');
    const seen: string[] = [];
    signals.on('SIGTERM', () => seen.push('SIGTERM'));
    signals.on('SIGINT', () => seen.push('SIGINT'));
    expect(seen).toEqual([]); // never inside on(): the caller may not be done registering
    await Promise.resolve();
    expect(seen).toEqual(['SIGTERM', 'SIGINT']);
    process.emit('SIGINT');
    expect(seen).toEqual(['SIGTERM', 'SIGINT', 'SIGINT']);
  });

  it('listens on the process at once', () => {
    const process = new EventEmitter();
    heldSignals(process as never);
    expect(process.listenerCount('SIGINT')).toBe(1);
    expect(process.listenerCount('SIGTERM')).toBe(1);
  });
});

describe('serve and signals while starting', () => {
  it('a signal that came before serve ran ends it with 0 as soon as the step in progress is done, never serving', async () => {
    const { io, process, stderr } = harness();
    process.emit('SIGINT');
    expect(await serveCommand(['--port', '0'], io)).toBe(0);
    expect(stderr()).toContain('SIGINT: stopping before the gateway started');
    expect(stderr()).not.toContain('listening on');
  });

  it('a signal during first-start seeding ends it with 0 once seeding is done, showing the key it made', async () => {
    let fired = false;
    const h = harness({
      now: () => {
        if (!fired) {
          fired = true;
          h.process.emit('SIGTERM');
        }
        return Date.now();
      },
    });
    expect(await serveCommand(['--port', '0'], h.io)).toBe(0);
    expect(fired).toBe(true);
    expect(h.stderr()).not.toContain('listening on');
    // The demo account exists now and a later start will not seed again: the key must not be lost.
    expect(h.stderr()).toMatch(/test_sk_[0-9a-f]{48}/);
    expect(existsSync(h.dbPath)).toBe(true);
  });

  it('a second signal while starting exits 1 at once', async () => {
    let fired = false;
    const h = harness({
      now: () => {
        if (!fired) {
          fired = true;
          h.process.emit('SIGINT');
          h.process.emit('SIGINT');
        }
        return Date.now();
      },
    });
    expect(await serveCommand(['--port', '0'], h.io)).toBe(1);
    expect(h.stderr()).toContain('SIGINT again: exiting without waiting');
    // Let the abandoned start finish closing its store before the directory goes.
    await new Promise((resolve) => setTimeout(resolve, 200));
  });

  it('a signal once serving drains and exits 0', async () => {
    const { io, process, stderr } = harness();
    const status = serveCommand(['--port', '0', '--host', '127.0.0.1', '--no-seed'], io);
    while (!stderr().includes('listening on')) await new Promise((resolve) => setTimeout(resolve, 10));
    const url = /listening on (\S+),/.exec(stderr())?.[1] as string;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    process.emit('SIGINT');
    expect(await status).toBe(0);
    expect(stderr()).toContain('SIGINT: finishing requests in flight');
    expect(stderr()).toContain('stopped\n');
  });
});
