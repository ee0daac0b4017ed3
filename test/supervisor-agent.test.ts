/**
 * The supervisor agent (updater/supervisor/) on the host, in a folder standing for the device's
 * `/`: its upgrade pulls a real built supervisor image from the real backend's registry and
 * installs code, sha256 and choice; a corrupted blob keeps the old choice and leaves nothing
 * behind; the attempts are judged and never retried for the same target; the OS update asks the
 * API and starts the updater it names; the launcher (S70balena-supervisor) runs the state
 * partition's choice only when its code matches its sha256 file.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend, type Backend } from '../harness/backend/index.ts';
import { buildSupervisor } from '../images/builder/supervisor-build.ts';
import { loadSupervisorRelease } from '../images/supervisor-recipe.ts';
import { AGENT_STATUS, type AgentState, type DeviceTarget } from '../lib/contract/fleet.ts';
import { STATE_FILES } from '../lib/contract/state-files.ts';
import {
  parseSupervisorChecksum,
  parseSupervisorRunState,
  SUPERVISOR_CODE_SHA256_FILE,
  supervisorConf,
} from '../lib/contract/supervisor.ts';
import { repoRoot } from '../lib/paths.ts';
import { readOsInfo, type DeviceConfig } from '../updater/common/config.ts';
import { installSupervisorCode, writeSupervisorChoice } from '../updater/common/supervisor-install.ts';
import { Agent, agentStatus, REBOOT_WAIT_MS } from '../updater/supervisor/agent.ts';
import { AgentApi } from '../updater/supervisor/api-client.ts';
import { readAttempts, recordAttempt, shouldAttempt, writeAttempts } from '../updater/supervisor/attempts.ts';
import type { AgentContext } from '../updater/supervisor/context.ts';
import { RateLimitedFailure } from '../updater/supervisor/log.ts';
import { AGENT_ROOT_ENV, agentPathsUnder, type AgentPaths } from '../updater/supervisor/paths.ts';
import { hostAgentContext, registeredDevice } from './helpers/agent-context.ts';
import { bundleForDevice, SUPERVISOR_ENTRY } from '../updater/bundle.ts';

const OS = { version: '2.101.0', supervisorVersion: '16.8.0', layout: 'a', deviceType: 'generic-amd64', arch: 'amd64' };

/** A device's `/` in a test folder: its release file, state and data partitions. */
function deviceRoot(t: Test, os: Partial<typeof OS> = {}): { root: string; paths: AgentPaths } {
  const root = t.testdir({
    etc: { 'huplab-release.json': JSON.stringify({ ...OS, ...os }) },
    mnt: { state: {}, data: { 'balena-supervisor': {} }, boot: {} },
  });
  return { root, paths: agentPathsUnder(root) };
}

/** The agent's API with its target given by the test (the server half of /target may not exist yet). */
/** The real client and API, with the target the test gives (the heartbeat is still reported). */
class TestApi extends AgentApi {
  next: DeviceTarget | undefined;
  override async heartbeat(state: AgentState): Promise<DeviceTarget | undefined> {
    await super.heartbeat(state);
    return this.next;
  }
  override async target(): Promise<DeviceTarget | undefined> {
    return this.next;
  }
}

interface Harness {
  ctx: AgentContext;
  api: TestApi;
  lines: string[];
  spawned: string[];
}

function context(paths: AgentPaths, version: string, config: DeviceConfig, api: TestApi): Harness {
  return { ...hostAgentContext(paths, version, config, api), api };
}

// Its own folder, not the file's fixture: two runs of this file at once must not share it.
const cacheRoot = mkdtempSync(join(tmpdir(), 'huplab-agent-test-'));
let backendP: Promise<{ backend: Backend; digest: string }> | undefined;
/** One backend for the file, with supervisor 16.9.0 for amd64 built (in a fresh cache) and published. */
function backendWith169(_t: Test): Promise<{ backend: Backend; digest: string }> {
  backendP ??= (async () => {
    const prev = process.env.HUPLAB_CACHE;
    // The file's own folder (a subtest's is removed when it ends): the image is served from it.
    process.env.HUPLAB_CACHE = cacheRoot;
    try {
      const build = await buildSupervisor(await loadSupervisorRelease('16.9.0'), 'amd64');
      const backend = await startBackend();
      await backend.publishSupervisor({
        version: '16.9.0',
        arch: 'amd64',
        imageDir: build.image.dir,
        manifestDigest: build.image.manifest.digest,
      });
      return { backend, digest: build.image.manifest.digest };
    } finally {
      if (prev === undefined) delete process.env.HUPLAB_CACHE;
      else process.env.HUPLAB_CACHE = prev;
    }
  })();
  return backendP;
}
t.teardown(async () => {
  if (backendP) await (await backendP).backend.stop();
  rmSync(cacheRoot, { recursive: true, force: true });
});

