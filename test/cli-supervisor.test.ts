/**
 * `huplab images build --supervisor VERSION [--arch A]` and `huplab images list`: the command
 * line is checked before anything is built (checkBuildTarget), each mistake one line; the list
 * names the supervisor releases beside the OS releases.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, checkBuildTarget } from '../harness/cli/images-command.ts';
import { isHuplabError } from '../lib/errors.ts';

const bin = join(import.meta.dirname, '..', 'bin', 'huplab');

async function refusal(o: BuildOptions): Promise<string> {
  const err = await checkBuildTarget(o).catch((e: unknown) => e);
  if (!isHuplabError(err)) throw new Error(`not refused: ${JSON.stringify(o)}`);
  return err.oneLine();
}

t.test('what is built: a supervisor for its arches or one, else an OS image', async (t) => {
  const all = await checkBuildTarget({ supervisor: '16.9.0' });
  t.equal(all.kind, 'supervisor');
  if (all.kind === 'supervisor') t.same(all.arches, ['amd64', 'arm64', 'armhf'], 'every arch of its recipe');
  const one = await checkBuildTarget({ supervisor: '17.0.0', arch: 'armhf' });
  t.match(one, { kind: 'supervisor', recipe: { version: '17.0.0' }, arches: ['armhf'] });
  t.same(await checkBuildTarget({ device: 'generic-amd64', release: '2.101.0' }), {
    kind: 'os',
    device: 'generic-amd64',
    release: '2.101.0',
  });
});

t.test('mistakes are refused in one line before anything is built', async (t) => {
  const cases: Array<[BuildOptions, RegExp]> = [
    [
      { supervisor: '9.9.9' },
      /unknown supervisor release "9\.9\.9" \(known supervisor releases: 16\.8\.0, 16\.9\.0, 17\.0\.0;/,
    ],
    [{ supervisor: '' }, /"" is not a supervisor version/],
    [
      { supervisor: '16.9.0', arch: 'riscv64' },
      /--arch "riscv64" is not a CPU architecture \(use one of: amd64, arm64, armhf\)/,
    ],
    [{ supervisor: '16.9.0', device: 'generic-amd64' }, /--supervisor and --device do not go together/],
    [{ supervisor: '16.9.0', release: '2.101.0' }, /--supervisor and --release do not go together/],
    [{ supervisor: '16.9.0', variant: 'production' }, /--supervisor and --variant do not go together/],
    [{ arch: 'amd64', device: 'generic-amd64', release: '2.101.0' }, /--arch goes with --supervisor/],
    [{ release: '2.101.0' }, /required option '--device <profile>' not specified/],
    [{ device: 'generic-amd64' }, /required option '--release <version>' not specified/],
  ];
  for (const [o, re] of cases) {
    const line = await refusal(o);
    t.match(line, re, JSON.stringify(o));
    t.notMatch(line, /\n/);
  }
});

t.test('an arch the recipe does not name is refused, naming its arches', async (t) => {
  const dir = t.testdir({
    '16.9.9.json': JSON.stringify({
      version: '16.9.9',
      date: '2026-11-02T00:00:00Z',
      minOsVersion: '2.12.0',
      arches: ['amd64'],
      nodeTarget: 'node20',
      notes: 'amd64 only\n',
    }),
  });
  const r = spawnSync(bin, ['images', 'build', '--supervisor', '16.9.9', '--arch', 'arm64', '--json'], {
    env: { ...process.env, HUPLAB_SUPERVISOR_RELEASES: dir, HUPLAB_CACHE: join(dir, 'cache'), HUPLAB_QUIET: '1' },
    encoding: 'utf8',
  });
  t.equal(r.status, 1);
  const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
  t.equal(doc.ok, false);
  t.equal(doc.error.code, 'supervisor-arch-unknown');
  t.match(doc.error.message, /supervisor 16\.9\.9 is not built for arm64/);
  t.notOk(existsSync(join(dir, 'cache', 'supervisors')), 'nothing was built');
  const text = spawnSync(bin, ['images', 'build', '--supervisor', '16.9.9', '--arch', 'arm64'], {
    env: { ...process.env, HUPLAB_SUPERVISOR_RELEASES: dir, HUPLAB_CACHE: join(dir, 'cache'), HUPLAB_QUIET: '1' },
    encoding: 'utf8',
  });
  t.same(text.stderr.trim().split('\n'), [
    'huplab: error: supervisor 16.9.9 is not built for arm64 (its arches: amd64)',
  ]);
  t.same(readdirSync(dir), ['16.9.9.json'], 'no cache folder either');
});

t.test('images list names the supervisor releases beside the OS releases', async (t) => {
  const r = spawnSync(bin, ['images', 'list', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, HUPLAB_QUIET: '1' },
  });
  t.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    ok: boolean;
    releases: Array<{ version: string }>;
    supervisors: Array<{ version: string; arches: string[]; minOsVersion: string }>;
  };
  t.ok(doc.ok);
  t.ok(
    doc.releases.some((x) => x.version === '2.101.0'),
    'the OS releases are still there',
  );
  t.same(
    doc.supervisors.map((s) => s.version),
    ['16.8.0', '16.9.0', '17.0.0'],
  );
  t.same(doc.supervisors[2], {
    version: '17.0.0',
    arches: ['amd64', 'arm64', 'armhf'],
    minOsVersion: '2.12.0',
    date: '2026-11-23T00:00:00Z',
  });
  const text = spawnSync(bin, ['images', 'list'], { encoding: 'utf8', env: { ...process.env, HUPLAB_QUIET: '1' } });
  t.match(text.stdout, /supervisor releases:\n {2}16\.8\.0 +amd64, arm64, armhf +OS 2\.12\.0 or newer\n/);
});

t.test('images build --supervisor --arch builds one image, then finds it in the cache', async (t) => {
  const cache = t.testdir();
  const build = () =>
    spawnSync(bin, ['images', 'build', '--supervisor', '16.9.0', '--arch', 'amd64', '--json'], {
      env: { ...process.env, HUPLAB_CACHE: cache, HUPLAB_QUIET: '1' },
      encoding: 'utf8',
    });
  const first = build();
  t.equal(first.status, 0, first.stderr);
  const doc = JSON.parse(first.stdout) as {
    ok: boolean;
    supervisor: string;
    minOsVersion: string;
    images: Array<{ arch: string; repository: string; dir: string; manifest: string; cached: boolean }>;
  };
  t.match(doc, { ok: true, supervisor: '16.9.0', minOsVersion: '2.12.0' });
  t.equal(doc.images.length, 1, 'only the arch asked for');
  t.match(doc.images[0], {
    arch: 'amd64',
    repository: 'huplab/supervisor-amd64',
    manifest: /^sha256:[0-9a-f]{64}$/,
    cached: false,
  });
  t.ok(doc.images[0]!.dir.startsWith(join(cache, 'supervisors')), 'in the build cache');
  t.ok(existsSync(join(doc.images[0]!.dir, 'index.json')), 'an OCI image layout');
  const second = JSON.parse(build().stdout) as typeof doc;
  t.match(second.images[0], { manifest: doc.images[0]!.manifest, cached: true }, 'the same image, from the cache');
});
