// fast-check generators: Authorization values (random bytes, near-miss keys, 64 KB) and spellings of module paths.

import fc from 'fast-check';
import { ENTERPRISE_MODULES, RETAIL_MODULES } from '@finora-auth/core';

/** Characters that look like a key's, or that parsers and splitters treat specially. */
export const LOOK_ALIKES = [
  '\u0430', // Cyrillic a
  '\u0435', // Cyrillic e
  '\u0441', // Cyrillic s
  '\u0456', // Cyrillic i
  '\u043e', // Cyrillic o
  '\u0391', // Greek capital alpha
  '\uff10', // fullwidth 0
  '\uff41', // fullwidth a
  '\u017f', // long s: upper-cases to S
  '\u212a', // Kelvin sign: lower-cases to k
  '\u0131', // dotless i
  '\u0130', // I with dot: lower-cases to two code units
  '\u200b', // zero-width space
  '\u00a0', // no-break space
  '\u2028', // line separator
  '\ufeff', // byte order mark
  '\u00ad', // soft hyphen
  '\u0660', // Arabic-Indic digit zero
];
export const SEPARATORS = [' ', '  ', '\t', ',', ', ', ';', '\u0000', '"', "'", '=', ':', '\u000b', '\u000c', '\u007f'];

const hexChar = fc.constantFrom(...'0123456789abcdef');
const anyChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom(...LOOK_ALIKES, ...SEPARATORS),
  fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)),
  hexChar,
  fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ_-'),
);

/** A random key in the format: almost surely unknown to any store. */
export const formatKey = fc
  .tuple(fc.constantFrom('live', 'test'), fc.array(hexChar, { minLength: 48, maxLength: 48 }))
  .map(([env, hex]) => `${env}_sk_${hex.join('')}`);

/** One edit away from `key`: a character changed, dropped, added or case-flipped, the prefix swapped or mangled. */
export function nearMiss(key: string): fc.Arbitrary<string> {
  const n = key.length;
  return fc.oneof(
    fc.tuple(fc.nat(n - 1), anyChar).map(([i, c]) => key.slice(0, i) + c + key.slice(i + 1)),
    fc.nat(n - 1).map((i) => key.slice(0, i) + key.slice(i + 1)),
    fc.tuple(fc.nat(n), anyChar).map(([i, c]) => key.slice(0, i) + c + key.slice(i)),
    fc.nat(n - 1).map((i) => {
      const c = key.charAt(i);
      const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
      return key.slice(0, i) + flipped + key.slice(i + 1);
    }),
    fc.constant(key.toUpperCase()),
    fc.constantFrom('live_sk_', 'test_sk_', 'Live_sk_', 'LIVE_SK_', 'live-sk-', 'live_pk_', 'sk_live_', 'live__sk_', 'livesk_', '')
      .map((prefix) => prefix + key.slice(8)),
    fc.constant(key + key.slice(-1)),
    fc.constant(key.slice(0, -1)),
    fc.constant(`${key.slice(0, 8)}${key.slice(8).replace(/[0-9a-f]/g, (c) => (c === '0' ? '\uff10' : c))}`),
    fc.constantFrom('\u0000', '%00', '\\0').map((nul) => key + nul),
    fc.constant(encodeURIComponent(key).replace(/_/g, '%5F')),
  );
}

/** Scheme spellings: valid ones (any case, several spaces) and near misses of the scheme. */
export const scheme = fc.oneof(
  fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'bEaReR ', 'Bearer  ', 'Bearer    '),
  fc.constantFrom('Bearer', 'Bearer\t', 'Bearer\u00a0', 'Bearer,', 'Bearer: ', 'Bearer=', 'Bearer ,', 'Bearer "', 'Basic ', 'Token ',
    'Bear ', 'Bearerr ', 'Bearer\u0000', '\u0412earer ', 'Be\u0430rer ', 'B\u0435arer ', 'Bearer\u200b ', 'Bearer Bearer ', ''),
  fc.tuple(fc.string({ unit: 'binary', maxLength: 8 })).map(([s]) => s),
);

/** Optional whitespace and junk around the whole value. */
const around = fc.constantFrom('', '', '', ' ', '\t', '  \t ', ',', ', ', '\u0000', '\u00a0', ' x', '"');

