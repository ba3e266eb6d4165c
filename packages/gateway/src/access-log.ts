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
  /**
   * A live key arrived with an `Origin` header: a browser holds it, and keys never belong client-side. Rotate
   * the key `keyId` names (docs/guides/leaked-key.md). Absent otherwise.
   */
  probableLeak?: true;
  upstreamStatus?: number;
  /** Why the upstream gave no answer: unavailable, timeout, aborted. */
  upstreamError?: string;
  /** The client went away before the response was complete. */
  aborted?: boolean;
}

/**
 * Anything that looks like an API key, whole or cut short, in any case, with `_` or `-` around `sk`; or a key's
 * 48 hex digits without their prefix (a client secret's too); or (v2) a JWT from its `eyJ` header through the dots
 * and base64url text after it, so an access token pasted into a path leaves no signature in the log. Matched on
 * every decoding of the path (see `maskKeys`).
 */
const KEY_LIKE = /(?:live|test)[_-]sk[_-][0-9a-z]*|(?<![0-9a-z])[0-9a-f]{48,}|eyJ[0-9a-z_-]*\.[0-9a-z_.-]*/gi;
const HEX_PAIR = /^[0-9a-f]{2}$/i;
/** Rounds of percent-decoding read: as many as the core reads a path with. */
const DECODE_ROUNDS = 3;
const MAX_PATH_LENGTH = 1024;
/** What a path must contain for `maskKeys` to find anything in it (with no `%`, which it always reads). */
const MAY_HOLD_KEY = /live|test|[0-9a-f]{48}|eyJ/i;
/**
 * The same test for a path too short to hold 48 hex digits: nearly every path. Without the hex run the regex is
 * about 7x faster (~15 against ~105 ns), and the gateway reads one or two paths a request.
 */
const SHORT_MAY_HOLD_KEY = /live|test|eyJ/i;

/**
 * `text` with every key-like run masked, where a run may be spelled with percent-escapes (`%6cive_s%6b_…`, even
 * `%256c…`). Each round decodes one layer, escape by escape, remembering which characters of `text` every
 * decoded character came from, so a match found in any layer masks exactly the raw characters that spell it.
 */
function maskKeys(text: string): string {
  const masked = new Uint8Array(text.length);
  let layer = text;
  /** For each character of `layer`, the range of `text` it came from. */
  let from: [number, number][] = Array.from(text, (_, i) => [i, i + 1]);
  for (let round = 0; ; round++) {
    for (const match of layer.matchAll(KEY_LIKE)) {
      const start = (from[match.index] as [number, number])[0];
      const end = (from[match.index + match[0].length - 1] as [number, number])[1];
      masked.fill(1, start, end);
    }
    if (round === DECODE_ROUNDS || !layer.includes('%')) break;
    let next = '';
    const nextFrom: [number, number][] = [];
    for (let i = 0; i < layer.length; i++) {
      const escape = layer[i] === '%' && HEX_PAIR.test(layer.slice(i + 1, i + 3));
      // A byte at or above 0x80 is part of a UTF-8 sequence: no key letter, so any non-matching character does.
      next += escape ? String.fromCharCode(Number.parseInt(layer.slice(i + 1, i + 3), 16)) : (layer[i] as string);
      nextFrom.push([(from[i] as [number, number])[0], (from[escape ? i + 2 : i] as [number, number])[1]]);
      if (escape) i += 2;
    }
    layer = next;
    from = nextFrom;
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!masked[i]) out += text[i];
    else if (!masked[i - 1] || i === 0) out += '[redacted]';
  }
  return out;
}

