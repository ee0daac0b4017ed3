/**
 * The agent keeps the application the API names (updater/supervisor/application.ts), on the host
 * in a folder standing for the device's `/`, against a real backend and its two registries: an
 * image missing from the store is pulled by digest, checked, unpacked, named in `current` and
 * started; a corrupted registry falls back; an image whose code does not match its sha256 file
 * or whose labels name another release is refused with nothing left in the store.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend, type Backend } from '../harness/backend/index.ts';
import { writeImageLayout } from '../images/builder/hostapp.ts';
import { APP_FILES, APP_LABELS, appStartedPattern, DEMO_APP } from '../lib/contract/application.ts';
import { Agent } from '../updater/supervisor/agent.ts';
import { AgentApi } from '../updater/supervisor/api-client.ts';
import { installedRelease } from '../updater/supervisor/application.ts';
import { agentPathsUnder } from '../updater/supervisor/paths.ts';
import { hostAgentContext, registeredDevice } from './helpers/agent-context.ts';

const OS = { version: '2.101.0', supervisorVersion: '16.8.0', layout: 'a', deviceType: 'generic-amd64', arch: 'amd64' };
const CODE = 'console.log("the application");\n';

/** An application image layout: its code, sha256 file and release record, with the given labels. */
async function appImage(t: Test, o: { release: string; labels?: Record<string, string>; sha256Of?: string }) {
  // Its own folder: the test's fixture folder is the device's `/`.
  const dir = mkdtempSync(join(tmpdir(), 'huplab-app-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const content = join(dir, 'content');
  mkdirSync(content);
  writeFileSync(join(content, APP_FILES.code), CODE);
  const hex = createHash('sha256')
    .update(o.sha256Of ?? CODE)
    .digest('hex');
  writeFileSync(join(content, APP_FILES.codeSha256), `${hex}  ${APP_FILES.code}\n`);
  writeFileSync(join(content, APP_FILES.release), JSON.stringify({ ...DEMO_APP, release: o.release }));
  const image = await writeImageLayout({
    contentDir: content,
    outDir: join(dir, 'out'),
    epoch: 1_700_000_000,
    created: '2026-12-01T00:00:00Z',
    arch: 'amd64',
    labels: o.labels ?? { [APP_LABELS.appId]: String(DEMO_APP.appId), [APP_LABELS.release]: o.release },
    version: o.release,
    refName: `app-${o.release}`,
  });
  return { dir: join(dir, 'out'), digest: image.manifest.digest };
}

async function device(t: Test, backend: Backend) {
  const config = await registeredDevice(backend);
  const { uuid, deviceApiKey } = config;
  const root = t.testdir({
    etc: { 'huplab-release.json': JSON.stringify(OS) },
    mnt: { state: {}, data: { 'balena-supervisor': {} }, boot: {} },
  });
  const paths = agentPathsUnder(root);
  const { ctx, lines, spawned } = hostAgentContext(
    paths,
    OS.supervisorVersion,
    config,
    new AgentApi({ apiEndpoint: backend.urls.api, uuid, deviceApiKey }),
  );
  return { paths, lines, spawned, agent: new Agent(ctx) };
}

async function backendWith(t: Test, image: { dir: string; digest: string }, release: string) {
  const backend = await startBackend();
  t.teardown(() => backend.stop());
  await backend.publishApplication({ ...DEMO_APP, release, imageDir: image.dir, manifestDigest: image.digest });
  return backend;
}

const storeOf = (paths: { appStore: string }) => join(paths.appStore, String(DEMO_APP.appId));

t.test('an application missing from the store is pulled by digest, installed, named and started', async (t) => {
  const image = await appImage(t, { release: '1.0.0' });
  const backend = await backendWith(t, image, '1.0.0');
  const d = await device(t, backend);
  backend.clearLog('primary');
  await d.agent.beat();

  const dir = join(storeOf(d.paths), '1.0.0');
  t.equal(readFileSync(join(dir, APP_FILES.code), 'utf8'), CODE, 'the code, unpacked');
  t.equal(readFileSync(join(storeOf(d.paths), APP_FILES.current), 'utf8'), '1.0.0\n', 'current names it');
  t.equal(installedRelease(d.paths.appStore, DEMO_APP.appId), '1.0.0', 'intact');
  t.same(
    readdirSync(storeOf(d.paths)).filter((n) => n.startsWith('.')),
    [],
    'no partial folder or blob left',
  );
  t.same(d.spawned, [`${d.paths.appInitScript} stop; ${d.paths.appInitScript} start`], 'started by the init script');
  t.ok(
    d.lines.some((l) => l.startsWith(`application ${DEMO_APP.name} release 1.0.0: no image of it on this device`)),
    'the pull is said with its reason',
  );
  const started = d.lines.filter((l) => appStartedPattern(DEMO_APP.name).test(l));
  t.equal(started.length, 1, 'the start is said in the words the verdict looks for');
  t.match(started[0], `from ${backend.urls.primaryRegistry}`, 'naming the registry');
  // As the log file has it, each line after its time.
  t.match(`2026-12-05T10:00:00.000Z x\n2026-12-05T10:00:01.000Z ${started[0]}\n`, appStartedPattern(DEMO_APP.name));
  t.notMatch(started[0], appStartedPattern('other-app'), 'another application is not this one');
  const manifests = backend.log('primary').filter((e) => /\/manifests\//.test(e.path));
  t.ok(manifests.length > 0 && manifests.every((e) => e.path.includes(image.digest)), 'by digest only');

  await d.agent.beat();
  t.equal(d.spawned.length, 1, 'present: nothing more to do');

  // Its code changed on the device (a damaged card): not intact, so pulled again.
  writeFileSync(join(dir, APP_FILES.code), 'tampered');
  t.equal(installedRelease(d.paths.appStore, DEMO_APP.appId), undefined, 'a changed code is not intact');
  await d.agent.beat();
  t.equal(readFileSync(join(dir, APP_FILES.code), 'utf8'), CODE, 'pulled again');
  t.equal(d.spawned.length, 2);
});

t.test('a corrupted primary: the fallback serves it; both corrupted: nothing left, tried again', async (t) => {
  const image = await appImage(t, { release: '1.0.0' });
  const backend = await backendWith(t, image, '1.0.0');
  const d = await device(t, backend);
  backend.faults.set('primary', { kind: 'corrupt', offset: 10, path: /\/blobs\// });
  await d.agent.beat();
  t.equal(installedRelease(d.paths.appStore, DEMO_APP.appId), '1.0.0', 'from the fallback');

  const e = await device(t, backend);
  backend.faults.set('fallback', { kind: 'corrupt', offset: 10, path: /\/blobs\// });
  await e.agent.beat();
  t.equal(installedRelease(e.paths.appStore, DEMO_APP.appId), undefined, 'not installed');
  t.same(readdirSync(storeOf(e.paths)), [], 'no partial folder, no blob, no current');
  t.same(e.spawned, [], 'nothing started');
  t.ok(
    e.lines.some((l) => /fetching the application.*cannot install application demo-app release 1\.0\.0/.test(l)),
    'the failure is said, naming the application',
  );
  backend.faults.clear();
  await e.agent.beat();
  t.equal(installedRelease(e.paths.appStore, DEMO_APP.appId), '1.0.0', 'the next beat installs it');
});

t.test('an image whose code does not match its sha256, or whose label names another release, is refused', async (t) => {
  for (const [what, image, pattern] of [
    ['code', await appImage(t, { release: '1.0.0', sha256Of: 'other' }), /does not match its app\.mjs\.sha256/],
    [
      'label',
      await appImage(t, {
        release: '1.0.0',
        labels: { [APP_LABELS.appId]: String(DEMO_APP.appId), [APP_LABELS.release]: '0.9.0' },
      }),
      /io\.balena\.app-release label is "0\.9\.0", not "1\.0\.0"/,
    ],
  ] as const) {
    const backend = await startBackend();
    t.teardown(() => backend.stop());
    // Published as the API would be told it: the labels are the registry's to serve as they are.
    backend.api.setApplication({
      ...DEMO_APP,
      release: '1.0.0',
      image: { repository: 'huplab/app-demo-app', manifestDigest: image.digest },
    });
    for (const registry of [backend.primary, backend.fallback])
      await registry.addHostapp({
        repository: 'huplab/app-demo-app',
        tag: '1.0.0',
        layoutDir: image.dir,
        manifestDigest: image.digest,
      });
    const d = await device(t, backend);
    await d.agent.beat();
    t.equal(installedRelease(d.paths.appStore, DEMO_APP.appId), undefined, `${what}: not installed`);
    t.same(readdirSync(storeOf(d.paths)), [], `${what}: nothing left in the store`);
    t.ok(
      d.lines.some((l) => pattern.test(l)),
      `${what}: the reason is said`,
    );
  }
});

t.test('the backend refuses to publish an image whose labels are not the release', async (t) => {
  const image = await appImage(t, { release: '2.0.0' });
  const backend = await startBackend();
  t.teardown(() => backend.stop());
  await t.rejects(
    backend.publishApplication({ ...DEMO_APP, release: '1.0.0', imageDir: image.dir, manifestDigest: image.digest }),
    /io\.balena\.app-release label is "2\.0\.0", not "1\.0\.0"/,
  );
  const d = await device(t, backend);
  await d.agent.beat();
  t.same(d.spawned, [], 'no application named: nothing done');
  mkdirSync(d.paths.appStore, { recursive: true });
  t.same(readdirSync(d.paths.appStore), [], 'the store untouched');
});
