import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Backend, startBackend, type ReleaseRecord } from '../harness/backend/index.ts';

/** fetch with the lab operator token, as the harness's own calls. */
const asOperator =
  (backend: Backend): typeof fetch =>
  (input, init = {}) =>
    globalThis.fetch(input, {
      ...init,
      headers: { ...backend.operatorHeaders(), ...(init.headers as Record<string, string>) },
    });

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const rec = (deviceType: string, version: string, layout: string, arch: string): ReleaseRecord => ({
  deviceType,
  version,
  layout,
  arch,
  supervisorVersion: '16.7.1',
  hostapp: { repository: `huplab/${deviceType}`, tag: version, manifestDigest: `sha256:${'0'.repeat(64)}` },
});

async function backendWithLines(t: Test) {
  const dir = t.testdir({});
  const tool = join(dir, 'cfi-flash-arm64');
  writeFileSync(tool, 'ELF pretend');
  const backend = await startBackend({ takeoverTools: { 'cfi-flash-arm64': tool } });
  t.teardown(() => backend.stop());
  for (const [v, layout] of [
    ['2.113.0', 'jetson-l4t32'],
    ['2.114.0', 'jetson-l4t32'],
    ['5.1.0', 'jetson-l4t35'],
  ] as const)
    backend.api.addRelease(rec('jetson-xavier', v, layout, 'arm64'));
  backend.api.addRelease(rec('raspberrypi3', '2.101.0', 'balena-ab-v1', 'armhf'));
  backend.api.addRelease(rec('raspberrypi3-64', '2.102.0', 'balena-ab-v1', 'arm64'));
  const image = join(dir, 'disk.img.gz');
  writeFileSync(image, 'gzip pretend');
  const info = await backend.api.addOsImage({
    deviceType: 'jetson-xavier',
    version: '5.1.0',
    file: image,
    compression: 'gzip',
    raw: { sha256: 'ab'.repeat(32), size: 1 << 20 },
  });
  return { backend, info, tool };
}

/** The operator headers of the backend the current test started. */
let operator: Record<string, string> = {};
const method = async (api: string, q: Record<string, string>) => {
  const r = await globalThis.fetch(`${api}/v1/update-method?${new URLSearchParams(q)}`, { headers: operator });
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body, probed field by field by the assertions
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

t.test('the API says which method an update takes before it runs, never the user', async (t) => {
  const { backend, info } = await backendWithLines(t);
  operator = backend.operatorHeaders();
  const api = backend.urls.api;
  const std = await method(api, { deviceType: 'jetson-xavier', from: '2.113.0', to: '2.114.0' });
  t.equal(std.status, 200);
  t.equal(std.body.method, 'standard', 'within the JetPack 4 line: standard');
  const adv = await method(api, { deviceType: 'jetson-xavier', from: '2.113.0', to: '5.1.0' });
  t.equal(adv.body.method, 'advanced', 'JetPack 4 -> 5: advanced');
  t.match(adv.body.reason, /jetson-l4t32.*jetson-l4t35.*standard path cannot make/);
  t.same(adv.body.target.image, info, 'the target carries its raw image: digest of the download and of the disk');
  t.equal(info.sha256, hex('gzip pretend'));
  const back = await method(api, { deviceType: 'jetson-xavier', from: '5.1.0', to: '2.114.0' });
  t.equal(back.body.method, 'refused');
  t.match(back.body.reason, /no way back/);
  const pi = await method(api, {
    deviceType: 'raspberrypi3',
    from: '2.101.0',
    to: '2.102.0',
    toDeviceType: 'raspberrypi3-64',
  });
  t.equal(pi.body.method, 'advanced', 'Pi 3 32 -> 64-bit: advanced');
  t.match(pi.body.reason, /armhf.*arm64/);
  const unknown = await method(api, { deviceType: 'jetson-xavier', from: '2.113.0', to: '9.9.9' });
  t.equal(unknown.status, 404);
  t.match(
    unknown.body.error,
    /9\.9\.9 is not published for jetson-xavier \(published: 2\.113\.0, 2\.114\.0, 5\.1\.0\)/,
  );
  const missing = await method(api, { deviceType: 'jetson-xavier', to: '5.1.0' });
  t.equal(missing.status, 400);
  t.match(missing.body.error, /from=<running version>/);
});

t.test('takeover tools are listed with their digests and served; stage 2 may report progress by POST', async (t) => {
  const { backend, tool } = await backendWithLines(t);
  const fetch = asOperator(backend);
  const api = backend.urls.api;
  const list = (await (await fetch(`${api}/v1/takeover`)).json()) as {
    tools: Array<{ name: string; sha256: string; size: number }>;
  };
  t.same(list.tools, [{ name: 'cfi-flash-arm64', size: 11, sha256: hex('ELF pretend') }]);
  const got = await fetch(`${api}/v1/takeover/cfi-flash-arm64`);
  t.equal(await got.text(), 'ELF pretend');
  t.equal(got.headers.get('x-content-sha256'), hex('ELF pretend'));
  const none = await fetch(`${api}/v1/takeover/cfi-flash-armhf`);
  t.equal(none.status, 404);
  t.match(
    ((await none.json()) as { error: string }).error,
    /no takeover tool cfi-flash-armhf on this backend \(has: cfi-flash-arm64\)/,
  );
  const post = await fetch(`${api}/v1/devices/abc123/progress`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ percent: 60, message: 'Flashing the new OS', status: 'updating' }),
  });
  t.equal(post.status, 200);
  t.equal(backend.api.device('abc123')?.message, 'Flashing the new OS');
  const put = await fetch(`${api}/v1/devices/abc123/progress`, { method: 'PUT', body: '{}' });
  t.equal(put.status, 405, 'other methods still refused');
  t.equal(tool.length > 0, true);
});