async function deviceRecord(backend: Backend, uuid: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${backend.urls.api}/v1/devices/${uuid}`, { headers: backend.operatorHeaders() });
  return (await r.json()) as Record<string, unknown>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The agent as supervisor 16.8.0 on a device registered with a real backend that publishes
 * 16.9.0; `choice` writes the state partition's choice of 16.8.0 first.
 */
async function agentOn169(t: Test, o: { os?: Partial<typeof OS>; choice?: boolean } = {}) {
  const { backend } = await backendWith169(t);
  const config = await registeredDevice(backend);
  const { paths } = deviceRoot(t, o.os);
  if (o.choice) writeSupervisorChoice(paths.choice, '16.8.0');
  const api = new TestApi(config as Required<Pick<DeviceConfig, 'apiEndpoint' | 'uuid' | 'deviceApiKey'>>);
  return { backend, config, paths, api, h: context(paths, '16.8.0', config, api) };
}

t.test('a supervisor target: pulled by digest, installed with its sha256, chosen, restarted', async (t) => {
  const { backend, config, paths, api, h } = await agentOn169(t, { choice: true });
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:00:00Z' };
  backend.clearLog('primary');
  await new Agent(h.ctx).beat();

  const dir = join(paths.agentDir, '16.9.0');
  const code = readFileSync(join(dir, 'supervisor.mjs'));
  t.match(code.toString('utf8'), /16\.9\.0/, 'the release bundle, its version baked in');
  t.equal(parseSupervisorChecksum(readFileSync(join(dir, SUPERVISOR_CODE_SHA256_FILE), 'utf8')), sha256(code));
  t.ok(existsSync(join(dir, 'supervisor-release.json')), 'the whole layer is unpacked');
  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.9.0'), 'the choice names it');
  t.same(
    readdirSync(paths.agentDir).filter((n) => n.startsWith('.')),
    [],
    'no partial folder or blob left',
  );
  t.match(readAttempts(paths.attempts).supervisor, {
    kind: 'supervisor',
    version: '16.9.0',
    targetSetAt: '2026-12-04T09:00:00Z',
    outcome: 'started',
  });
  t.same(h.spawned, [`sleep 1; ${paths.initScript} stop; ${paths.initScript} start`], 'the service is restarted');
  const manifestReqs = backend.log('primary').filter((e) => /\/manifests\//.test(e.path));
  t.ok(manifestReqs.length > 0 && manifestReqs.every((e) => /\/manifests\/sha256:/.test(e.path)), 'by digest only');
  const rec = await deviceRecord(backend, config.uuid);
  t.match(rec, { device: { supervisorVersion: '16.8.0', status: AGENT_STATUS.updatingSupervisor } });

  // The restarted supervisor is the new version: it judges the attempt done, and stays idle.
  const next = context(paths, '16.9.0', config, api);
  await new Agent(next.ctx).beat();
  t.match(readAttempts(paths.attempts).supervisor, { outcome: 'done', version: '16.9.0' });
  t.same(next.spawned, [], 'nothing more to do');
  t.match(await deviceRecord(backend, config.uuid), {
    device: { supervisorVersion: '16.9.0', status: AGENT_STATUS.idle },
    percent: 100,
    message: 'Supervisor updated to 16.9.0',
    status: 'done',
  });
});

t.test('a corrupted blob: the old choice stays, nothing is left, the attempt failed', async (t) => {
  const { backend, config, paths, api, h } = await agentOn169(t, { choice: true });
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:10:00Z' };
  backend.faults.set('primary', { kind: 'corrupt', offset: 10, path: /\/blobs\// });
  backend.faults.set('fallback', { kind: 'corrupt', offset: 10, path: /\/blobs\// });
  t.teardown(() => backend.faults.clear());
  const agent = new Agent(h.ctx);
  await agent.beat();

  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.8.0'), 'the old choice');
  t.same(readdirSync(paths.agentDir).sort(), ['attempts.json'], 'no partial folder, no install');
  const a = readAttempts(paths.attempts).supervisor;
  t.match(a, { version: '16.9.0', outcome: 'failed', reason: /hashes to|digest/ });
  t.same(h.spawned, [], 'no restart');
  const rec = (await deviceRecord(backend, config.uuid)) as { status?: string; device: { status: string } };
  t.equal(rec.status, AGENT_STATUS.supervisorFailed, 'the failure is reported as progress');
  t.equal(rec.device.status, AGENT_STATUS.supervisorFailed, 'and in the heartbeat');

  // The same target is not tried again; set again (a new setAt), it is, and now works.
  backend.faults.clear();
  await agent.beat();
  t.match(readAttempts(paths.attempts).supervisor, { outcome: 'failed' }, 'not retried on its own');
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:20:00Z' };
  await agent.beat();
  t.match(readAttempts(paths.attempts).supervisor, { outcome: 'started', targetSetAt: '2026-12-04T09:20:00Z' });
  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.9.0'));
});

t.test('a corrupted primary: the fallback registry serves it', async (t) => {
  const { backend, paths, api, h } = await agentOn169(t);
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:30:00Z' };
  backend.faults.set('primary', { kind: 'corrupt', offset: 10, path: /\/blobs\// });
  t.teardown(() => backend.faults.clear());
  await new Agent(h.ctx).beat();
  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.9.0'));
  t.ok(h.lines.some((l) => /trying the fallback/.test(l)));
});

t.test('the rules are asked again on the device: a refusal is a failed attempt', async (t) => {
  const { config, api, h, paths } = await agentOn169(t, { os: { version: '2.10.0' } });
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:40:00Z' };
  await new Agent(h.ctx).beat();
  t.match(readAttempts(paths.attempts).supervisor, { outcome: 'failed', reason: /^os-too-old: OS 2\.10\.0/ });
  t.notOk(existsSync(join(paths.agentDir, '16.9.0')), 'nothing downloaded');

  const major = deviceRoot(t);
  const m = context(major.paths, '15.0.0', config, api);
  await new Agent(m.ctx).beat();
  t.match(readAttempts(major.paths.attempts).supervisor, { outcome: 'failed', reason: /^major-needs-confirmation/ });
});

t.test('attempts: started, done, failed; never twice for one setAt, again for a new one', async (t) => {
  const { paths } = deviceRoot(t);
  const target: DeviceTarget = { osVersion: '2.102.0', setAt: 'A' };
  t.ok(shouldAttempt({}, 'os', target, '2.101.0'), 'nothing attempted yet');
  t.notOk(shouldAttempt({}, 'os', target, '2.102.0'), 'already there');
  t.notOk(shouldAttempt({}, 'os', undefined, '2.101.0'), 'no target');
  const rec = recordAttempt(paths.attempts, { kind: 'os', version: '2.102.0', targetSetAt: 'A', outcome: 'failed' });
  t.notOk(shouldAttempt(rec, 'os', target, '2.101.0'), 'failed: not again for the same setAt');
  t.ok(shouldAttempt(rec, 'os', { ...target, setAt: 'B' }, '2.101.0'), 'set again: a new attempt');
  t.ok(shouldAttempt(rec, 'os', { ...target, osVersion: '2.103.0' }, '2.101.0'), 'another version');
  // A supervisor target set after the OS one failed moves setAt, not the OS target's own time.
  const both: DeviceTarget = { ...target, supervisorVersion: '16.9.0', setAt: 'C', osSetAt: 'A', supervisorSetAt: 'C' };
  t.notOk(shouldAttempt(rec, 'os', both, '2.101.0'), 'setting the supervisor does not retry the failed OS update');
  t.ok(shouldAttempt(rec, 'os', { ...both, osSetAt: 'D', setAt: 'D' }, '2.101.0'), 'the OS target set again does');
  t.same(readAttempts(paths.attempts), rec, 'kept on disk');
  writeFileSync(paths.attempts, 'garbage');
  t.same(readAttempts(paths.attempts), {}, 'a damaged record is no record');
});

t.test('an OS attempt is judged by what runs after it, and by the breadcrumbs', async (t) => {
  const api = new TestApi({ apiEndpoint: 'http://127.0.0.1:9', uuid: 'u', deviceApiKey: 'k' });
  const started = { kind: 'os' as const, version: '2.102.0', targetSetAt: 'A', outcome: 'started' as const, at: 'x' };

  // Rolled back (or refused after the agent was stopped): the old OS runs, no breadcrumbs.
  const back = deviceRoot(t);
  writeAttempts(back.paths.attempts, { os: started });
  mkdirSync(back.paths.updateLogDir, { recursive: true });
  writeFileSync(
    join(back.paths.updateLogDir, 'upgrade-2.x.sh.20261204_090000.log'),
    '2026-12-04T09:00:00Z step one\n2026-12-04T09:00:01Z error: no space left on /mnt/data\n',
  );
  const b = context(back.paths, '16.8.0', {} as DeviceConfig, api);
  const attempts = new Agent(b.ctx).settle(readOsInfo(back.root), []);
  t.match(attempts.os, {
    outcome: 'failed',
    reason: 'the device still runs 2.101.0 after the update to 2.102.0: error: no space left on /mnt/data',
  });
  // The status for a target set at `setAt`, on the device as it stands after the failure.
  const statusFor = (setAt: string) =>
    agentStatus({
      attempts,
      breadcrumbs: [],
      target: { osVersion: '2.102.0', setAt },
      busy: { os: false, restarting: false },
      osVersion: '2.101.0',
      supervisorVersion: '16.8.0',
    });
  t.equal(statusFor('A'), AGENT_STATUS.osFailed);
  t.equal(statusFor('B'), AGENT_STATUS.idle, 'a failure of an older target is not the status of the new one');

  // The new OS runs but is not committed: verifying, still started; committed: done.
  const fresh = deviceRoot(t, { version: '2.102.0' });
  writeAttempts(fresh.paths.attempts, { os: started });
  writeFileSync(join(fresh.paths.stateDir, STATE_FILES.healthBreadcrumb), '');
  const f = context(fresh.paths, '16.8.0', {} as DeviceConfig, api);
  const agent = new Agent(f.ctx);
  const pending = agent.settle(readOsInfo(fresh.root), [STATE_FILES.healthBreadcrumb]);
  t.equal(pending.os?.outcome, 'started');
  t.equal(
    agent.state(readOsInfo(fresh.root), [STATE_FILES.healthBreadcrumb], pending).status,
    AGENT_STATUS.verifyingOs,
  );
  const done = agent.settle(readOsInfo(fresh.root), []);
  t.match(done.os, { outcome: 'done', version: '2.102.0' });
  t.equal(agent.state(readOsInfo(fresh.root), [], done).status, AGENT_STATUS.idle);
  t.match(agent.state(readOsInfo(fresh.root), [], done).lastUpdate, { os: { outcome: 'done' } });
  t.equal(agent.state(readOsInfo(fresh.root), [], done).uptimeSeconds, undefined, 'no uptime to say');

  // The uptime in whole seconds, when the device can read it.
  const withUptime = new Agent({ ...f.ctx, uptime: () => 4321.87 });
  t.equal(withUptime.state(readOsInfo(fresh.root), [], done).uptimeSeconds, 4321);
  const unreadable = new Agent({ ...f.ctx, uptime: () => Number.NaN });
  t.notOk('uptimeSeconds' in unreadable.state(readOsInfo(fresh.root), [], done));
});

/** A fetch standing in for the API: answers by method and path. */
function fakeFetch(routes: Record<string, (url: URL, init?: RequestInit) => Response>, seen: string[] = []) {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const key = `${init?.method ?? 'GET'} ${url.pathname}`;
    seen.push(`${key}${url.search}`);
    const route = routes[key];
    if (!route) return new Response(JSON.stringify({ error: `no route ${key}` }), { status: 404 });
    return route(url, init);
  }) as typeof fetch;
}

t.test('the heartbeat takes the target from its reply, or from GET .../target', async (t) => {
  const target = { osVersion: '2.102.0', setAt: 'A' };
  const seen: string[] = [];
  const withTarget = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch({ 'PATCH /v1/devices/u1/state': () => Response.json({ uuid: 'u1', target }) }, seen),
  );
  const state = { osVersion: '2.101.0', supervisorVersion: '16.8.0', status: AGENT_STATUS.idle };
  t.same(await withTarget.heartbeat(state), target);
  t.same(seen, ['PATCH /v1/devices/u1/state'], 'one request');
  let reply: Record<string, unknown> = { uuid: 'u1' };
  const seen2: string[] = [];
  const learnt = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch(
      {
        'PATCH /v1/devices/u1/state': () => Response.json(reply),
        'GET /v1/devices/u1/target': () => Response.json(target),
      },
      seen2,
    ),
  );
  t.same(await learnt.heartbeat(state), target, 'no field: asked at /target');
  reply = { uuid: 'u1', target: null };
  t.equal(await learnt.heartbeat(state), undefined, 'null: none');
  reply = { uuid: 'u1' };
  t.equal(await learnt.heartbeat(state), undefined, 'an API that has answered the field once: absent is none');
  t.same(
    seen2.filter((s) => s.includes('/target')),
    ['GET /v1/devices/u1/target'],
    '/target asked only before',
  );
  const none = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch({ 'PATCH /v1/devices/u1/state': () => Response.json({ uuid: 'u1' }) }),
  );
  t.equal(await none.heartbeat(state), undefined, 'no field, /target answers 404: none');
  const asked = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch({
      'PATCH /v1/devices/u1/state': () => Response.json({ uuid: 'u1' }),
      'GET /v1/devices/u1/target': () => Response.json(target),
    }),
  );
  t.same(await asked.heartbeat(state), target);
  const empty = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch({
      'PATCH /v1/devices/u1/state': () => Response.json({ uuid: 'u1' }),
      'GET /v1/devices/u1/target': () => Response.json({}),
    }),
  );
  t.equal(await empty.heartbeat(state), undefined, '{} is none');
  const down = new AgentApi({ apiEndpoint: 'http://127.0.0.1:9', uuid: 'u1', deviceApiKey: 'k' });
  const err = await down.heartbeat(state).catch((e: unknown) => e);
  t.match(err, { network: true }, 'a network failure is said as one');
});

t.test('network failures are said once, then rarely, and the recovery once', async (t) => {
  const lines: string[] = [];
  let now = 0;
  const f = new RateLimitedFailure({ line: (m) => void lines.push(m) }, 'talking to the API', 60_000, () => now);
  for (let i = 0; i < 20; i++) {
    f.failed('ECONNREFUSED');
    now += 5_000;
  }
  t.equal(lines.length, 2, 'twice in 100 s of failures');
  t.match(lines[1], /11 more failures since the last line/);
  f.ok();
  f.ok();
  t.equal(lines.length, 3);
  t.match(lines[2], /works again/);
});

t.test('an OS target: the API names the method, the updater is checked, written and started', async (t) => {
  const { root, paths } = deviceRoot(t);
  const bundle = Buffer.from('console.log("updater")\n');
  const seen: string[] = [];
  let method: 'standard' | 'refused' = 'refused';
  const routes = {
    'PATCH /v1/devices/u1/state': () => Response.json({ target: { osVersion: '2.102.0', setAt: 'A' } }),
    'GET /v1/update-method': () =>
      Response.json({ method, reason: method === 'refused' ? 'the jump is not supported' : 'same layout' }),
    'GET /v1/updater': () => new Response(bundle, { headers: { 'X-Content-SHA256': sha256(bundle) } }),
  };
  const api = new AgentApi({ apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' }, fakeFetch(routes, seen));
  const h = context(paths, '16.8.0', {} as DeviceConfig, api as TestApi);
  await new Agent(h.ctx).beat();
  t.match(readAttempts(paths.attempts).os, {
    outcome: 'failed',
    reason: /the API refuses the update from 2\.101\.0 to 2\.102\.0: the jump is not supported/,
  });
  t.ok(seen.includes('GET /v1/update-method?deviceType=generic-amd64&from=2.101.0&to=2.102.0'));
  t.same(h.spawned, []);

  method = 'standard';
  const again = deviceRoot(t);
  const g = context(again.paths, '16.8.0', {} as DeviceConfig, api as TestApi);
  const exits: Array<(c: number | null, s: string | null) => void> = [];
  g.ctx.spawnDetached = (command) => {
    g.spawned.push(command);
    return { pid: undefined, onExit: (cb) => void exits.push(cb) };
  };
  const agent = new Agent(g.ctx);
  await agent.beat();
  t.same(readFileSync(again.paths.updaters.hup), bundle, 'the updater is written');
  t.same(g.spawned, [`/usr/bin/node ${again.paths.updaters.hup} --hostos-version 2.102.0`]);
  t.match(readAttempts(again.paths.attempts).os, { outcome: 'started', version: '2.102.0', targetSetAt: 'A' });
  await agent.beat();
  t.equal(g.spawned.length, 1, 'not started twice while it runs');
  exits[0]!(1, null);
  t.match(readAttempts(again.paths.attempts).os, {
    outcome: 'failed',
    reason: /the device still runs 2\.101\.0 after the update to 2\.102\.0/,
  });
  await agent.beat();
  t.equal(g.spawned.length, 1, 'a failed target is not retried');
  t.ok(root);

  // A bundle that does not match its announced sha256 is never run.
  const bad = new AgentApi(
    { apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' },
    fakeFetch({
      ...routes,
      'GET /v1/updater': () => new Response(bundle, { headers: { 'X-Content-SHA256': 'f'.repeat(64) } }),
    }),
  );
  const third = deviceRoot(t);
  const x = context(third.paths, '16.8.0', {} as DeviceConfig, bad as TestApi);
  await new Agent(x.ctx).beat();
  t.same(x.spawned, []);
  t.equal(readAttempts(third.paths.attempts).os, undefined, 'nothing recorded: tried again next beat');
  t.notOk(existsSync(third.paths.updaters.hup));
});

t.test(
  'an updater that exits 0 hands over to a reboot: no verdict in this boot until the reboot is overdue',
  async (t) => {
    const { paths } = deviceRoot(t);
    const bundle = Buffer.from('console.log("advanced")\n');
    const routes = {
      'PATCH /v1/devices/u1/state': () => Response.json({ target: { osVersion: '5.2.1', setAt: 'A' } }),
      'GET /v1/update-method': () => Response.json({ method: 'advanced', reason: 'another layout' }),
      'GET /v1/updater': () => new Response(bundle, { headers: { 'X-Content-SHA256': sha256(bundle) } }),
    };
    const api = new AgentApi({ apiEndpoint: 'http://api.test', uuid: 'u1', deviceApiKey: 'k' }, fakeFetch(routes));
    const h = context(paths, '16.8.0', {} as DeviceConfig, api as TestApi);
    let now = new Date('2026-12-04T10:00:00Z').getTime();
    h.ctx.now = () => new Date(now);
    const exits: Array<(c: number | null, s: string | null) => void> = [];
    h.ctx.spawnDetached = (command) => {
      h.spawned.push(command);
      return { pid: undefined, onExit: (cb) => void exits.push(cb) };
    };
    const agent = new Agent(h.ctx);
    await agent.beat();
    t.match(h.spawned, [/--hostos-version 5\.2\.1/], 'the advanced updater runs');
    exits[0]!(0, null); // handed over: takeover flashes and reboots from here
    now += REBOOT_WAIT_MS - 1_000;
    await agent.beat();
    t.match(readAttempts(paths.attempts).os, { outcome: 'started' }, 'still the old OS, but the reboot may come');
    t.equal(
      agent.state(readOsInfo(h.ctx.paths.osRoot), [], readAttempts(paths.attempts)).status,
      AGENT_STATUS.updatingOs,
    );
    now += 2_000;
    await agent.beat();
    t.match(readAttempts(paths.attempts).os, {
      outcome: 'failed',
      reason:
        /still runs 2\.101\.0 after the update to 5\.2\.1: the updater finished, yet no reboot came within 15 min/,
    });
    t.equal(h.spawned.length, 1, 'not tried again for the same target');
  },
);

/** The launcher with its paths under `root`, `service` faked: what it would start, and what it said. */
function launch(root: string): { started: string; said: string } {
  const script = readFileSync(join(repoRoot, 'images/device-files/rootfs/etc/rc.d/S70balena-supervisor'), 'utf8')
    .replaceAll('/mnt/', `${root}/mnt/`)
    .replaceAll('/etc/balena-supervisor/', `${root}/etc/balena-supervisor/`)
    .replaceAll('/usr/lib/huplab/', `${root}/usr/lib/huplab/`)
    .replaceAll('/dev/console', `${root}/console`);
  writeFileSync(join(root, 'S70'), script);
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin', 'service'), `#!/bin/sh\necho "$@" > "${root}/service.args"\n`);
  chmodSync(join(root, 'bin', 'service'), 0o755);
  writeFileSync(join(root, 'console'), '');
  const r = spawnSync('sh', [join(root, 'S70'), 'start'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${root}/bin:${process.env.PATH}` },
  });
  if (r.status !== 0) throw new Error(`S70 start exited ${r.status}: ${r.stderr}`);
  return {
    started: readFileSync(join(root, 'service.args'), 'utf8').trim(),
    said: `${readFileSync(join(root, 'console'), 'utf8')}${r.stderr}`.trim(),
  };
}

t.test('the launcher runs the choice only when its code matches its sha256 file', async (t) => {
  const root = t.testdir({
    etc: { 'balena-supervisor': { 'supervisor.conf': supervisorConf('16.8.0') } },
    mnt: { state: {}, data: { 'balena-supervisor': {} } },
    usr: { lib: { huplab: { 'supervisor.mjs': '// the OS own\n' } } },
  });
  const own = `start balena-supervisor /usr/bin/node ${root}/usr/lib/huplab/supervisor.mjs 16.8.0`;
  const agentDir = join(root, 'mnt/data/balena-supervisor');
  const choice = join(root, 'mnt/state/supervisor.conf');

  t.same(launch(root), { started: own, said: '' }, 'no choice: the OS own');

  // Installed as the OS update's step installs it: code, sha256, choice.
  installSupervisorCode({ agentDir, choice, version: '16.9.0', code: Buffer.from('// 16.9.0\n') });
  const installed = `start balena-supervisor /usr/bin/node ${agentDir}/16.9.0/supervisor.mjs 16.9.0`;
  t.same(launch(root), { started: installed, said: '' }, 'a sealed install runs');

  writeFileSync(join(agentDir, '16.9.0/supervisor.mjs'), '// 16.9.0, cut sho');
  const cut = launch(root);
  t.equal(cut.started, own, 'code that does not match: the OS own');
  t.match(
    cut.said,
    /not running the installed supervisor 16\.9\.0: .*does not match its sha256 file; running the OS's own 16\.8\.0/,
  );

  installSupervisorCode({ agentDir, choice, version: '16.9.0', code: Buffer.from('// 16.9.0\n') });
  t.equal(launch(root).started, installed, 'installed again: it runs');
  rmSync(join(agentDir, '16.9.0', SUPERVISOR_CODE_SHA256_FILE));
  t.match(launch(root), { started: own, said: /sha256 is missing/ }, 'no sha256 file (an older install): the OS own');

  writeSupervisorChoice(choice, '17.0.0');
  t.match(launch(root), { started: own, said: /17\.0\.0\/supervisor\.mjs is missing/ }, 'a choice without code');
});

t.test('the bundled agent beats to the API and keeps its run state fresh', async (t) => {
  const { backend } = await backendWith169(t);
  const config = await registeredDevice(backend);
  const { root, paths } = deviceRoot(t);
  writeFileSync(paths.configJson, JSON.stringify(config));
  const bundle = join(root, 'supervisor.mjs');
  await bundleForDevice(SUPERVISOR_ENTRY, bundle);
  const child = spawn(process.execPath, [bundle, '16.8.0'], {
    env: { ...process.env, [AGENT_ROOT_ENV]: root },
    stdio: 'ignore',
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let device: { supervisorVersion?: string; osVersion?: string; status?: string; lastSeen?: string } = {};
  for (let i = 0; i < 100 && !device.lastSeen; i++) {
    await new Promise((r) => setTimeout(r, 100));
    device = ((await deviceRecord(backend, config.uuid)) as { device: typeof device }).device ?? {};
  }
  t.match(device, { osVersion: '2.101.0', supervisorVersion: '16.8.0', status: AGENT_STATUS.idle, lastSeen: /^20/ });
  const run = parseSupervisorRunState(readFileSync(paths.runState, 'utf8'));
  t.match(run, { version: '16.8.0', pid: child.pid });
  t.match(readFileSync(paths.log, 'utf8'), /supervisor 16\.8\.0: agent for device [0-9a-f]+ at http/);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it cleanly');
});

t.test('an image whose labels name another version is refused; leftovers of an interrupted install go', async (t) => {
  const { backend, digest } = await backendWith169(t);
  const config = await registeredDevice(backend);
  const { paths } = deviceRoot(t);
  writeSupervisorChoice(paths.choice, '16.8.0');
  mkdirSync(join(paths.agentDir, '.16.9.1.partial'), { recursive: true });
  mkdirSync(join(paths.agentDir, '.16.9.1.blobs'), { recursive: true });
  class Lying extends TestApi {
    override async supervisorRelease(version: string, arch: string) {
      return {
        version,
        arch,
        minOsVersion: '2.12.0',
        image: { repository: 'huplab/supervisor-amd64', tag: version, manifestDigest: digest },
      };
    }
  }
  const api = new Lying(config as Required<Pick<DeviceConfig, 'apiEndpoint' | 'uuid' | 'deviceApiKey'>>);
  const h = context(paths, '16.8.0', config, api);
  const agent = new Agent(h.ctx);
  t.same(readdirSync(paths.agentDir), [], 'the partial folders of an interrupted install are removed at start');
  api.next = { supervisorVersion: '16.9.1', setAt: 'A' };
  await agent.beat();
  t.match(readAttempts(paths.attempts).supervisor, {
    outcome: 'failed',
    reason: /io\.balena\.supervisor\.version label is "16\.9\.0", not "16\.9\.1"/,
  });
  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.8.0'));
  t.same(readdirSync(paths.agentDir), ['attempts.json']);
});

t.test('a rollback is named as the reason of a failed OS attempt', async (t) => {
  const { root, paths } = deviceRoot(t);
  writeAttempts(paths.attempts, {
    os: { kind: 'os', version: '2.102.0', targetSetAt: 'A', outcome: 'started', at: 'x' },
  });
  writeFileSync(join(paths.stateDir, STATE_FILES.healthTriggered), '');
  const api = new TestApi({ apiEndpoint: 'http://127.0.0.1:9', uuid: 'u', deviceApiKey: 'k' });
  const h = context(paths, '16.8.0', {} as DeviceConfig, api);
  t.match(new Agent(h.ctx).settle(readOsInfo(root), []).os, {
    outcome: 'failed',
    reason: /still runs 2\.101\.0 after the update to 2\.102\.0: rollback-health found the new OS unhealthy/,
  });
});

t.test('a link that is down: nothing recorded, said once; back up, the target is carried out', async (t) => {
  const { backend, paths, api, h } = await agentOn169(t, { choice: true });
  api.next = { supervisorVersion: '16.9.0', setAt: '2026-12-04T09:50:00Z' };
  backend.faults.set('api', { kind: 'down' });
  t.teardown(() => backend.faults.clear());
  const agent = new Agent(h.ctx);
  for (let i = 0; i < 3; i++) await agent.beat();
  t.same(readAttempts(paths.attempts), {}, 'no attempt while the API cannot be reached');
  t.equal(h.lines.filter((l) => /talking to the API failed/.test(l)).length, 1, 'said once');
  backend.faults.clear();
  await agent.beat();
  t.ok(h.lines.some((l) => /talking to the API works again/.test(l)));
  t.match(readAttempts(paths.attempts).supervisor, { outcome: 'started', version: '16.9.0' });
  t.equal(readFileSync(paths.choice, 'utf8'), supervisorConf('16.9.0'));
});
