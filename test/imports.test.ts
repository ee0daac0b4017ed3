/**
 * Dependencies flow one way. Reads every .ts and .mjs source of the repository, follows its
 * relative imports (type-only ones too), and fails on an import circle, on an import against the
 * direction of the top-level folders, and on a harness layer importing a higher one. The checker
 * (test/helpers/import-graph.ts) is tested here on small trees first, so a checker that stops
 * seeing violations fails too.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  buildGraph,
  checkGraph,
  checkImports,
  extractImports,
  readRepository,
  type Violation,
} from './helpers/import-graph.ts';

/**
 * Harness layers, lowest first: a harness file may import its own folder and any lower layer,
 * never a higher layer or another folder of its own layer. DESIGN: CLI, suites and benchmarks
 * -> faults and campaigns -> the update runner -> drivers -> console, ssh -> lib. The drivers
 * (qemu, board) are peers behind one driver interface, so neither may lean on the other; disk
 * (host-side access to a device's disk image) sits with console and ssh below them; the device
 * layer (the factory, provisioning, shell actions) builds on the drivers; the backend stands
 * apart from devices; the update runner builds on both; fault injection
 * and power-cut campaigns on the runner; reports on everything they report about; the CLI on
 * all. A folder listed here need not exist yet; a harness folder missing here fails the test.
 */
const LAYERS: readonly (readonly string[])[] = [
  /* 0 */ ['harness/console', 'harness/ssh', 'harness/disk'],
  /* 1 */ ['harness/lab.ts', 'harness/holdings.ts'],
  /* 2 */ ['harness/driver'],
  /* 3 */ ['harness/qemu', 'harness/board'],
  /* 4 */ ['harness/device'],
  /* 5 */ ['harness/backend'],
  /* 6 */ ['harness/update'],
  /* 7 */ ['harness/faults', 'harness/dashboard'],
  /* 8 */ ['harness/power', 'harness/jobs', 'harness/server'],
  /* 9 */ ['harness/report'],
  /* 10 */ ['harness/cli'],
];
const TABLE = 'LAYERS in test/imports.test.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function check(files: Record<string, string>, otherFiles: string[] = []): string[] {
  return checkImports(new Map(Object.entries(files)), { layers: LAYERS, tableName: TABLE, otherFiles }).map(
    (v) => v.message,
  );
}

t.test('extracts every kind of import, and nothing that only looks like one', async (t) => {
  const text = [
    "import a from './a.ts';",
    "import type { B } from './b.ts';",
    "import { type C, type D } from './c.ts';",
    "import { type E, e } from './e.ts';",
    "import './side-effect.ts';",
    "export * from './f.ts';",
    "export type { G } from './g.ts';",
    "export { h } from './h.ts';",
    "import x = require('./x.ts');",
    "type I = import('./i.ts').I;",
    'export const j = async (name: string) => {',
    "  await import('./j.ts');",
    '  await import(`./k.ts`);',
    '  await import(name);',
    `  await import(\`./\${name}.ts\`);`,
    '};',
    "import { readFile } from 'node:fs/promises';",
    "import ts from 'typescript';",
    "const s = '/* not a comment', u = 'import y from \"./string.ts\"';",
    "// import z from './comment.ts';",
    "/* export * from './block-comment.ts'; */",
    'const script = `',
    "  const fs = require('./template.ts');",
    "  import w from './template.ts';",
    "  await import('./template.ts');",
    '`;',
  ].join('\n');
  t.same(
    extractImports('lib/m.ts', text).map((r) => [r.specifier, r.typeOnly]),
    [
      ['./a.ts', false],
      ['./b.ts', true],
      ['./c.ts', true],
      ['./e.ts', false],
      ['./side-effect.ts', false],
      ['./f.ts', false],
      ['./g.ts', true],
      ['./h.ts', false],
      ['./x.ts', false],
      ['./i.ts', true],
      ['./j.ts', false],
      ['./k.ts', false],
      ['node:fs/promises', false],
      ['typescript', false],
    ],
  );
  t.same(
    extractImports(
      'images/device-files/app.mjs',
      "import { x } from './x.mjs';\nconst y = await import('./y.mjs');",
    ).map((r) => r.specifier),
    ['./x.mjs', './y.mjs'],
    '.mjs files are read as JavaScript',
  );
});

t.test('resolves relative imports to files and skips packages', async (t) => {
  const graph = buildGraph(
    new Map([
      [
        'updater/main.ts',
        [
          "import { x } from '../lib/x.ts';",
          "import { y } from '../lib/y.js';",
          "import { z } from '../lib/z';",
          "import { dir } from '../lib/dir';",
          "import STAGE2 from './stage2.sh';",
          "import { build } from 'esbuild';",
          "import { join } from 'node:path';",
        ].join('\n'),
      ],
      ['lib/x.ts', ''],
      ['lib/y.ts', ''],
      ['lib/z.ts', ''],
      ['lib/dir/index.ts', ''],
    ]),
    ['updater/stage2.sh'],
  );
  t.same(
    graph.edges.map((e) => e.to),
    ['lib/dir/index.ts', 'lib/x.ts', 'lib/y.ts', 'lib/z.ts', 'updater/stage2.sh'],
  );
  t.same(graph.unresolved, []);
});