/** A plausible value built from a key: scheme + key, with the parts independently perturbed. */
export function headerAround(keys: readonly string[]): fc.Arbitrary<string> {
  const token = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...keys) },
    { weight: 5, arbitrary: fc.constantFrom(...keys).chain(nearMiss) },
    { weight: 1, arbitrary: formatKey },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...keys)).map(([a, b]) => `${a},${b}`) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...SEPARATORS)).map(([k, s]) => `${k}${s}${k}`) },
  );
  return fc.tuple(around, scheme, token, around).map(([lead, s, t, trail]) => lead + s + t + trail);
}

/** Valid values only: each key in every acceptable spelling (any-case scheme, 1-4 spaces, leading and trailing OWS). */
export function validHeader(keys: readonly string[]): fc.Arbitrary<string> {
  const ows = fc.array(fc.constantFrom(' ', '\t'), { maxLength: 3 }).map((a) => a.join(''));
  const caseScheme = fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }).map((flags) =>
    [...'bearer'].map((c, i) => (flags[i] ? c.toUpperCase() : c)).join(''),
  );
  return fc
    .tuple(ows, caseScheme, fc.integer({ min: 1, max: 4 }), fc.constantFrom(...keys), ows)
    .map(([lead, s, spaces, key, trail]) => `${lead}${s}${' '.repeat(spaces)}${key}${trail}`);
}

/** Random bytes as a latin1 string (what Node's parser hands a framework for any byte). */
export const randomBytes = fc.uint8Array({ maxLength: 300 }).map((bytes) => String.fromCharCode(...bytes));

/** Big values: 64 KB shapes that make a backtracking parser slow or a logger print a lot. */
export function hugeHeader(keys: readonly string[]): fc.Arbitrary<string> {
  const size = fc.integer({ min: 16_384, max: 65_536 });
  return fc.oneof(
    size.map((n) => `Bearer ${'a'.repeat(n)}`),
    size.map((n) => `Bearer${' '.repeat(n)}x`),
    size.map((n) => 'Bearer '.repeat(Math.floor(n / 7))),
    fc.tuple(size, fc.constantFrom(...keys)).map(([n, k]) => `Bearer ${k}${' '.repeat(n)}x`),
    fc.tuple(size, fc.constantFrom(...keys)).map(([n, k]) => `Bearer${' '.repeat(n)}${k}`),
    fc.tuple(size, fc.constantFrom(...keys)).map(([n, k]) => `${' '.repeat(n)}Bearer ${k}`),
    size.map((n) => `Bearer live_sk_${'0'.repeat(n)}`),
    size.map((n) => '\t '.repeat(n / 2)),
    fc.tuple(size, fc.constantFrom(...keys)).map(([n, k]) => `Bearer ${`${k},`.repeat(Math.ceil(n / 57))}`),
  );
}

/** Every kind of value, weighted towards the near misses that matter most. `huge` adds 64 KB values. */
export function anyHeader(keys: readonly string[], options: { huge?: boolean } = {}): fc.Arbitrary<string> {
  const kinds: Array<{ weight: number; arbitrary: fc.Arbitrary<string> }> = [
    { weight: 6, arbitrary: headerAround(keys) },
    { weight: 2, arbitrary: validHeader(keys) },
    { weight: 1, arbitrary: randomBytes },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 120 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
    { weight: 1, arbitrary: fc.tuple(scheme, formatKey).map(([s, k]) => s + k) },
  ];
  if (options.huge) kinds.push({ weight: 1, arbitrary: hugeHeader(keys) });
  return fc.oneof(...kinds);
}

/** `value` with the bytes that would end a header line on the wire (CR, LF) replaced: for one-line header tests. */
export function oneLine(value: string): string {
  return value.replace(/[\r\n]/g, (c) => (c === '\r' ? '\u000b' : '\u000c'));
}

// ---------------------------------------------------------------------------------------------------------------
// Paths

/** A character as a framework might receive it: itself, percent-encoded (either case), or encoded twice. */
function spellChar(c: string, mode: number): string {
  const code = c.charCodeAt(0);
  const hex = code.toString(16).padStart(2, '0');
  switch (mode) {
    case 1:
      return c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
    case 2:
      return code < 0x80 ? `%${hex.toUpperCase()}` : encodeURIComponent(c);
    case 3:
      return code < 0x80 ? `%${hex}` : encodeURIComponent(c).toLowerCase();
    case 4:
      return code < 0x80 ? `%25${hex.toUpperCase()}` : encodeURIComponent(encodeURIComponent(c));
    default:
      return c;
  }
}

