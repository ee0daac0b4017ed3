/**
 * The application as an image (images/builder/app-build.ts, app-preload.ts) and its init script
 * (S80demo-app): the image is reproducible and carries the labels and files the supervisor
 * checks; the preload writes the store a device starts it from; the init script starts only code
 * that matches its sha256 file and otherwise says that the supervisor fetches it.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_APP_RECIPE } from '../images/app-recipe.ts';
import { buildAppImage } from '../images/builder/app-build.ts';
import { preloadApplication } from '../images/builder/app-preload.ts';
import { APP_FILES, APP_LABELS, APP_NO_IMAGE, APP_STORE, DEMO_APP } from '../lib/contract/application.ts';
import { readImageLayout } from '../lib/oci/layout.ts';
import { repoRoot } from '../lib/paths.ts';
import { installedRelease } from '../updater/supervisor/application.ts';

t.test('the image is reproducible, labelled, and holds the code, its sha256 and the release', async (t) => {
  const caches = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'huplab-app-cache-')));
  t.teardown(() => {
    for (const c of caches) rmSync(c, { recursive: true, force: true });
  });
  const prev = process.env.HUPLAB_CACHE;
  t.teardown(() => {
    if (prev === undefined) delete process.env.HUPLAB_CACHE;
    else process.env.HUPLAB_CACHE = prev;
  });
  const builds = [];
  for (const c of caches) {
    process.env.HUPLAB_CACHE = c;
    builds.push(await buildAppImage('armhf'));
  }
  const [a, b] = builds as [Awaited<ReturnType<typeof buildAppImage>>, Awaited<ReturnType<typeof buildAppImage>>];
  t.equal(a.image.manifest.digest, b.image.manifest.digest, 'two caches, one digest');
  t.equal(a.release, DEMO_APP_RECIPE.release);
  t.equal((await buildAppImage('armhf')).cached, true, 'the second build in one cache is a checked hit');
  t.not((await buildAppImage('amd64')).image.manifest.digest, a.image.manifest.digest, 'each arch its own image');

  const layout = await readImageLayout({
    layoutDir: a.image.dir,
    manifestTypes: ['application/vnd.oci.image.manifest.v1+json'],
    manifestDigest: a.image.manifest.digest,
    what: 'app',
  });
  const config = JSON.parse(readFileSync(layout.blobPath(layout.config.digest), 'utf8')) as {
    architecture: string;
    config: { Labels: Record<string, string> };
  };
  t.equal(config.architecture, 'arm', "the device's architecture, in OCI's words");
  t.match(config.config.Labels, {
    [APP_LABELS.appId]: String(DEMO_APP.appId),
    [APP_LABELS.release]: DEMO_APP_RECIPE.release,
  });
  const files = spawnSync('tar', ['-tzf', layout.blobPath(layout.layers[0]!.digest)], { encoding: 'utf8' }).stdout;
  for (const f of [APP_FILES.code, APP_FILES.codeSha256, APP_FILES.release]) t.match(files, f, `the layer has ${f}`);
});

/** The init script with its paths under `root` and `service` faked: what it started, what it said. */
function initScript(root: string, action = 'start'): { started: string; said: string } {
  const script = readFileSync(join(repoRoot, 'images/device-files/rootfs/etc/rc.d/S80demo-app'), 'utf8')
    .replaceAll('/mnt/', `${root}/mnt/`)
    .replaceAll('/dev/console', `${root}/console`);
  writeFileSync(join(root, 'S80'), script);
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin', 'service'), `#!/bin/sh\necho "$@" > "${root}/service.args"\n`);
  chmodSync(join(root, 'bin', 'service'), 0o755);
  writeFileSync(join(root, 'console'), '');
  rmSync(join(root, 'service.args'), { force: true });
  const r = spawnSync('sh', [join(root, 'S80'), action], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${root}/bin:${process.env.PATH}` },
  });
  if (r.status !== 0) throw new Error(`S80 ${action} exited ${r.status}: ${r.stderr}`);
  let started = '';
  try {
    started = readFileSync(join(root, 'service.args'), 'utf8').trim();
  } catch {}
  return { started, said: `${readFileSync(join(root, 'console'), 'utf8')}${r.stderr}`.trim() };
}

t.test('the preload is what the init script starts; a missing or changed image is not started', async (t) => {
  const root = t.testdir({ mnt: { data: {} } });
  t.same(initScript(root), { started: '', said: APP_NO_IMAGE }, 'no store: said, nothing started');

  await preloadApplication(join(root, 'mnt/data'));
  const store = join(root, APP_STORE.slice(1));
  t.equal(installedRelease(store, DEMO_APP.appId), DEMO_APP_RECIPE.release, 'intact, as the supervisor judges it');
  const dir = join(store, String(DEMO_APP.appId), DEMO_APP_RECIPE.release);
  t.equal(
    spawnSync('sha256sum', ['-c', APP_FILES.codeSha256], { cwd: dir, encoding: 'utf8' }).status,
    0,
    'sha256sum agrees',
  );
  t.same(
    initScript(root),
    { started: `start demo-app /usr/bin/node ${dir}/app.mjs`, said: '' },
    'started from the store',
  );
  t.same(initScript(root, 'stop').started, 'stop demo-app');

  writeFileSync(join(dir, APP_FILES.code), '// changed\n');
  t.same(initScript(root), { started: '', said: APP_NO_IMAGE }, 'changed code: not started');
  rmSync(join(store, String(DEMO_APP.appId)), { recursive: true });
  t.same(initScript(root), { started: '', said: APP_NO_IMAGE }, 'removed (the migration): not started');
});
