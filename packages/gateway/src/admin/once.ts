// One-time form nonces: every creating form carries one, and its session remembers what the form made, so a resubmitted POST makes nothing again.

import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** The hidden field of every form that creates something (a key, a secret, a service account, credits). */
export const ONCE_FIELD = 'once';

const NONCE = /^[A-Za-z0-9_-]{22,64}$/;

/** Forms a session remembers; the least recently sent is forgotten first (a session lasts 12 hours at most). */
export const REMEMBERED_FORMS = 200;

/** A fresh nonce for one form as it is rendered (128 random bits). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** What a form made, as the page answering its resubmission describes it. Never a secret: only ids, hints, amounts. */
export interface FormOutcome {
  accountId: string;
  title: string;
  message: string;
}

/** What a nonce was used for: still being handled, finished with an outcome, or ended by a store fault. */
export type FormUse =
  | { state: 'pending'; finished: Promise<void>; settle: () => void }
  | { state: 'done'; outcome: FormOutcome }
  | { state: 'fault' };

/** One session's used nonces. */
export class UsedForms {
  readonly #uses = new LRUCache<string, FormUse>({
    max: REMEMBERED_FORMS,
    // lru-cache disposes a value when it is replaced (done, fault), deleted (release) or evicted: each ends a
    // pending use, so whoever waits on it goes on.
    dispose: (use) => {
      if (use.state === 'pending') use.settle();
    },
  });

  /** True when `value` looks like a nonce the console renders. */
  static valid(value: string | null): value is string {
    return value !== null && NONCE.test(value);
  }

  /**
   * Marks the nonce as in use and returns `undefined`, or returns its previous use. Synchronous, so of two posts
   * of one form arriving together (a double click) only one acts; the other can wait for `finished`.
   */
  claim(nonce: string): FormUse | undefined {
    const previous = this.#uses.get(nonce);
    if (previous) return previous;
    let settle = (): void => {};
    const finished = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#uses.set(nonce, { state: 'pending', finished, settle });
    return undefined;
  }

  /** The form made something: a resubmission is answered with this outcome. */
  done(nonce: string, outcome: FormOutcome): void {
    this.#uses.set(nonce, { state: 'done', outcome });
  }

  /** The form made nothing (refused input, a confirmation asked): the same form may be sent again. */
  release(nonce: string): void {
    this.#uses.delete(nonce);
  }

  /** The store failed mid-action: whether something was made is unknown, so the form is not acted on again. */
  fault(nonce: string): void {
    this.#uses.set(nonce, { state: 'fault' });
  }
}
