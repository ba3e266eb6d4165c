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

function decodeFully(segment: string): string {
  let current = segment;
  for (let i = 0; i < MAX_DECODE_ROUNDS && current.includes('%'); i++) {
    try {
      current = decodeURIComponent(current);
    } catch {
      return current;
    }
  }
  return current;
}

/**
 * The module a request path names: the first segment after an optional `/v<digits>` prefix, when it is in the catalog.
 *
 * The path is normalised the most generous way any framework might route it (percent-decoded, lower-cased,
 * `\` read as `/`, repeated slashes collapsed, dot segments resolved), so no spelling that reaches an
 * enterprise route's handler can be judged as retail or as no module. Normalising too far only ever makes a
 * request stricter, never looser.
 */
export function moduleFromPath(path: string): Module | undefined {
  const end = path.search(/[?#]/);
  const pathname = end === -1 ? path : path.slice(0, end);
  const decoded = decodeFully(pathname).replace(/\\/g, '/').toLowerCase();
  const segments: string[] = [];
  for (const raw of decoded.split('/')) {
    const segment = raw.trim();
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  let first = segments[0];
  if (first !== undefined && VERSION_SEGMENT.test(first)) first = segments[1];
  return isModule(first) ? first : undefined;
}
