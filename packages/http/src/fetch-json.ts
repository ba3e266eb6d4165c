// One request to the gateway's internal API (a GET, or a POST with a JSON body): a deadline over the whole answer, a size cap, faults as HttpKeyStoreError.

import { HttpKeyStoreError } from './errors';
import type { ResolvedHttpKeyStoreOptions } from './options';

/** `timeout`, and the caller's signal when there is one, as one signal. */
export function deadline(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** The answer to 401/403: the setup is wrong, and the message says where to look (never the token itself). */
export function unauthorized(config: ResolvedHttpKeyStoreOptions, status: number): HttpKeyStoreError {
  return new HttpKeyStoreError(
    'UNAUTHORIZED',
    `finora-auth http: the gateway at ${config.base} refused the internal token (${status}): check the internal token ` +
      '(the contents of the file given to finora-auth serve --internal-token-file) and that serve runs with that option',
  );
}

/** Reads at most `max` bytes of `body`; more is a fault, and the rest is never read. */
async function readCapped(response: Response, max: number, base: string): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  const tooLarge = () => new HttpKeyStoreError('TOO_LARGE', `finora-auth http: the answer from ${base} is larger than ${max} bytes`);
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const whole = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(whole);
  } catch (cause) {
    throw new HttpKeyStoreError('GARBLED', `finora-auth http: the answer from ${base} is not UTF-8`, { cause });
  }
}

/**
 * GETs `path` (or, with `body`, POSTs it as JSON) and returns the JSON answer. Sent once: never retried, since a
 * POST whose answer was lost may have happened (a credit take retried would debit twice). Throws HttpKeyStoreError:
 * UNAUTHORIZED (401/403), UNAVAILABLE (5xx, unreachable), TIMEOUT, TOO_LARGE, GARBLED (any other status, not JSON);
 * the caller's abort is rethrown as it is.
 */
export async function fetchJson(config: ResolvedHttpKeyStoreOptions, path: string, callerSignal?: AbortSignal, body?: unknown): Promise<unknown> {
  const signal = deadline(config.timeoutMs, callerSignal);
  // A lookup's last segment is a digest or a client id: not for messages.
  const where = body === undefined ? `${config.base}${path.replace(/\/[^/]*$/, '/…')}` : `${config.base}${path}`;
  try {
    const headers: Record<string, string> = { authorization: config.authorization, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await config.fetch(`${config.base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // Never followed, so the token never goes to another origin ('error' does not exist on Workers); a 3xx is a fault.
      redirect: 'manual',
      signal,
    });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel().catch(() => {});
      throw unauthorized(config, response.status);
    }
    if (response.status >= 500) {
      await response.body?.cancel().catch(() => {});
      throw new HttpKeyStoreError('UNAVAILABLE', `finora-auth http: the gateway at ${config.base} answered ${response.status}`);
    }
    const type = response.headers.get('content-type') ?? '';
    if (body !== undefined && response.status >= 400 && response.status !== 404 && /^application\/json\b/i.test(type)) {
      await response.body?.cancel().catch(() => {});
      throw new HttpKeyStoreError(
        'GARBLED',
        `finora-auth http: ${where} refused the request (${response.status}): do the edge and the gateway run the same finora-auth version?`,
      );
    }
    if (response.status !== 200 || !/^application\/json\b/i.test(type)) {
      await response.body?.cancel().catch(() => {});
      throw new HttpKeyStoreError(
        'GARBLED',
        `finora-auth http: ${where} answered ${response.status} ${type || 'without a content type'}, not a finora-auth internal API answer: check the url`,
      );
    }
    const text = await readCapped(response, config.maxResponseBytes, config.base);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new HttpKeyStoreError('GARBLED', `finora-auth http: the answer from ${where} is not JSON`, { cause });
    }
  } catch (error) {
    if (error instanceof HttpKeyStoreError) throw error;
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (signal.aborted) {
      throw new HttpKeyStoreError('TIMEOUT', `finora-auth http: no whole answer from ${config.base} within ${config.timeoutMs} ms`, { cause: error });
    }
    throw new HttpKeyStoreError('UNAVAILABLE', `finora-auth http: the gateway at ${config.base} could not be reached`, { cause: error });
  }
}
