// The request target check: refuses targets that upstreams in other languages route differently, else names the module to judge.

import { moduleFromPath, type Module } from '@finora-auth/core';

export type TargetVerdict =
  | { ok: true; module: Module | undefined }
  | { ok: false; status: 400; code: 'INVALID_REQUEST'; message: string };

const VERSION = /^v\d+$/;
/** The common spelling: nothing that any reader could take two ways. */
const PLAIN_TARGET = /^\/[a-z0-9_-][a-z0-9_/-]*(?:\?[^#]*)?$|^\/$/;
/**
 * Escapes never allowed in the version or module segment: a separator (`/`, `\`, `?`, `#`, `;`), a dot (a dot
 * segment once decoded) or `%` itself (a second round of decoding). Some servers decode before they route
 * (the JDK's HttpServer, WSGI's PATH_INFO), others after (Jetty, Express), so such a segment names different
 * things to different upstreams.
 */
const ROUTING_ESCAPE = /%(?:2f|5c|3f|23|3b|2e|25)/i;
const ENCODED_BACKSLASH = /%5c/i;

function refuse(message: string): TargetVerdict {
  return { ok: false, status: 400, code: 'INVALID_REQUEST', message };
}

function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment).trim().toLowerCase();
  } catch {
    return segment;
  }
}

/** The raw segments an upstream may read as the version and the module: the first, and the second after a version. */
function routingSegments(segments: readonly string[]): string[] {
  const first = segments[0];
  if (first === undefined) return [];
  const second = segments[1];
  return VERSION.test(decodedSegment(first)) && second !== undefined ? [first, second] : [first];
}

/**
 * Judges a raw request target (`req.url`: path and query) before anything else: the gateway's proxy calls it,
 * and a forward-auth mode calls it on `X-Forwarded-Uri` / `X-Original-URI`. A refusal is the contract's 400
 * `INVALID_REQUEST`; otherwise the module is the core's strictest reading of the path (`moduleFromPath`).
 *
 * Refused: anything but origin-form (absolute-form `http://host/…` and `*` are for forward proxies and
 * `OPTIONS`; a reverse proxy routes neither), a fragment (never part of a request target; readers disagree on
 * where it starts), `;` in the path (Tomcat and Jetty strip path parameters, `..;` included), a leading `//`
 * (read as an authority by the JDK, WHATWG URL and `urlsplit`), `\` raw or encoded (read as `/` by WHATWG URL),
 * a `%` not followed by a valid UTF-8 escape (decoders disagree on what it means; the core would read it raw),
 * and an encoded separator, dot or `%` in the version or module segment (`ROUTING_ESCAPE`).
 */
export function judgeTarget(target: string): TargetVerdict {
  if (PLAIN_TARGET.test(target)) {
    const query = target.indexOf('?');
    return { ok: true, module: moduleFromPath(query === -1 ? target : target.slice(0, query)) };
  }
  if (target[0] !== '/') return refuse('The request target must be a path (origin-form), not a URL or "*".');
  if (target.includes('#')) return refuse('The request target must not contain a fragment ("#").');
  const end = target.indexOf('?');
  const path = end === -1 ? target : target.slice(0, end);
  if (path.startsWith('//')) return refuse('The request path must not start with "//".');
  if (path.includes(';')) return refuse('The request path must not contain ";".');
  if (path.includes('\\') || ENCODED_BACKSLASH.test(path)) return refuse('The request path must not contain "\\", raw or encoded.');
  if (path.includes('%')) {
    try {
      decodeURIComponent(path);
    } catch {
      return refuse('The request path has a "%" that is not a valid percent-encoded UTF-8 sequence.');
    }
    const literal = path.split('/').filter((segment) => segment !== '');
    // The segments once raw dot segments are resolved, as URL parsers resolve them before routing.
    const resolved: string[] = [];
    for (const segment of literal) {
      if (segment === '..') resolved.pop();
      else if (segment !== '.') resolved.push(segment);
    }
    for (const segment of [...routingSegments(literal), ...routingSegments(resolved)]) {
      if (ROUTING_ESCAPE.test(segment)) {
        return refuse('The version or module segment of the request path must not hold an encoded "/", "\\", ".", "?", "#", ";" or "%".');
      }
    }
  }
  return { ok: true, module: moduleFromPath(path) };
}
