// The module catalog and the one place that maps a request path to a module.

export const RETAIL_MODULES = Object.freeze([
  'invoices', 'receipts', 'customers', 'suppliers', 'products', 'expenses', 'bills', 'quotations', 'loans',
  'petty-cash', 'payroll', 'journal-entries', 'chart-of-accounts', 'reports', 'tax', 'documents', 'webhooks',
] as const);

export const ENTERPRISE_MODULES = Object.freeze([
  'smart-loans', 'business-intelligence', 'account-officers', 'branch-analytics', 'payments', 'ai',
] as const);

export type RetailModule = (typeof RETAIL_MODULES)[number];
export type EnterpriseModule = (typeof ENTERPRISE_MODULES)[number];
export type Module = RetailModule | EnterpriseModule;

const retail: ReadonlySet<string> = new Set(RETAIL_MODULES);
const enterprise: ReadonlySet<string> = new Set(ENTERPRISE_MODULES);

export function isModule(name: unknown): name is Module {
  return typeof name === 'string' && (retail.has(name) || enterprise.has(name));
}

export function isEnterpriseModule(name: string): name is EnterpriseModule {
  return enterprise.has(name);
}

/** Throws a TypeError naming `option` when `name` is not in the catalog: configuration never fails open. */
export function assertModule(name: unknown, option = 'module'): asserts name is Module {
  if (!isModule(name)) {
    throw new TypeError(
      `finora-auth: ${option} must be a catalog module (${[...RETAIL_MODULES, ...ENTERPRISE_MODULES].join(', ')}); got ${JSON.stringify(name)}`,
    );
  }
}

const VERSION_SEGMENT = /^v\d+$/;
const MAX_DECODE_ROUNDS = 3;
/**
 * The module of a plain path, read in one pass over it: `null` when the path is not plain. Plain is lower-case
 * letters, digits, `-`, `_` and `/` only: no encoding, case, dot segment or separator to read twice, so every
 * reading of it is the plain split. This is the spelling nearly every request has, read on every request: no regex,
 * no array, only the first two segments cut out.
 */
function plainPathModule(path: string): Module | undefined | null {
  let first: string | undefined;
  let second: string | undefined;
  let start = -1;
  for (let i = 0; i <= path.length; i++) {
    const c = i === path.length ? 0x2f : path.charCodeAt(i);
    if (c === 0x2f) {
      if (start !== -1) {
        if (first === undefined) first = path.slice(start, i);
        else second ??= path.slice(start, i);
        start = -1;
      }
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) {
      if (start === -1) start = i;
    } else {
      return null;
    }
  }
  return moduleOfSegments(first, second);
}

function decodeFully(text: string): string {
  let current = text;
  for (let i = 0; i < MAX_DECODE_ROUNDS && current.includes('%'); i++) {
    try {
      current = decodeURIComponent(current);
    } catch {
      return current;
    }
  }
  return current;
}

/** The module a list of path segments names: the first after an optional `v<digits>`. */
/** The first segment, or the second after a `/v<digits>` one, when it is in the catalog. */
function moduleOfSegments(first: string | undefined, second: string | undefined): Module | undefined {
  const name = first !== undefined && VERSION_SEGMENT.test(first) ? second : first;
  return isModule(name) ? name : undefined;
}

const moduleOf = (segments: readonly string[]): Module | undefined => moduleOfSegments(segments[0], segments[1]);

const SINGLE_DOT = /^(?:\.|%2e)$/i;
const DOUBLE_DOT = /^(?:\.|%2e){2}$/i;

/** Segments with dot segments resolved, `..` popping what precedes it. */
function resolveDots(segments: readonly string[], isDot: (s: string) => boolean, isDotDot: (s: string) => boolean): string[] {
  const resolved: string[] = [];
  for (const segment of segments) {
    if (isDot(segment)) continue;
    if (isDotDot(segment)) resolved.pop();
    else resolved.push(segment);
  }
  return resolved;
}

const cleanSegments = (text: string): string[] =>
  text.replace(/\\/g, '/').toLowerCase().split('/').map((s) => s.trim()).filter((s) => s !== '');

/**
 * The readings of a path a router may route on: segments as they stand (Express and Koa match the raw path, so
 * `/payments/../x` reaches a `/payments/*` route); with dot segments resolved after decoding (a server that decodes
 * before it resolves, so `/x/%2e%2e/payments` reaches `/payments`); and with dot segments resolved BEFORE decoding,
 * as the WHATWG URL parser does (`.`, `..` and their `%2e` spellings only), so `/./payments/%252e%252e/x` reaches a
 * `/payments/*` route on Hono or Workers while a decode-first reading would see `/x`. Each is percent-decoded,
 * lower-cased, with `\` read as `/` and empty segments dropped.
 */
function readings(path: string): [Module | undefined, Module | undefined, Module | undefined] {
  const end = path.search(/[?#]/);
  const pathname = end === -1 ? path : path.slice(0, end);
  const literal = cleanSegments(decodeFully(pathname));
  const resolved = resolveDots(literal, (s) => s === '.', (s) => s === '..');
  const rawResolved = resolveDots(cleanSegments(pathname), (s) => SINGLE_DOT.test(s), (s) => DOUBLE_DOT.test(s)).flatMap((segment) =>
    cleanSegments(decodeFully(segment)),
  );
  return [moduleOf(literal), moduleOf(resolved), moduleOf(rawResolved)];
}

/**
 * The module a request path names: the first segment after an optional `/v<digits>` prefix, when it is in the catalog.
 *
 * No spelling that reaches an enterprise route's handler may be judged as retail or as no module, so the path is
 * read every way a framework might route it (see `readings`), and an enterprise module named by any reading wins.
 * `mount` is the prefix a framework stripped before `path` (Express `req.baseUrl`, a Koa mount, a Hono base
 * path): the routes below it may see the path under any suffix of the mount, so each is read too. Reading too
 * much only ever makes a request stricter, never looser.
 */
export function moduleFromPath(path: string, mount = ''): Module | undefined {
  // The common spelling: nothing to decode, fold or resolve, so both readings are the plain split.
  if (mount === '') {
    const plain = plainPathModule(path);
    if (plain !== null) return plain;
  }
  const mountSegments = mount === '' ? [] : mount.split('/').filter((s) => s !== '');
  let found: Module | undefined;
  for (let i = mountSegments.length; i >= 0; i--) {
    const candidate = i === mountSegments.length ? path : `/${mountSegments.slice(i).join('/')}/${path}`;
    for (const module of readings(candidate)) {
      if (module !== undefined && isEnterpriseModule(module)) return module;
      found ??= module;
    }
  }
  return found;
}
