// Admin sessions: random ids kept only as their SHA-256 in a bounded LRU, with idle and absolute expiry.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { UsedForms } from './once';

export interface Session {
  /** The token every form of this session carries (the CSRF token). */
  readonly csrf: string;
  /** The one-time nonces this session's creating forms were sent with, and what each made. */
  readonly forms: UsedForms;
  readonly createdAt: number;
  lastSeenAt: number;
  /** A message for the next page this session sees (after a redirect), then dropped. */
  flash?: string;
}

export interface SessionOptions {
  /** A session unused this long, in ms, ends. Default: 30 minutes. */
  idleMs?: number;
  /** A session ends this long after login, in ms, however busy. Default: 12 hours. */
  absoluteMs?: number;
  /** Most sessions kept at once; the least recently used ends first. Default: 1,000. */
  max?: number;
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares two strings in constant time by comparing their SHA-256 digests (equal lengths whatever the input). */
export function sameSecret(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(sha256(given), expectedDigest);
}

export class Sessions {
  readonly #idleMs: number;
  readonly #absoluteMs: number;
  readonly #now: () => number;
  /** By the hex SHA-256 of the session id: a heap dump holds no usable cookie. */
  readonly #byHash: LRUCache<string, Session>;

  constructor(options: SessionOptions, now: () => number) {
    this.#idleMs = options.idleMs ?? 30 * 60_000;
    this.#absoluteMs = options.absoluteMs ?? 12 * 60 * 60_000;
    this.#now = now;
    this.#byHash = new LRUCache({ max: options.max ?? 1_000 });
  }

  /** Starts a session; returns the id for the cookie (never stored) and the session. */
  create(): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: Session = { csrf: randomBytes(32).toString('base64url'), forms: new UsedForms(), createdAt: now, lastSeenAt: now };
    this.#byHash.set(sha256(id).toString('hex'), session);
    return { id, session };
  }

  /** The live session with this id, its idle clock restarted; `undefined` if unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id.length === 0 || id.length > 100) return undefined;
    const hash = sha256(id).toString('hex');
    const session = this.#byHash.get(hash);
    if (!session) return undefined;
    const now = this.#now();
    if (now - session.lastSeenAt >= this.#idleMs || now - session.createdAt >= this.#absoluteMs) {
      this.#byHash.delete(hash);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.#byHash.delete(sha256(id).toString('hex'));
  }

  /** Seconds a new session's cookie may live (the absolute expiry). */
  get maxAgeSeconds(): number {
    return Math.floor(this.#absoluteMs / 1000);
  }
}
