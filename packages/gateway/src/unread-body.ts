// What to do with a request body nobody will read: a small one is drained to keep the connection, a large one closes it.

import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Most bytes of an unread body the gateway reads and discards around a refusal, so the client keeps its
 * connection (and a client still writing a small body gets to read the answer instead of a reset).
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024;
/** Longest a refusal waits for a chunked body of unknown size to end, in ms, before closing instead. */
export const DRAIN_WAIT_MS = 1_000;

/** Reads and discards `req` until it ends (true), or until `DRAIN_LIMIT_BYTES` or `DRAIN_WAIT_MS` pass (false). */
function drainAtMost(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    let read = 0;
    const done = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (!ended) req.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > DRAIN_LIMIT_BYTES) done(false);
    };
    const onEnd = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), DRAIN_WAIT_MS);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  });
}

/**
 * Called before the gateway writes a refusal of its own. When the request's body is not all read:
 * - a declared body over `DRAIN_LIMIT_BYTES`, or one the client holds back for a `100 Continue` that was never
 *   sent (it may send the body, or its next request, on this connection): `Connection: close`, not read further;
 * - a chunked body nobody started reading: read and discarded before answering, up to `DRAIN_LIMIT_BYTES` and
 *   `DRAIN_WAIT_MS`; if it has not ended by then, `Connection: close`;
 * - a small declared body (or one a handler already started reading): node:http drains it after the answer,
 *   and the connection is kept.
 * Settled at once (`undefined`) unless a chunked body is being drained: a bodiless request is not `complete` yet
 * while its own request event runs, and an answer written in that event must not wait for a promise.
 */
export function settleUnreadBody(req: IncomingMessage, res: ServerResponse, awaitsContinue: boolean): Promise<void> | undefined {
  if (req.complete) return undefined;
  const length = Number(req.headers['content-length'] ?? 0);
  if (awaitsContinue || !(length <= DRAIN_LIMIT_BYTES)) {
    res.shouldKeepAlive = false;
    return undefined;
  }
  if (req.headers['transfer-encoding'] === undefined || req.readableDidRead) return undefined;
  return drainAtMost(req).then((ended) => {
    if (!ended) res.shouldKeepAlive = false;
  });
}
