// Structured access logs: one JSON line per request, written in batches, never carrying a key or an Authorization header.

/** What one access log line says about one request. Fields come from the decision, never from the raw header. */
export interface AccessRecord {
  time: string;
  method: string;
  /** The request path without its query string (which may carry anything), with key-like text masked. */
  path: string;
  status: number;
  durationMs: number;
  remote?: string;
  module?: string;
  /** The core's decision reason: ok, missing, malformed, unknown, revoked, expired, free-tier, not-enterprise, store-*. */
  reason?: string;
  code?: string;
  cache?: string;
  keyId?: string;
  /** `live_sk_…` and the key's last 4 characters: what the key manager shows people. */
  keyHint?: string;
  accountId?: string;
  environment?: string;
  upstreamStatus?: number;
  /** Why the upstream gave no answer: unavailable, timeout, aborted. */
  upstreamError?: string;
  /** The client went away before the response was complete. */
  aborted?: boolean;
}

/** Anything that looks like an API key, whole or cut short, plain or percent-encoded. */
const KEY_LIKE = /(live|test)(_|%5f)sk(_|%5f)[0-9a-z]*/gi;
const MAX_PATH_LENGTH = 1024;

/** The path as logged: query dropped, key-like text masked, length capped. */
export function loggablePath(url: string): string {
  const end = url.search(/[?#]/);
  let path = end === -1 ? url : url.slice(0, end);
  if (path.length > MAX_PATH_LENGTH) path = `${path.slice(0, MAX_PATH_LENGTH)}…`;
  return path.replace(KEY_LIKE, '[redacted]');
}

export interface LogSink {
  write(chunk: string): unknown;
}

/** Longest a line waits before it is written, in ms. */
const FLUSH_INTERVAL_MS = 20;
/** Pending text that is written at once, without waiting for the interval, in characters. */
const FLUSH_SIZE = 64 * 1024;

/**
 * Collects lines and writes them in batches: at most every 20 ms, or as soon as 64 KiB are waiting. A write to
 * stdout is a system call (synchronous for files and, on Linux, pipes), which on a busy gateway cost more than
 * building the line; one write per batch of hundreds of lines makes it negligible. `flush()` writes what is
 * waiting now (the gateway calls it when it closes).
 */
export class AccessLog {
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly sink: LogSink | null) {}

  get enabled(): boolean {
    return this.sink !== null;
  }

  write(record: AccessRecord): void {
    if (!this.sink) return;
    this.#pending += `${JSON.stringify(record)}\n`;
    if (this.#pending.length >= FLUSH_SIZE) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      // Lines waiting never keep a process alive on their own; whoever ends it calls flush().
      this.#timer.unref();
    }
  }

  /** Writes a line that is not about one request (startup, shutdown), in the same JSON form. */
  event(fields: Record<string, unknown>): void {
    if (!this.sink) return;
    this.#pending += `${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`;
    this.flush();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.sink || this.#pending === '') return;
    const batch = this.#pending;
    this.#pending = '';
    try {
      this.sink.write(batch);
    } catch {
      // A closed log stream must not take requests down with it.
    }
  }
}