t.test('a tree that keeps the rules passes', async (t) => {
  const files = {
    'lib/errors.ts': "import { x } from './paths.ts';",
    'lib/paths.ts': "import { readFile } from 'node:fs/promises';",
    'updater/main.ts': "import '../lib/errors.ts';\nimport S from './stage2.sh';",
    'images/recipe.ts': "import '../lib/paths.ts';\nconst b = await import('../updater/main.ts');",
    'harness/console/attach.ts': "import '../../lib/errors.ts';",
    'harness/ssh/client.ts': "import type { A } from './keys.ts';",
    'harness/ssh/keys.ts': "import schema from './schema.json';",
    'harness/lab.ts': "import './console/attach.ts';",
    'harness/qemu/driver.ts': "import '../lab.ts';\nimport './args.ts';\nimport '../../images/recipe.ts';",
    'harness/qemu/args.ts': '',
    'harness/cli/main.ts': "import '../qemu/driver.ts';\nimport '../lab.ts';\nimport '../../updater/main.ts';",
    'suites/boot.spec.ts': "import '../harness/cli/main.ts';\nimport '../lib/errors.ts';",
    'bench/run.ts': "import '../harness/qemu/driver.ts';\nimport '../suites/boot.spec.ts';",
    'test/helpers/tree.ts': "import '../../harness/lab.ts';",
    'test/cli.test.ts': "import './helpers/tree.ts';\nimport '../bench/run.ts';\nimport '../suites/boot.spec.ts';",
    'playwright.config.ts': "import './harness/lab.ts';",
  };
  t.same(check(files, ['updater/stage2.sh', 'harness/ssh/schema.json']), []);
});

t.test('a circle of two files', async (t) => {
  t.same(
    check({
      'lib/a.ts': "import { b } from './b.ts';\nexport const a = 1;",
      'lib/b.ts': "import { a } from './a.ts';\nexport const b = a;",
    }),
    ['import circle of 2 files: lib/a.ts -> lib/b.ts -> lib/a.ts'],
  );
});

t.test('a circle of three files through a type import', async (t) => {
  t.same(
    check({
      'lib/x/one.ts': "import { two } from './two.ts';",
      'lib/x/two.ts': "export { three } from './three.ts';",
      'lib/x/three.ts': "import type { One } from './one.ts';",
    }),
    ['import circle of 3 files: lib/x/one.ts -> lib/x/two.ts -> lib/x/three.ts -(type)-> lib/x/one.ts'],
  );
});

t.test('a file importing itself, and files tangled in more than one circle', async (t) => {
  t.same(check({ 'lib/self.ts': "import './self.ts';" }), ['import circle of 1 file: lib/self.ts -> lib/self.ts']);
  t.same(
    check({
      'suites/a.ts': "import './b.ts';",
      'suites/b.ts': "import './a.ts';\nimport './c.ts';",
      'suites/c.ts': "const b = await import('./b.ts');",
    }),
    [
      'import circles among 3 files (2 circles below): suites/a.ts, suites/b.ts, suites/c.ts',
      'import circle of 2 files: suites/a.ts -> suites/b.ts -> suites/a.ts',
      'import circle of 2 files: suites/b.ts -> suites/c.ts -> suites/b.ts',
    ],
  );
});

t.test('lib/ importing harness/', async (t) => {
  t.same(
    check({
      'lib/a.ts': "export const load = () => import('../harness/console/attach.ts');",
      'harness/console/attach.ts': '',
    }),
    [
      'lib/a.ts (lib/) imports harness/console/attach.ts (harness/): lib/ is the bottom: it must not import updater/, harness/, images/, suites/, bench/ or test/',
    ],
  );
});

t.test('the other folder directions', async (t) => {
  t.same(
    check(
      {
        'updater/a.ts': "import '../images/recipe.ts';\nimport '../devices/x.json';",
        'images/recipe.ts': "import type { Lab } from '../harness/lab.ts';",
        'harness/lab.ts': "import '../suites/releases.ts';",
        'suites/releases.ts': "import '../test/helpers/tree.ts';",
        'bench/run.ts': '',
        'lib/b.ts': "import '../bench/run.ts';",
        'test/helpers/tree.ts': '',
      },
      ['devices/x.json'],
    ),
    [
      'updater/a.ts (updater/) imports devices/x.json (devices/): updater/ is bundled for the device: it may import only lib/ and updater/',
      'updater/a.ts (updater/) imports images/recipe.ts (images/): updater/ is bundled for the device: it may import only lib/ and updater/',
      'images/recipe.ts (images/) imports harness/lab.ts (harness/): images/ must not import harness/, suites/, bench/ or test/',
      'harness/lab.ts (harness/) imports suites/releases.ts (suites/): harness/ must not import suites/, bench/ or test/',
      'lib/b.ts (lib/) imports bench/run.ts (bench/): lib/ is the bottom: it must not import updater/, harness/, images/, suites/, bench/ or test/',
      'suites/releases.ts (suites/) imports test/helpers/tree.ts (test/): only test/ may import test/',
    ].sort(byImporter),
  );
});

