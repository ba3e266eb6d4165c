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

/**
 * Collects lines and writes them once per event-loop turn: one write per busy turn instead of one per request,
 * which matters when stdout is a pipe (synchronous on Linux).
 */
export class AccessLog {
  #pending: string[] = [];
  #scheduled = false;

  constructor(private readonly sink: LogSink | null) {}

  get enabled(): boolean {
    return this.sink !== null;
  }

  write(record: AccessRecord): void {
    if (!this.sink) return;
    this.#pending.push(JSON.stringify(record));
    if (this.#pending.length >= 512) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes a line that is not about one request (startup, shutdown), in the same JSON form. */
  event(fields: Record<string, unknown>): void {
    if (!this.sink) return;
    this.#pending.push(JSON.stringify({ time: new Date().toISOString(), ...fields }));
    this.flush();
  }

  flush(): void {
    this.#scheduled = false;
    if (!this.sink || this.#pending.length === 0) return;
    const batch = `${this.#pending.join('\n')}\n`;
    this.#pending = [];
    try {
      this.sink.write(batch);
    } catch {
      // A closed log stream must not take requests down with it.
    }
  }
}
