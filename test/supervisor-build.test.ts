/**
 * The supervisor image's identity in the build cache (images/builder/cache-key.ts supervisorKey,
 * SUPERVISOR_SOURCES) and the cache entry's check (images/builder/supervisor-build.ts): the key
 * changes with every input and only with them, the sources it hashes cover everything the bundle
 * is made of, and a damaged entry is rebuilt to the same digest, never used.
 */
import t from 'tap';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { buildSupervisor, supervisorToolVersions } from '../images/builder/supervisor-build.ts';
import { SUPERVISOR_SOURCES, supervisorKey } from '../images/builder/cache-key.ts';
import { loadSupervisorRelease } from '../images/supervisor-recipe.ts';
import type { Narrator } from '../lib/narrator.ts';
import { repoRoot } from '../lib/paths.ts';
import { SUPERVISOR_ENTRY } from '../updater/bundle.ts';

t.test('the key changes with each input and with nothing else', async (t) => {
  const recipe = await loadSupervisorRelease('16.9.0');
  const base = { recipe, arch: 'amd64', source: 'a'.repeat(64), tools: { esbuild: '0.28.2', tar: 'tar 1.35' } };
  const key = supervisorKey(base);
  t.match(key, /^[0-9a-f]{64}$/);
  t.equal(supervisorKey(structuredClone(base)), key, 'same inputs, same key');
  t.equal(
    supervisorKey({ ...base, recipe: Object.fromEntries(Object.entries(recipe).reverse()) as typeof recipe }),
    key,
    'field order does not matter',
  );
  const changed: Array<[string, Parameters<typeof supervisorKey>[0]]> = [
    ['arch', { ...base, arch: 'arm64' }],
    ['version', { ...base, recipe: { ...recipe, version: '16.9.1' } }],
    ['changelog', { ...base, recipe: { ...recipe, notes: 'other' } }],
    ['min OS', { ...base, recipe: { ...recipe, minOsVersion: '2.13.0' } }],
    ['node target', { ...base, recipe: { ...recipe, nodeTarget: 'node22' } }],
    ['source', { ...base, source: 'b'.repeat(64) }],
    ['tools', { ...base, tools: { ...base.tools, esbuild: '0.29.0' } }],
  ];
  const keys = new Set([key]);
  for (const [what, inputs] of changed) {
    const k = supervisorKey(inputs);
    t.not(k, key, `a new ${what} is a new entry`);
    keys.add(k);
  }
  t.equal(keys.size, changed.length + 1, 'all different');
  const tools = await supervisorToolVersions();
  t.match(tools, { esbuild: /^\d+\.\d+\.\d+$/, tar: /tar/, zlib: /\d/ }, 'the tools that shape the bytes are named');
});

t.test('the hashed sources cover every file the bundle is made of', async (t) => {
  const result = await build({
    entryPoints: [join(repoRoot, SUPERVISOR_ENTRY)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(repoRoot, join(process.cwd(), p)));
  t.ok(inputs.includes(SUPERVISOR_ENTRY), 'the agent is an input');
  t.ok(inputs.length > 1, 'and what it imports');
  for (const input of inputs) {
    const covered = SUPERVISOR_SOURCES.some((root) => input === root || input.startsWith(`${root}/`));
    t.ok(covered, `${input} is in SUPERVISOR_SOURCES`);
  }
  for (const f of ['images/builder/supervisor-build.ts', 'images/builder/hostapp.ts', 'updater/bundle.ts'])
    t.ok(SUPERVISOR_SOURCES.includes(f), `${f}, which shapes the bytes, is hashed`);
});

t.test('a damaged entry is rebuilt to the same digest, never used', async (t) => {
  const prev = process.env.HUPLAB_CACHE;
  process.env.HUPLAB_CACHE = t.testdir();
  t.teardown(() => {
    if (prev === undefined) delete process.env.HUPLAB_CACHE;
    else process.env.HUPLAB_CACHE = prev;
  });
  const lines: string[] = [];
  const narrator: Narrator = { step: (_title, fn) => fn(), info: (l) => void lines.push(l) };
  const recipe = await loadSupervisorRelease('16.9.0');
  const first = await buildSupervisor(recipe, 'amd64', narrator);
  t.equal(first.cached, false);
  const hit = await buildSupervisor(recipe, 'amd64', narrator);
  t.equal(hit.cached, true, 'an intact entry is a hit');
  t.equal(hit.image.manifest.digest, first.image.manifest.digest);
  t.same(lines, [], 'nothing to say about it');

  const blobs = join(first.image.dir, 'blobs', 'sha256');
  const layer = join(blobs, first.image.layer.digest.slice(7));
  writeFileSync(layer, 'not the layer');
  const again = await buildSupervisor(recipe, 'amd64', narrator);
  t.equal(again.cached, false, 'rebuilt');
  t.equal(again.image.manifest.digest, first.image.manifest.digest, 'to the same digest');
  t.match(lines, [
    /^cache: supervisor 16\.9\.0 for amd64 \(supervisors\/[0-9a-f]{12}….*\) is damaged \(oci\/blobs\/sha256\/[0-9a-f]+ is \d+ bytes, recorded \d+\); rebuilding$/,
  ]);
  t.ok(readdirSync(blobs).includes(first.image.layer.digest.slice(7)), 'the layer is back');

  const other = await buildSupervisor(recipe, 'arm64', narrator);
  t.not(other.key, first.key, 'another arch is another entry');
  t.not(other.image.manifest.digest, first.image.manifest.digest, 'and another image');
});