function byImporter(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

t.test('a harness layer importing a higher or a sibling one', async (t) => {
  t.same(
    check({
      'harness/qemu/a.ts': "import { b } from '../board/b.ts';",
      'harness/board/b.ts': '',
    }),
    ['harness/qemu/a.ts (layer 3 qemu) imports harness/board/b.ts (layer 3 board)'],
  );
  t.same(
    check({
      'harness/console/attach.ts': "import type { Main } from '../cli/main.ts';",
      'harness/cli/main.ts': '',
    }),
    ['harness/console/attach.ts (layer 0 console) imports harness/cli/main.ts (layer 10 cli)'],
  );
  t.same(check({ 'harness/lab.ts': "import './driver/index.ts';", 'harness/driver/index.ts': '' }), [
    'harness/lab.ts (layer 1 lab) imports harness/driver/index.ts (layer 2 driver)',
  ]);
  t.same(check({ 'harness/ssh/client.ts': "import '../console/log.ts';", 'harness/console/log.ts': '' }), [
    'harness/ssh/client.ts (layer 0 ssh) imports harness/console/log.ts (layer 0 console)',
  ]);
});

t.test('a harness file in a folder the table does not list', async (t) => {
  t.same(
    check({
      'harness/hup/run.ts': "import '../lab.ts';",
      'harness/hup/deep/plan.ts': '',
      'harness/lab.ts': '',
    }),
    [
      'harness/hup (deep/plan.ts, run.ts) is in no harness layer: add the folder to LAYERS in test/imports.test.ts at the layer it belongs to',
    ],
  );
  t.same(check({ 'harness/stray.ts': '' }), [
    'harness/stray.ts is in no harness layer: add the file to LAYERS in test/imports.test.ts at the layer it belongs to',
  ]);
});

t.test('import text inside template strings, strings and comments does not count', async (t) => {
  const b = [
    "const open = '/*';",
    "// import { a } from './a.ts';",
    "/* export * from './a.ts'; */",
    'export const script = `',
    "const fs = require('./a.ts');",
    "import { a } from './a.ts';",
    "await import('./a.ts');",
    '`;',
    "const close = '*/';",
    "export const tagged = String.raw`import('./a.ts')`;",
  ].join('\n');
  t.same(extractImports('lib/b.ts', b), []);
  t.same(check({ 'lib/a.ts': "import { script } from './b.ts';", 'lib/b.ts': b }), []);
});

t.test('an import of a file that is not there', async (t) => {
  t.same(check({ 'lib/a.ts': "\nimport { gone } from './gone.ts';" }), [
    'lib/a.ts:2 imports "./gone.ts", which is no file of the repository',
  ]);
});

t.test('the repository', async (t) => {
  const started = performance.now();
  const { sources, otherFiles } = readRepository(ROOT);
  const graph = buildGraph(sources, otherFiles);
  const violations = checkGraph(graph, { layers: LAYERS, tableName: TABLE });
  t.comment(
    `${sources.size} source files, ${graph.edges.length} imports, ${Math.round(performance.now() - started)} ms`,
  );

  // The checker must see the tree: a broken listing or parser would pass every rule below.
  t.ok(sources.size > 100, `reads the sources (${sources.size})`);
  t.ok(sources.has('test/imports.test.ts') && sources.has('playwright.config.ts'), 'reads test/ and top-level files');
  const has = (from: string, to: string) => graph.edges.some((e) => e.from === from && e.to === to);
  t.ok(has('lib/profile.ts', 'lib/errors.ts'), 'sees static imports');
  t.ok(has('images/builder/rootfs.ts', 'updater/bundle.ts'), 'sees dynamic imports');
  t.ok(has('updater/advanced/main.ts', 'updater/takeover/stage2.sh'), 'sees imports of non-source files');

  // One array element per violation, so a failure's diff lists them one a line.
  const messages = (...kinds: Violation['kind'][]) =>
    violations.filter((v) => kinds.includes(v.kind)).map((v) => v.message);
  t.same(messages('circle'), [], 'no import circles');
  t.same(messages('direction'), [], 'no import against the direction of the top-level folders');
  t.same(messages('unlisted', 'layer'), [], 'no harness file outside the layer table, no layer importing a higher one');
  t.same(messages('unresolved'), [], 'no import of a missing file');
});
