/**
 * A small mutation check for the fast lane: a few defects are put, one at a time, into copies of
 * the verdict and delta units (their relative imports pointed back at the tree), and the same
 * checks the unit tests make must catch each one, while the original passes them. A defect
 * whose original fragment is gone fails too, so the list follows the code. Each mutant once
 * went unnoticed by the suites (issue 15); the full tests are test/faults.test.ts and
 * test/integration/delta.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { bootloaderBooting, bootloaderEnv, supervisorUpdatedDetail } from '../lib/contract/index.ts';
import { createDelta } from '../lib/delta/index.ts';
import { writeTar, type TarWriteEntry } from '../lib/tar/index.ts';
import type { DeviceFacts } from '../harness/device/inspect.ts';
import type { UpdateOutcome, Verdict } from '../harness/update/types.ts';
import type * as VerdictUnit from '../harness/update/verdict.ts';
import type * as ApplyUnit from '../lib/delta/apply.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'huplab-mutation-'));
// The copies are ES modules, as the tree's are.
writeFileSync(join(scratch, 'package.json'), '{"type":"module"}');
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

/**
 * A copy of `unit` (relative to the repository) with `from` replaced by `to`, imported. `from`
 * must occur once, or once after `within` (which must occur once) when that is given.
 */
async function mutant<T>(unit: string, from: string, to: string, within = ''): Promise<T> {
  const src = readFileSync(join(ROOT, unit), 'utf8');
  const start = within ? src.indexOf(within) : 0;
  const at = start < 0 || (within && src.indexOf(within, start + 1) >= 0) ? -1 : src.indexOf(from, start);
  if (at < 0 || (!within && src.indexOf(from, at + 1) >= 0))
    throw new Error(`${unit}: the fragment must occur once${within ? ` after ${within}` : ''}: ${from}`);
  const abs = (spec: string) => pathToFileURL(resolve(dirname(join(ROOT, unit)), spec)).href;
  const code = (src.slice(0, at) + to + src.slice(at + from.length)).replace(
    /(from\s+|import\()'(\.{1,2}\/[^']+)'/g,
    (_m, head: string, spec: string) => `${head}'${abs(spec)}'`,
  );
  const file = join(scratch, `${copies++}-${unit.replace(/\//g, '_')}`);
  writeFileSync(file, code);
  return (await import(pathToFileURL(file).href)) as T;
}

// --- verdicts -------------------------------------------------------------------------------------

const env = (root: string) => ({ resin_root_part: root, upgrade_available: '0', bootcount: '0' });
const facts = (root: string, version: string, over: Partial<DeviceFacts> = {}): DeviceFacts => ({
  version,
  root: `resin-root${root}`,
  cmdlineRoot: `resin-root${root}`,
  bootEnv: env(root),
  appRecords: 10,
  lastRecord: '',
  supervisorVersion: '1.0.0',
  supervisorRunning: true,
  supervisorChoice: '',
  bootFilesMismatch: [],
  ...over,
});
const lost = { before: 10, after: 4, intact: false, continuous: true, maxGapSeconds: 1, versions: [] };
const outcome = (over: Partial<UpdateOutcome> = {}): UpdateOutcome => ({
  to: '2.102.0',
  exitCode: 0,
  exitRecorded: true,
  before: facts('A', '2.101.0'),
  after: facts('B', '2.102.0'),
  steps: [],
  rebooted: true,
  reboots: 1,
  committed: true,
  rollback: { health: false, altboot: false, healthFailed: false },
  breadcrumbs: [],
  download: undefined,
  progress: [{ percent: 100, message: 'OS update failed' }],
  records: { before: 10, after: 40, intact: true, continuous: true, maxGapSeconds: 25, versions: [] },
  logs: [],
  seconds: { update: 20, toCommit: 55 },
  updaterOutput: 'OS update failed: refused\n',
  updaterLog: 'OS update failed: refused\n',
  faultFacts: {},
  console: '',
  timeline: [],
  ...over,
});
const failed = (v: Verdict) => v.checks.filter((c) => !c.ok).map((c) => c.what);
const rolledBack = outcome({
  after: facts('A', '2.101.0'),
  reboots: 2,
  committed: false,
  rollback: { health: true, altboot: false, healthFailed: false },
});
const refused = outcome({
  exitCode: 1,
  failedStep: 'checks',
  failure: 'refused',
  rebooted: false,
  reboots: 0,
  committed: false,
  after: facts('A', '2.101.0'),
});
const failedAfterStop = outcome({
  ...refused,
  failedStep: 'fetch',
  steps: [{ step: 'stop-supervisor', seconds: 0.1, detail: 'supervisor stopped' }],
});
const claimed = outcome({
  steps: [{ step: 'supervisor-update', seconds: 0.1, detail: supervisorUpdatedDetail('1.0.0', '2.0.0') }],
  after: facts('B', '2.102.0', { supervisorVersion: '2.0.0', supervisorChoice: '2.0.0' }),
});

