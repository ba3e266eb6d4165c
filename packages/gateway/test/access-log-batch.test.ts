// The access log's batches: every record becomes one JSON line, in order, within 20 ms or once 32 wait, and a
// record that cannot be written as JSON costs only its own line.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessLog, type AccessRecord } from '../src/access-log';

const record = (i: number): AccessRecord => ({ time: '2026-12-04T00:00:00.000Z', method: 'GET', path: `/v1/invoices/${i}`, status: 200, durationMs: i / 10 });

function sink() {
  const writes: string[] = [];
  return { writes, lines: () => writes.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line)), write: (chunk: string) => writes.push(chunk) };
}

describe('AccessLog batches', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes 32 waiting records at once, as 32 lines in order, and the rest within 20 ms', () => {
    vi.useFakeTimers();
    const out = sink();
    const log = new AccessLog(out);
    for (let i = 0; i < 40; i++) log.write(record(i));
    expect(out.writes).toHaveLength(1);
    expect(out.lines().map((line) => line.path)).toEqual(Array.from({ length: 32 }, (_, i) => `/v1/invoices/${i}`));
    vi.advanceTimersByTime(19);
    expect(out.writes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(out.writes).toHaveLength(2);
    expect(out.lines()).toEqual(Array.from({ length: 40 }, (_, i) => record(i)));
  });

  it('writes an event at once, after the records waiting before it', () => {
    const out = sink();
    const log = new AccessLog(out);
    log.write(record(1));
    log.event({ level: 'info', msg: 'stopping' });
    expect(out.writes).toHaveLength(1);
    const [first, second] = out.lines();
    expect(first).toEqual(record(1));
    expect(second).toMatchObject({ level: 'info', msg: 'stopping' });
  });

  it('leaves out only the line that cannot be JSON, and survives a sink that throws', () => {
    const out = sink();
    const log = new AccessLog(out);
    log.write(record(1));
    log.event({ level: 'error', msg: 'odd', size: 10n });
    log.write(record(2));
    log.flush();
    expect(out.lines()).toEqual([record(1), record(2)]);
    const broken = new AccessLog({
      write: () => {
        throw new Error('EPIPE');
      },
    });
    broken.write(record(3));
    expect(() => broken.flush()).not.toThrow();
  });
});
