/**
 * The harness, the suites and the benchmarks take every device string from the contract
 * (lib/contract/): the console markers, the step markers, the state partition's paths, the
 * updaters' paths. This test parses their sources with the TypeScript compiler and fails on a
 * string, template or regular expression literal that spells one of them out by hand, naming
 * file:line and the literal. Comments do not count. The scanner is tested on a small source
 * first, so a scanner that stops seeing literals fails too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCANNED = ['harness', 'suites', 'bench'];

/** Text only the device prints or owns: a literal containing one of these belongs in the contract. */
const DEVICE_STRINGS = [
  '[huplab]',
  '[hup] step',
  '[takeover]',
  'rollback-health-',
  'rollback-altboot-',
  '/mnt/state/',
  '/tmp/hup',
  '/mnt/data/resinhup',
] as const;

/**
 * Literals that may spell a device string: text the harness itself writes. Each names its file
 * and a fragment of the literal; an entry that no longer matches anything fails the test.
 */
const ALLOWED: ReadonlyArray<{ file: string; fragment: string; reason: string }> = [
  {
    file: 'harness/console/attach.ts',
    fragment: '[huplab] attached to ',
    reason: "the harness's own line on the host terminal when it attaches to a console, not the device's",
  },
  {
    file: 'harness/console/attach.ts',
    fragment: '[huplab] detached from ',
    reason: "the harness's own line on the host terminal when the user detaches",
  },
  {
    file: 'harness/console/attach.ts',
    fragment: '[huplab] console of ',
    reason: "the harness's own line on the host terminal when the console closes",
  },
];

interface Finding {
  file: string;
  line: number;
  literal: string;
  found: string;
}

/** A regular expression's or a raw template's text as the string it matches: escapes dropped (`\[` -> `[`). */
function unescaped(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

/** Every literal in `source` (strings, templates and their parts, regular expressions) containing a device string. */
function scanSource(file: string, source: string): Finding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const look = (node: ts.Node, texts: Array<string | undefined>) => {
    const found = DEVICE_STRINGS.find((d) => texts.some((x) => x?.includes(d)));
    if (found === undefined) return;
    out.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
      literal: node.getText(sf),
      found,
    });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node)) look(node, [node.text]);
    else if (ts.isNoSubstitutionTemplateLiteral(node)) look(node, [node.text, unescaped(node.getText(sf))]);
    else if (ts.isTemplateExpression(node)) {
      for (const part of [node.head, ...node.templateSpans.map((s) => s.literal)])
        look(part, [part.text, unescaped(part.getText(sf))]);
    } else if (ts.isRegularExpressionLiteral(node)) look(node, [unescaped(node.text)]);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(p);
    return e.isFile() && e.name.endsWith('.ts') ? [p] : [];
  });
}

t.test('the scanner finds a device string in a string, a template and a regex, not in a comment', async (t) => {
  const source = [
    '// [huplab] os ready in a line comment',
    "/* the updater's /tmp/hup.mjs in a block comment */",
    "const a = 'waiting for [huplab] shutting down';",
    `const b = \`\${x} [hup] step fetch start\`;`,
    'const c = /\\[takeover\\] rebooting/;',
    `const d = \`/mnt/state/\${file}\`;`,
    'const e = `rollback-health-breadcrumb`;',
    `const f = 'a huplab-free string', g = \`nothing \${here}\`, h = /nor \\[here\\]/;`,
    'const i = String.raw`\\[hup\\] step (\\S+) done`;',
  ].join('\n');
  const found = scanSource('fixture.ts', source);
  t.same(
    found.map((f) => [f.line, f.found]),
    [
      [3, '[huplab]'],
      [4, '[hup] step'],
      [5, '[takeover]'],
      [6, '/mnt/state/'],
      [7, 'rollback-health-'],
      [9, '[hup] step'],
    ],
  );
  t.equal(found[0]!.literal, "'waiting for [huplab] shutting down'", 'the literal as written');
});

t.test('harness, suites and benchmarks take every device string from the contract', async (t) => {
  const files = SCANNED.flatMap((d) => tsFiles(join(ROOT, d)));
  t.ok(files.length > 50, `${files.length} files scanned`);
  const used = new Set<(typeof ALLOWED)[number]>();
  const offending: string[] = [];
  for (const path of files) {
    const file = relative(ROOT, path).split('\\').join('/');
    for (const f of scanSource(file, readFileSync(path, 'utf8'))) {
      const allowed = ALLOWED.find((a) => a.file === f.file && f.literal.includes(a.fragment));
      if (allowed) used.add(allowed);
      else offending.push(`${f.file}:${f.line}: ${f.literal} (contains ${f.found}: use lib/contract)`);
    }
  }
  t.same(offending, [], 'no device string spelled out by hand');
  t.same(
    ALLOWED.filter((a) => !used.has(a)).map((a) => `${a.file}: ${a.fragment}`),
    [],
    'every allowed literal still exists',
  );
});