/**
 * The new OS ships a newer supervisor (2.0.0 over the running 1.0.0): the step installed it, or
 * did nothing at all, in which case the new OS's own 2.0.0 runs after the switch, with no claim
 * and no choice on the state partition.
 */
const shipsNewer = outcome({
  targetSupervisor: '2.0.0',
  steps: [{ step: 'supervisor-update', seconds: 0.1, detail: supervisorUpdatedDetail('1.0.0', '2.0.0') }],
  after: facts('B', '2.102.0', { supervisorVersion: '2.0.0', supervisorChoice: '2.0.0' }),
});
const noOpStep = {
  ...shipsNewer,
  steps: [{ step: 'supervisor-update', seconds: 0.1, detail: '' }],
  after: { ...shipsNewer.after, supervisorChoice: '' },
};
/** The new OS ships the same supervisor: the step must leave it alone. */
const shipsSame = outcome({
  targetSupervisor: '1.0.0',
  steps: [{ step: 'supervisor-update', seconds: 0.1, detail: 'supervisor 1.0.0 is current (new OS ships 1.0.0)' }],
});

/** Each probe: a sound outcome that must pass, and the damaged one the check must fail on. */
const VERDICT_PROBES: Array<{
  name: string;
  /** Where the defect goes: the first `from` after `within`. */
  within?: string;
  from: string;
  to: string;
  judge: (v: typeof VerdictUnit, o: UpdateOutcome) => Verdict;
  sound: UpdateOutcome;
  damaged: UpdateOutcome;
  check: string;
}> = [
  {
    name: 'rollback verdict ignores lost /data records',
    within: 'export function expectRollback(',
    from: 'ok: o.records.intact,',
    to: 'ok: true,',
    judge: (v, o) => v.expectRollback(o, 'health'),
    sound: rolledBack,
    damaged: { ...rolledBack, records: lost },
    check: '/data records intact',
  },
  {
    name: 'refusal verdict ignores lost /data records',
    within: 'export function expectRefused(',
    from: 'ok: o.records.intact,',
    to: 'ok: true,',
    judge: (v, o) => v.expectRefused(o, /refused/),
    sound: refused,
    damaged: { ...refused, records: lost },
    check: '/data records intact',
  },
  {
    name: 'supervisor check believes the new OS instead of the state partition',
    from: 'ok: o.after.supervisorChoice === claim.to && o.after.supervisorVersion === claim.to,',
    to: 'ok: o.after.supervisorVersion === claim.to,',
    judge: (v, o) => v.expectSuccess(o),
    sound: claimed,
    damaged: { ...claimed, after: { ...claimed.after, supervisorChoice: '' } },
    check: 'supervisor 2.0.0 installed and running',
  },
  {
    name: 'a no-op supervisor step passes when the new OS ships a newer supervisor',
    within: 'if (compareVersions(ships, had) > 0)',
    from: 'claim?.to === ships &&\n          o.after.supervisorChoice === ships &&\n',
    to: '',
    judge: (v, o) => v.expectSuccess(o),
    sound: shipsNewer,
    damaged: noOpStep,
    check: 'supervisor 2.0.0 (newer than the running 1.0.0) installed and running',
  },
  {
    name: 'the skip branch lets a supervisor that stopped running through',
    within: 'supervisor update skipped',
    from: '&&\n        o.after.supervisorRunning,',
    to: ',',
    judge: (v, o) => v.expectSuccess(o),
    sound: shipsSame,
    damaged: { ...shipsSame, after: { ...shipsSame.after, supervisorRunning: false } },
    check: 'supervisor update skipped (the new OS ships 1.0.0, not newer than 1.0.0): 1.0.0 still runs',
  },
  {
    name: 'a failure after the supervisor stop passes with the supervisor left stopped',
    within: 'export function expectFailedAfterStop(',
    from: 'ok: o.after.supervisorRunning && o.after.supervisorVersion === o.before.supervisorVersion,',
    to: 'ok: o.after.supervisorVersion === o.before.supervisorVersion,',
    judge: (v, o) => v.expectFailedAfterStop(o, 'fetch', /refused/),
    sound: failedAfterStop,
    damaged: { ...failedAfterStop, after: { ...failedAfterStop.after, supervisorRunning: false } },
    check: 'the supervisor runs again, the same one',
  },
  {
    name: 'an uncounted pending boot passes',
    from: 'ok: !u,',
    to: 'ok: true,',
    judge: (v, o) => v.expectSuccess(o),
    sound: outcome({
      console: `${bootloaderEnv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '1' })}\n${bootloaderBooting('resin-rootB')}\n`,
    }),
    damaged: outcome({
      console: `${bootloaderEnv({ resin_root_part: 'B', upgrade_available: '0', bootcount: '0' })}\n${bootloaderBooting('resin-rootB')}\n`,
    }),
    check: 'the bootloader counted the pending update',
  },
];

