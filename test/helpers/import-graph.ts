/**
 * The import graph of the repository and the rules it must keep (test/imports.test.ts). The
 * imports are read with the TypeScript parser, never with regexes: text that only looks like an
 * import (a device script inside a template string, a comment, a string holding "/*") is not one.
 * The same checkImports judges the real tree and the test's in-memory fixtures.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Source files whose imports are read; other files (JSON, shell scripts) can only be imported. */
export const SOURCE_EXTENSIONS = ['.ts', '.mts', '.tsx', '.mjs'] as const;
/** The folders whose sources are read, besides the .ts files at the top of the repository. */
export const SOURCE_FOLDERS = ['lib', 'updater', 'images', 'harness', 'suites', 'bench', 'test'] as const;

export interface ImportRef {
  specifier: string;
  /** `import type`, `export type`, only `type` names, or an `import('...')` type. */
  typeOnly: boolean;
  line: number;
}

export interface Edge {
  from: string;
  to: string;
  /** True when every import of `to` in `from` is type-only. */
  typeOnly: boolean;
}

export interface Violation {
  kind: 'circle' | 'direction' | 'unlisted' | 'layer' | 'unresolved';
  message: string;
}

/**
 * Harness layers, lowest first. An entry is a folder (`harness/qemu`, for its files at any
 * depth) or a file (`harness/lab.ts`). The group's name in messages is its last path segment.
 */
export type LayerTable = readonly (readonly string[])[];

export interface ImportGraph {
  /** Every source file read, repository-relative with '/' separators. */
  files: string[];
  edges: Edge[];
  unresolved: { from: string; specifier: string; line: number }[];
}

function isSource(file: string): boolean {
  return SOURCE_EXTENSIONS.some((ext) => file.endsWith(ext));
}