/** The path as logged: query dropped, key-like text masked (on every decoding), length capped. */
export function loggablePath(url: string): string {
  let end = url.indexOf('?');
  const fragment = url.indexOf('#');
  if (fragment !== -1 && (end === -1 || fragment < end)) end = fragment;
  const path = end === -1 ? url : url.slice(0, end);
  // The common path: nothing encoded and nothing that could start a key.
  const plain = !path.includes('%') && !(path.length >= 48 ? MAY_HOLD_KEY : SHORT_MAY_HOLD_KEY).test(path);
  const masked = plain ? path : maskKeys(path);
  return masked.length > MAX_PATH_LENGTH ? `${masked.slice(0, MAX_PATH_LENGTH)}…` : masked;
}

let lastTimeMs = Number.NaN;
let lastTime = '';
/** The second `lastSecondText` writes, as epoch ms, and its text up to the milliseconds (`2026-12-02T07:40:12.`). */
let lastSecondMs = Number.NaN;
let lastSecondText = '';

/**
 * `new Date(ms).toISOString()` for a whole epoch ms: reused while the millisecond is the same (under load, many
 * lines share one), and within a second only its last digits are new (a Date and its text cost ~2 µs a request
 * in a profile of the proxy under load, where each millisecond had a few requests).
 */
export function isoTime(ms: number): string {
  if (ms === lastTimeMs) return lastTime;
  lastTimeMs = ms;
  if (!Number.isSafeInteger(ms)) return (lastTime = new Date(ms).toISOString());
  const withinSecond = ((ms % 1000) + 1000) % 1000;
  const second = ms - withinSecond;
  if (second !== lastSecondMs) {
    lastSecondMs = second;
    lastSecondText = new Date(second).toISOString().slice(0, -4);
  }
  lastTime = `${lastSecondText}${String(withinSecond).padStart(3, '0')}Z`;
  return lastTime;
}

export interface LogSink {
  write(chunk: string): unknown;
}

/** Longest a line waits before it is written, in ms. */
const FLUSH_INTERVAL_MS = 20;
/**
 * Lines waiting that are written at once, without waiting for the interval. About as many as the 8 Ki characters
 * the batches held before (~28 lines): 64 Ki characters had cost ~3 µs more CPU per request in an interleaved
 * forward-auth comparison, the batch's text no longer staying in the CPU's caches.
 */
const FLUSH_LINES = 32;

/**
 * Collects records and writes them as JSON lines in batches: at most every 20 ms, or as soon as 32 are waiting. A
 * write to stdout is a system call (synchronous for files and, on Linux, pipes), which on a busy gateway cost more
 * than building the line; one write per batch of a few dozen lines makes it negligible. Records are turned into
 * text when the batch is written, one after another: behind nginx, where the gateway answers one request per
 * event-loop turn between other processes, that took ~0.7-1.5 µs less CPU per request (two side-by-side runs)
 * than a `JSON.stringify` per request, which ran each time with the CPU's caches cold (docs/gateway.md). So a
 * record must not change once it is written. `flush()` writes what is waiting now (the gateway calls it when it
 * closes).
 */
export class AccessLog {
  #pending: object[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly sink: LogSink | null) {}

  get enabled(): boolean {
    return this.sink !== null;
  }

  /** Queues `record`'s line. The record is read when the batch is written: it must not change after this call. */
  write(record: AccessRecord): void {
    if (!this.sink) return;
    this.#pending.push(record);
    if (this.#pending.length >= FLUSH_LINES) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      // Lines waiting never keep a process alive on their own; whoever ends it calls flush().
      this.#timer.unref();
    }
  }

  /** Writes a line that is not about one request (startup, shutdown), in the same JSON form. */
  event(fields: Record<string, unknown>): void {
    if (!this.sink) return;
    this.#pending.push({ time: new Date().toISOString(), ...fields });
    this.flush();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.sink || this.#pending.length === 0) return;
    const records = this.#pending;
    this.#pending = [];
    let batch = '';
    for (const record of records) {
      try {
        batch += `${JSON.stringify(record)}\n`;
      } catch {
        // A record that cannot be written as JSON is left out, never the batch with it.
      }
    }
    try {
      this.sink.write(batch);
    } catch {
      // A closed log stream must not take requests down with it.
    }
  }
}