/** Unicode characters that fold to an ASCII letter of a module name under some case mapping. */
const FOLDS: Record<string, string[]> = { s: ['\u017f'], k: ['\u212a'], i: ['\u0131', '\u0130'], a: ['\u0430'], e: ['\u0435'] };

/**
 * `name`, some characters respelled (case, %XX, %xx, %25XX, a look-alike). Most spellings change nothing or only
 * the case, so that routers which do not decode still route a good share of them.
 */
function spellSegment(name: string): fc.Arbitrary<string> {
  const style = fc.record({
    rate: fc.constantFrom(0, 0, 0.2, 0.5, 1),
    modes: fc.subarray([1, 1, 1, 2, 3, 4, 12], { minLength: 1 }),
  });
  return style.chain(({ rate, modes }) =>
    fc
      .array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...modes)), {
        minLength: name.length,
        maxLength: name.length,
      })
      .map((draws) =>
        [...name]
          .map((c, i) => {
            const [roll, mode] = draws[i] ?? [1, 0];
            if (roll >= rate) return c;
            const fold = FOLDS[c];
            if (mode === 12) return fold ? encodeURIComponent(fold[i % fold.length] ?? c) : c;
            return spellChar(c, mode);
          })
          .join(''),
      ),
  );
}

const oddSlash = fc.constantFrom('//', '///', '/./', '%2F', '%2f', '\\', '/%2E/', '/.%2F', '/%2e%2e/', '/x/..%2f');
const version = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('v1', 'v2', 'V1', 'V2') },
  { weight: 1, arbitrary: fc.constantFrom('v01', 'v%31', '%76%31', 'v1.0', 'v') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }).map((n) => `v${n}`) },
);
const before = fc.constantFrom('/x/..', '/./', '/%2e', '/invoices/..', '/invoices/%2e%2e', '/v1/..', '/..', '/%2E%2E', '/.%2e', '/invoices/..%2f');
const tail = fc.constantFrom('/', '/123', '/123/x', '?x=1', '/?a=b', '?module=invoices', '/123/');
const oddTail = fc.constantFrom('#f', ';jsessionid=1', '%20', '.json', '/..', '/../', '/../invoices', '/..%2Finvoices',
  '/%2e%2e/invoices', '/..%2f..%2finvoices', '/.%2e/invoices', '/..\\invoices', '%2F..%2Finvoices', '/x/../../invoices', '%00',
  '/%2e%2e%2f%2e%2e%2finvoices', '/..;/invoices', '/..%5cinvoices', '/x/..%2f..%2f..%2finvoices', '/%252e%252e/invoices',
  '/..%252finvoices', '/..%2f..%2fv1%2finvoices');

const PARTS = ['before', 'slash', 'version', 'versionSlash', 'segment', 'tail'] as const;

export interface PathCase {
  path: string;
  /** The module the generator spelled. */
  module: string;
}

/**
 * Spellings of a request for `modules` (enterprise by default): random case, %XX of random characters, extra
 * slashes, dot segments (raw and encoded, before and after the module), `/v<n>` prefixes, look-alikes. Up to three
 * parts of the path are spelled oddly at once, the rest plainly, so that a good share still reaches a route.
 */
export function modulePath(modules: readonly string[] = ENTERPRISE_MODULES): fc.Arbitrary<PathCase> {
  return fc
    .record({
      module: fc.constantFrom(...modules),
      odd: fc.subarray([...PARTS], { maxLength: 3 }),
      versioned: fc.boolean(),
      before,
      slash: oddSlash,
      version,
      versionSlash: oddSlash,
      tail: fc.option(tail, { nil: '' }),
      oddTail,
    })
    .chain((r) =>
      (r.odd.includes('segment') ? spellSegment(r.module) : fc.constant(r.module)).map((segment) => {
        const odd = (part: (typeof PARTS)[number]) => r.odd.includes(part);
        const lead = odd('before') ? r.before : '';
        const s1 = odd('slash') ? r.slash : '/';
        const v = odd('version') ? r.version : r.versioned ? 'v1' : '';
        const s2 = odd('versionSlash') ? r.versionSlash : '/';
        const path = lead + (v === '' ? s1 : `${s1}${v}${s2}`) + segment + (odd('tail') ? r.oddTail : r.tail);
        return { module: r.module, path: /^[/\\]/.test(path) ? path : `/${path}` };
      }),
    );
}

export const ALL_MODULES: readonly string[] = [...RETAIL_MODULES, ...ENTERPRISE_MODULES];