t.test('verdict defects are caught', async (t) => {
  const original = (await import('../harness/update/verdict.ts')) as typeof VerdictUnit;
  for (const p of VERDICT_PROBES) {
    t.same(failed(p.judge(original, p.sound)), [], `${p.name}: the sound outcome passes`);
    t.same(failed(p.judge(original, p.damaged)), [p.check], `${p.name}: the original fails the damaged outcome`);
    const m = await mutant<typeof VerdictUnit>('harness/update/verdict.ts', p.from, p.to, p.within);
    t.same(failed(p.judge(m, p.damaged)), [], `${p.name}: the mutant lets it through, so the probe is what catches it`);
  }
});

// --- delta ------------------------------------------------------------------------------------------

async function layer(out: string, files: Record<string, string>): Promise<string> {
  const entries: TarWriteEntry[] = [
    { path: './', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 },
    { path: './etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 },
    ...Object.entries(files).map(([path, text]) => {
      const body = Buffer.from(text);
      return {
        path: `./${path}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: body.length,
        body,
      } as const;
    }),
  ];
  await pipeline(writeTar(entries), createGzip(), createWriteStream(out));
  return out;
}

t.test('a delta applier that skips the sha256 of carried contents is caught', async (t) => {
  const base = join(scratch, 'base');
  mkdirSync(join(base, 'etc'), { recursive: true });
  writeFileSync(join(base, 'etc/kept'), 'kept');
  const delta = join(scratch, 'd.tar.gz');
  await createDelta({
    fromLayer: await layer(join(scratch, 'l1.tar.gz'), { 'etc/kept': 'kept', 'etc/os': 'one' }),
    toLayer: await layer(join(scratch, 'l2.tar.gz'), { 'etc/kept': 'kept', 'etc/os': 'new!' }),
    out: delta,
  });
  const tar = gunzipSync(readFileSync(delta));
  tar.write('NEW!', tar.indexOf('new!'));
  const damaged = join(scratch, 'damaged.tar.gz');
  writeFileSync(damaged, gzipSync(tar));
  const apply = async (unit: typeof ApplyUnit, d: string) => {
    const target = join(scratch, `target-${copies++}`);
    mkdirSync(target);
    return { result: unit.applyDelta({ delta: d, baseRoot: base, targetRoot: target }), target };
  };
  const original = (await import('../lib/delta/apply.ts')) as typeof ApplyUnit;
  await t.resolves((await apply(original, delta)).result, 'the sound delta applies');
  const refused = await apply(original, damaged);
  await t.rejects(refused.result, { code: 'delta-corrupt' }, 'the original refuses the damaged delta');
  t.strictSame(readdirSync(refused.target), [], 'and leaves the target empty');
  const m = await mutant<typeof ApplyUnit>(
    'lib/delta/apply.ts',
    'if (got.sha256 !== sha || got.bytes !== head!.size)',
    'if (got.bytes !== head!.size)',
  );
  await t.resolves((await apply(m, damaged)).result, 'the mutant takes it, so the probe is what catches it');
});