function scriptKind(file: string): ts.ScriptKind {
  if (file.endsWith('.tsx')) return ts.ScriptKind.TSX;
  if (file.endsWith('.mjs') || file.endsWith('.js')) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

function literalText(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/**
 * Every module specifier `file` imports: static imports and re-exports, `import type`,
 * `import x = require('...')`, `import('...')` types, and dynamic `import('...')` with a literal.
 */
export function extractImports(file: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const refs: ImportRef[] = [];
  const add = (literal: ts.Node, specifier: string, typeOnly: boolean) => {
    const line = source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1;
    refs.push({ specifier, typeOnly, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const spec = literalText(node.moduleSpecifier);
      if (spec !== undefined) {
        const clause = node.importClause;
        const bindings = clause?.namedBindings;
        const onlyTypeNames =
          clause !== undefined &&
          clause.name === undefined &&
          bindings !== undefined &&
          ts.isNamedImports(bindings) &&
          bindings.elements.length > 0 &&
          bindings.elements.every((e) => e.isTypeOnly);
        add(node.moduleSpecifier, spec, clause?.isTypeOnly === true || onlyTypeNames);
      }
    } else if (ts.isExportDeclaration(node)) {
      const spec = literalText(node.moduleSpecifier);
      if (node.moduleSpecifier && spec !== undefined) {
        const names = node.exportClause;
        const onlyTypeNames =
          names !== undefined &&
          ts.isNamedExports(names) &&
          names.elements.length > 0 &&
          names.elements.every((e) => e.isTypeOnly);
        add(node.moduleSpecifier, spec, node.isTypeOnly || onlyTypeNames);
      }
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const spec = literalText(node.moduleReference.expression);
      if (spec !== undefined) add(node.moduleReference.expression, spec, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const spec = literalText(node.argument.literal);
      if (spec !== undefined) add(node.argument.literal, spec, true);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      const spec = literalText(arg);
      if (arg && spec !== undefined) add(arg, spec, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

export function isRelative(specifier: string): boolean {
  return specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

/**
 * The repository file a relative specifier names, as Node (with the project's .ts extensions)
 * or TypeScript's NodeNext resolution would find it; undefined when there is none.
 */
export function resolveSpecifier(
  from: string,
  specifier: string,
  exists: (file: string) => boolean,
): string | undefined {
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\/+$/, '');
  if (joined === '..' || joined.startsWith('../') || joined === '.' || joined === '') return undefined;
  const candidates = [joined];
  const ext = path.posix.extname(joined);
  const stem = joined.slice(0, joined.length - ext.length);
  if (ext === '.js') candidates.push(`${stem}.ts`, `${stem}.tsx`);
  else if (ext === '.mjs') candidates.push(`${stem}.mts`);
  else if (ext === '.cjs') candidates.push(`${stem}.cts`);
  candidates.push(...['.ts', '.tsx', '.mts', '.mjs', '.js'].map((e) => joined + e));
  candidates.push(...['index.ts', 'index.mjs', 'index.js'].map((e) => `${joined}/${e}`));
  return candidates.find(exists);
}

/**
 * The graph of relative imports among `sources` (path -> text). `otherFiles` are files that
 * exist but are not read (JSON, shell scripts): an import of one is an edge without a way on.
 */
export function buildGraph(sources: ReadonlyMap<string, string>, otherFiles: Iterable<string> = []): ImportGraph {
  const known = new Set<string>([...sources.keys(), ...otherFiles]);
  const exists = (file: string) => known.has(file);
  const edges = new Map<string, Edge>();
  const unresolved: ImportGraph['unresolved'] = [];
  for (const [from, text] of sources) {
    for (const ref of extractImports(from, text)) {
      if (!isRelative(ref.specifier)) continue;
      const to = resolveSpecifier(from, ref.specifier, exists);
      if (to === undefined) {
        unresolved.push({ from, specifier: ref.specifier, line: ref.line });
        continue;
      }
      const key = `${from}\0${to}`;
      const edge = edges.get(key);
      if (edge) edge.typeOnly &&= ref.typeOnly;
      else edges.set(key, { from, to, typeOnly: ref.typeOnly });
    }
  }
  const byName = (a: Edge, b: Edge) => compare(a.from, b.from) || compare(a.to, b.to);
  return { files: [...sources.keys()].sort(compare), edges: [...edges.values()].sort(byName), unresolved };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- rule a: no import circles -----------------------------------------------------------

/** Strongly connected components with more than one file, or a file importing itself. */
function circularComponents(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graph.edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfLoop = component.length === 1 && (next.get(v) ?? []).includes(v);
      if (component.length > 1 || selfLoop) components.push(component.sort(compare));
    }
  };
  for (const file of [...next.keys()].sort(compare)) if (!index.has(file)) connect(file);
  return components;
}

/** Files that import each other, and the circles named among them. */
export interface Tangle {
  files: string[];
  circles: Edge[][];
}

/**
 * The circles to name in each circular component: for every import inside it, the shortest
 * circle through that import. Each is a real circle, every file and import of the component is
 * on at least one, and there are at most as many as imports (listing all circles can explode).
 */
export function findCircles(graph: ImportGraph): Tangle[] {
  const tangles: Tangle[] = [];
  for (const component of circularComponents(graph)) {
    const members = new Set(component);
    const inside = graph.edges.filter((e) => members.has(e.from) && members.has(e.to));
    const next = new Map<string, Edge[]>();
    for (const e of inside) next.set(e.from, [...(next.get(e.from) ?? []), e]);
    const circles = new Map<string, Edge[]>();
    for (const first of inside) {
      // Breadth-first from first.to back to first.from; edges are sorted, so the result is stable.
      const via = new Map<string, Edge | null>([[first.to, null]]);
      const queue = [first.to];
      while (queue.length > 0 && !via.has(first.from)) {
        const v = queue.shift()!;
        for (const e of next.get(v) ?? []) {
          if (via.has(e.to)) continue;
          via.set(e.to, e);
          queue.push(e.to);
        }
      }
      const circle = [first];
      for (let at = first.from, e = via.get(at); e; at = e.from, e = via.get(at)) circle.splice(1, 0, e);
      // Start each circle at its first file by name, so the same circle is named once.
      const start = circle.reduce((best, e, i) => (compare(e.from, circle[best]!.from) < 0 ? i : best), 0);
      const rotated = [...circle.slice(start), ...circle.slice(0, start)];
      circles.set(rotated.map((e) => e.from).join('\0'), rotated);
    }
    const order = (c: Edge[]) => c.map((e) => e.from).join('\0');
    tangles.push({
      files: component,
      circles: [...circles.values()].sort((x, y) => x.length - y.length || compare(order(x), order(y))),
    });
  }
  return tangles.sort((x, y) => compare(x.files[0]!, y.files[0]!));
}

export function describeCircle(circle: readonly Edge[]): string {
  let text = circle[0]!.from;
  for (const e of circle) text += `${e.typeOnly ? ' -(type)-> ' : ' -> '}${e.to}`;
  return `import circle of ${circle.length} file${circle.length === 1 ? '' : 's'}: ${text}`;
}

// ---- rule b: the direction between top-level folders ---------------------------------------

/** The file's top-level folder, or 'top' for a file at the top of the repository. */
export function areaOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? 'top' : file.slice(0, slash);
}

/**
 * What each folder may import: only `only` when given, else anything but `not`. A folder not
 * named may import anything but test/.
 */
interface Direction {
  only?: readonly string[];
  not?: readonly string[];
  rule: string;
}
const DIRECTIONS: Record<string, Direction> = {
  lib: {
    not: ['updater', 'harness', 'images', 'suites', 'bench', 'test'],
    rule: 'lib/ is the bottom: it must not import updater/, harness/, images/, suites/, bench/ or test/',
  },
  updater: {
    only: ['lib', 'updater'],
    rule: 'updater/ is bundled for the device: it may import only lib/ and updater/',
  },
  images: {
    not: ['harness', 'suites', 'bench', 'test'],
    rule: 'images/ must not import harness/, suites/, bench/ or test/',
  },
  harness: { not: ['suites', 'bench', 'test'], rule: 'harness/ must not import suites/, bench/ or test/' },
  test: { not: [], rule: '' },
};
const ONLY_TEST_IMPORTS_TEST: Direction = { not: ['test'], rule: 'only test/ may import test/' };

function directionAllows(from: string, to: string): { ok: boolean; rule: string } {
  const d = DIRECTIONS[from] ?? ONLY_TEST_IMPORTS_TEST;
  const ok = d.only ? d.only.includes(to) : !(d.not ?? []).includes(to);
  return { ok, rule: d.rule };
}

function areaLabel(area: string): string {
  return area === 'top' ? 'top level' : `${area}/`;
}

// ---- rule c: harness layers ----------------------------------------------------------------

interface HarnessGroup {
  layer: number;
  entry: string;
  name: string;
}

export function harnessGroup(file: string, layers: LayerTable): HarnessGroup | undefined {
  for (const [layer, entries] of layers.entries()) {
    for (const entry of entries) {
      if (file === entry || file.startsWith(`${entry}/`)) {
        return { layer, entry, name: path.posix.basename(entry).replace(/\.[^.]+$/, '') };
      }
    }
  }
  return undefined;
}

/** The table entry a harness file outside the table would need: its folder under harness/, or itself. */
function harnessFolder(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
}

// ---- all rules -----------------------------------------------------------------------------

export interface CheckOptions {
  layers: LayerTable;
  /** Where the table lives, for the message that asks to add a folder to it. */
  tableName?: string;
}

/** Every violation, one line each: circles, folder directions, harness files outside the table, layers, unresolved imports. */
export function checkGraph(graph: ImportGraph, options: CheckOptions): Violation[] {
  const violations: Violation[] = [];
  for (const tangle of findCircles(graph)) {
    if (tangle.circles.length > 1) {
      violations.push({
        kind: 'circle',
        message: `import circles among ${tangle.files.length} files (${tangle.circles.length} circles below): ${tangle.files.join(', ')}`,
      });
    }
    for (const circle of tangle.circles) violations.push({ kind: 'circle', message: describeCircle(circle) });
  }

  for (const e of graph.edges) {
    const from = areaOf(e.from);
    const to = areaOf(e.to);
    const { ok, rule } = directionAllows(from, to);
    if (!ok) {
      violations.push({
        kind: 'direction',
        message: `${e.from} (${areaLabel(from)}) imports ${e.to} (${areaLabel(to)}): ${rule}`,
      });
    }
  }

  const table = options.tableName ?? 'the layer table';
  const unlisted = new Map<string, string[]>();
  for (const file of graph.files) {
    if (areaOf(file) !== 'harness' || harnessGroup(file, options.layers)) continue;
    const folder = harnessFolder(file);
    unlisted.set(folder, [...(unlisted.get(folder) ?? []), file]);
  }
  for (const [folder, files] of [...unlisted].sort(([a], [b]) => compare(a, b))) {
    const what = folder.endsWith('.ts') || folder.endsWith('.mjs') ? 'file' : 'folder';
    const holds = what === 'folder' ? ` (${files.map((f) => path.posix.relative(folder, f)).join(', ')})` : '';
    violations.push({
      kind: 'unlisted',
      message: `${folder}${holds} is in no harness layer: add the ${what} to ${table} at the layer it belongs to`,
    });
  }

  for (const e of graph.edges) {
    if (areaOf(e.from) !== 'harness' || areaOf(e.to) !== 'harness') continue;
    const from = harnessGroup(e.from, options.layers);
    const to = harnessGroup(e.to, options.layers);
    if (!from || !to || from.entry === to.entry || to.layer < from.layer) continue;
    violations.push({
      kind: 'layer',
      message: `${e.from} (layer ${from.layer} ${from.name}) imports ${e.to} (layer ${to.layer} ${to.name})`,
    });
  }

  for (const u of graph.unresolved) {
    violations.push({
      kind: 'unresolved',
      message: `${u.from}:${u.line} imports ${JSON.stringify(u.specifier)}, which is no file of the repository`,
    });
  }
  return violations;
}

export function checkImports(
  sources: ReadonlyMap<string, string>,
  options: CheckOptions & { otherFiles?: Iterable<string> },
): Violation[] {
  return checkGraph(buildGraph(sources, options.otherFiles), options);
}

// ---- the repository ------------------------------------------------------------------------

function isReadFile(file: string): boolean {
  const area = areaOf(file);
  return isSource(file) && (area === 'top' || (SOURCE_FOLDERS as readonly string[]).includes(area));
}

/**
 * The repository's files, as repository-relative paths: those git tracks or does not ignore
 * (and that are still there), or, outside a git checkout, a walk of the source folders.
 */
export function listRepositoryFiles(root: string): string[] {
  let listed: string[];
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    listed = out.split('\0').filter((f) => f !== '');
  } catch {
    listed = walk(root);
  }
  return [...new Set(listed)].filter((f) => isRegularFile(path.join(root, f))).sort(compare);
}

function isRegularFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function walk(root: string): string[] {
  const out: string[] = readdirSync(root).filter((f) => isRegularFile(path.join(root, f)));
  const visit = (rel: string): void => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) visit(child);
      else out.push(child);
    }
  };
  for (const folder of SOURCE_FOLDERS) if (isDirectory(path.join(root, folder))) visit(folder);
  return out;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** The sources to read (path -> text) and every other file of the repository. */
export function readRepository(root: string): { sources: Map<string, string>; otherFiles: string[] } {
  const sources = new Map<string, string>();
  const otherFiles: string[] = [];
  for (const file of listRepositoryFiles(root)) {
    if (isReadFile(file)) sources.set(file, readFileSync(path.join(root, file), 'utf8'));
    else otherFiles.push(file);
  }
  return { sources, otherFiles };
}
