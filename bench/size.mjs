// `pnpm bench` section: the minified and gzipped Worker bundle of core + Hono adapter (and + the token verifier, the HTTP store).
//
// The measuring is scripts/size.mjs's (the budget check), so the bench and the check can never disagree.
// Sizes do not depend on the machine or the run size: --quick and --smoke measure the same bundles.

import { emit, log, machine } from './lib.mjs';
import { BUDGET_GZIP_BYTES, SHIPPED_CEILING_GZIP_BYTES, measure } from '../scripts/size.mjs';

const { rows, failures } = await measure();
const budgeted = rows.find((row) => row.budgetGzipBytes !== undefined);
for (const row of rows) log(`size: ${row.id}: ${row.minifiedBytes} B minified, ${row.gzipBytes} B gzipped`);
for (const failure of failures) log(`size: ${failure}`);
emit({
  section: 'size',
  how: 'esbuild bundle of the built packages, platform browser with the workerd/worker/browser conditions, minify, ESM; gzip -9',
  rows,
  target: {
    what: `core + Hono adapter (finora-auth's own code) under ${BUDGET_GZIP_BYTES / 1024} KB gzipped as a Worker bundle, ${SHIPPED_CEILING_GZIP_BYTES / 1024} KB with lru-cache, no Node polyfills`,
    gzipBytes: budgeted.gzipBytes,
    met: failures.length === 0,
    failures,
  },
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
