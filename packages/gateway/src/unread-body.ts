// What to do with a request body nobody will read: a small one is drained to keep the connection, a large one closes it.

import type { IncomingMessage } from 'node:http';

/**
 * Most bytes of an unread body the gateway reads and discards after answering without it, so the client may
 * keep its connection. Past this (or with no declared length, or after `Expect: 100-continue` went unanswered)
 * the answer carries `Connection: close` and the rest is never read.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024;

/**
 * Whether an answer given without reading the request's body must close the connection: the body is not all
 * read yet, and it is unbounded (chunked), larger than `DRAIN_LIMIT_BYTES`, or one the client holds back until
 * a `100 Continue` that was never sent (it may send the body, or the next request, on the same connection).
 */
export function closeInsteadOfDraining(req: IncomingMessage, awaitsContinue: boolean): boolean {
  if (req.complete) return false;
  if (awaitsContinue) return true;
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length'] ?? 0);
  return !(length <= DRAIN_LIMIT_BYTES);
}
