// Builds the API reference from the packages' TSDoc comments with TypeDoc into ./api-docs (gitignored).
//   node scripts/api-docs.mjs [--out DIR]     (or: npx -y pnpm@10.34.9 api-docs)
// Every public export of every package, from its src/index.ts (and core's ./testing); a broken {@link} fails it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Application, LogLevel } from 'typedoc';

const root = resolve(import.meta.dirname, '..');
const PACKAGES = ['core', 'express', 'koa', 'hono', 'fastify', 'sqlite', 'redis', 'postgres', 'http', 'oauth', 'gateway'];
const outFlag = process.argv.indexOf('--out');
const out = resolve(outFlag === -1 ? join(root, 'api-docs') : process.argv[outFlag + 1]);

// One program over every package's sources, each @finora-auth/* import mapped to its source, so a type one
// package re-uses from another links to that package's page rather than to a built .d.ts.
const tmp = join(root, '.tmp');
mkdirSync(tmp, { recursive: true });
const tsconfig = join(tmp, 'tsconfig.api-docs.json');
writeFileSync(
  tsconfig,
  JSON.stringify({
    extends: '../tsconfig.base.json',
    compilerOptions: {
      lib: ['ES2022', 'DOM'],
      types: ['node'],
      baseUrl: '..',
      paths: {
        '@finora-auth/core/testing': ['packages/core/src/testing.ts'],
        ...Object.fromEntries(PACKAGES.map((name) => [`@finora-auth/${name}`, [`packages/${name}/src/index.ts`]])),
      },
    },
    include: PACKAGES.map((name) => `../packages/${name}/src`),
    exclude: ['../packages/*/src/**/*.test.ts'],
  }),
);

// The index page: what this is and where the guides are (the README links folders TypeDoc cannot copy).
const index = join(tmp, 'api-docs-index.md');
writeFileSync(
  index,
  '# finora-auth API reference\n\nEvery public export of the `@finora-auth/*` packages, from their TSDoc comments. ' +
    'How to use them: the README and docs/ of the repository (quick starts, guides, the KeyStore interface).\n',
);

const app = await Application.bootstrapWithPlugins({
  name: 'finora-auth',
  entryPoints: [...PACKAGES.map((name) => join(root, 'packages', name, 'src', 'index.ts')), join(root, 'packages/core/src/testing.ts')],
  entryPointStrategy: 'resolve',
  tsconfig,
  out,
  readme: index,
  disableSources: true,
  excludePrivate: true,
  excludeInternal: true,
  // Type errors are each package's own typecheck to catch; this is about what the comments say and link.
  skipErrorChecking: true,
  validation: { invalidLink: true, notExported: false, notDocumented: false },
  treatValidationWarningsAsErrors: true,
  logLevel: LogLevel.Warn,
});
const project = await app.convert();
if (!project || app.logger.hasErrors()) {
  console.error('api-docs: TypeDoc failed (see above)');
  process.exit(1);
}
// TypeDoc names a module by its path ("core/src"); a user knows it by its import specifier.
for (const module of project.children ?? []) {
  module.name = module.name.replace(/^([a-z]+)\/src(\/testing)?$/, '@finora-auth/$1$2');
}
app.validate(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error('api-docs: the API reference has broken links or other problems (see above)');
  process.exit(1);
}
await app.generateDocs(project, out);
console.log(`api-docs: written to ${out}`);
