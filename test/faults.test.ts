import t from 'tap';
import { FAULTS, faultsOf, findFault } from '../harness/faults/index.ts';
import { scenarioReleases, verdictFor } from '../harness/faults/scenario.ts';
import { isHuplabError } from '../lib/errors.ts';
import {
  bootloaderBooting,
  bootloaderEnv,
  parseSupervisorUpdated,
  supervisorUpdatedDetail,
} from '../lib/contract/index.ts';
import { uncountedPendingBoot } from '../harness/update/verdict.ts';
import type { UpdateBackend } from '../harness/backend/update-backend.ts';
import type { UpdateOutcome } from '../harness/update/types.ts';

const lab = {
  deviceConfig: { registryEndpoint: 'http://10.0.2.2:1', fallbackRegistryEndpoint: 'http://10.0.2.2:2' },
} as unknown as UpdateBackend;
const env = (root: string, pending = '0') => ({ resin_root_part: root, upgrade_available: pending, bootcount: '0' });
const facts = (root: string, version: string) => ({
  version,
  root: `resin-root${root}`,
  cmdlineRoot: `resin-root${root}`,
  bootEnv: env(root),
  appRecords: 10,
  lastRecord: '',
  supervisorVersion: '1',
  supervisorRunning: true,
  supervisorChoice: '',
  bootFilesMismatch: [] as string[],
});

/** A committed standard HUP 2.101.0 (A) -> 2.102.0 (B) by delta, as updateDevice reports it. */
function committed(over: Partial<UpdateOutcome> = {}): UpdateOutcome {
  return {
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
    download: { kind: 'delta', bytes: 9000, source: 'http://10.0.2.2:3' },
    progress: [{ percent: 100, message: 'Update successful, rebooting' }],
    records: {
      before: 10,
      after: 40,
      intact: true,
      continuous: true,
      maxGapSeconds: 25,
      versions: ['2.101.0', '2.102.0'],
    },
    logs: [],
    seconds: { update: 20, toCommit: 55 },
    updaterOutput: '',
    updaterLog: '',
    faultFacts: {},
    console: '',
    timeline: [],
    ...over,
  };
}
const failing = (o: UpdateOutcome, name?: string) =>
  verdictFor(name ? findFault(name) : undefined, o, lab)
    .checks.filter((c) => !c.ok)
    .map((c) => c.what);

t.test('the fault list: unique names, a family each, refusals say what their reason is', async (t) => {
  t.equal(new Set(FAULTS.map((f) => f.name)).size, FAULTS.length);
  for (const family of ['rollback', 'locks', 'faults'] as const) t.ok(faultsOf(family).length > 0, family);
  for (const f of FAULTS.filter((x) => x.expect === 'refused')) t.ok(f.reason, `${f.name} names its reason`);
  for (const name of [
    'unbootable-root',
    'health-fail',
    'lock-held',
    'data-full',
    'boot-corrupt-config',
    'boot-corrupt-fat',
    'boot-corrupt-env',
    'registry-down',
    'blob-corrupt',
    'delta-missing',
    'network-drop',
    'wrong-device-type',
    'downgrade',
    'same-version',
  ]) {
    t.ok(
      FAULTS.some((f) => f.name === name),
      `the issue's ${name} is there`,
    );
  }
  const err = (() => {
    try {
      findFault('gremlins');
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(err, 'unknown-fault'));
  t.match((err as Error & { oneLine(): string }).oneLine(), /unknown fault "gremlins" \(known faults: .*lock-held/);
});

t.test('releases a scenario really uses', async (t) => {
  t.same(scenarioReleases(undefined, '2.101.0', '2.102.0'), { start: '2.101.0', target: '2.102.0' });
  t.same(scenarioReleases(findFault('downgrade'), '2.101.0', '2.102.0'), { start: '2.102.0', target: '2.101.0' });
  t.same(scenarioReleases(findFault('same-version'), '2.101.0', '2.102.0'), { start: '2.101.0', target: '2.101.0' });
});

t.test('a success verdict fails on each thing that can go wrong', async (t) => {
  t.same(failing(committed()), []);
  t.same(failing(committed({ reboots: 2 })), ['one reboot']);
  t.same(failing(committed({ after: facts('A', '2.101.0') })), ['device rebooted into the new OS', 'root switched']);
  t.same(failing(committed({ committed: false, breadcrumbs: ['rollback-health-breadcrumb'] })), ['update committed']);
  t.same(
    failing(
      committed({ records: { before: 10, after: 9, intact: false, continuous: true, maxGapSeconds: 1, versions: [] } }),
    ),
    ['/data records intact'],
  );
  t.same(failing(committed({ after: { ...facts('B', '2.102.0'), bootFilesMismatch: ['EFI/BOOT/grub.cfg'] } })), [
    'boot files are those of the new OS',
  ]);
  t.same(
    failing(committed(), 'delta-missing'),
    ['OS downloaded as full from http://10.0.2.2:1'],
    'the fault wants the full image from the primary',
  );
});

t.test('the supervisor check reads what the updater installed, not what the new OS ships', async (t) => {
  const claimed = (after: Partial<UpdateOutcome['after']>) =>
    committed({
      steps: [{ step: 'supervisor-update', seconds: 0.1, detail: supervisorUpdatedDetail('16.7.1', '16.8.0') }],
      after: { ...facts('B', '2.102.0'), ...after },
    });
  t.same(failing(claimed({ supervisorChoice: '16.8.0', supervisorVersion: '16.8.0' })), []);
  // The step said it installed 16.8.0 but did nothing: the new OS's own 16.8.0 runs, no choice recorded.
  t.same(failing(claimed({ supervisorChoice: '', supervisorVersion: '16.8.0' })), [
    'supervisor 16.8.0 installed and running',
  ]);
  // Recorded, but the old one still runs (not restarted, or its code missing on /data).
  t.same(failing(claimed({ supervisorChoice: '16.8.0', supervisorVersion: '16.7.1' })), [
    'supervisor 16.8.0 installed and running',
  ]);
  t.same(failing(committed({ after: { ...facts('B', '2.102.0'), supervisorVersion: '' } })), ['a supervisor runs']);
  t.strictSame(parseSupervisorUpdated(supervisorUpdatedDetail('1.0.0', '2.0.0')), { from: '1.0.0', to: '2.0.0' });
  t.equal(parseSupervisorUpdated('supervisor 16.7.1 is current (new OS ships 16.7.1)'), undefined);
});

t.test('a pending update the bootloader does not count is a verdict line naming the env', async (t) => {
  const boot = (pending: string, bootcount: string, root: string) =>
    `${bootloaderEnv({ resin_root_part: 'B', upgrade_available: pending, bootcount })}\n${bootloaderBooting(root)}\n`;
  const counted = boot('1', '1', 'resin-rootB');
  t.same(failing(committed({ console: counted })), []);
  const uncounted = committed({ console: boot('0', '0', 'resin-rootB') });
  t.same(failing(uncounted), ['the bootloader counted the pending update']);
  const line = verdictFor(undefined, uncounted, lab).checks.find((c) => !c.ok)!;
  t.match(line.detail, /resin_root_part=B upgrade_available=0 bootcount=0, booting resin-rootB/);
  t.match(uncountedPendingBoot(boot('0', '0', 'resin-rootA')), { upgrade_available: '0', booting: 'resin-rootA' });
  t.equal(uncountedPendingBoot(`${counted}${boot('0', '0', 'resin-rootA')}`), undefined, 'only the first boot counts');
  // unbootable-root with a switch that leaves upgrade_available=0: the device never comes back,
  // and the verdict says why instead of a console timeout.
  const lost = committed({
    console: boot('0', '0', 'resin-rootB'),
    after: { ...facts('A', ''), version: '', root: '', bootEnv: { unreadable: 'device unreachable' } },
    committed: false,
  });
  t.ok(failing(lost, 'unbootable-root').includes('the bootloader counted the pending update'));
});

t.test('rollback verdicts fail when the /data records were lost', async (t) => {
  const lost = { before: 10, after: 4, intact: false, continuous: true, maxGapSeconds: 1, versions: [] };
  const rolledBack = (kind: 'health' | 'altboot') =>
    committed({
      after: facts('A', '2.101.0'),
      reboots: kind === 'health' ? 2 : 3,
      committed: false,
      rollback: { health: kind === 'health', altboot: kind === 'altboot', healthFailed: false },
      logs: ['/lab/logs/rollback-health.log'],
    });
  const health = rolledBack('health');
  t.same(failing(health, 'health-fail'), [], 'a clean rollback-health passes');
  t.same(failing({ ...health, records: lost }, 'health-fail'), ['/data records intact']);
  const altboot = rolledBack('altboot');
  const altbootChecks = [
    'the initramfs refused the broken root',
    'the bootloader counted the failed boots and booted the old root',
  ];
  t.same(failing(altboot, 'unbootable-root'), altbootChecks, 'only the console checks fail on a blank console');
  t.same(failing({ ...altboot, records: lost }, 'unbootable-root'), ['/data records intact', ...altbootChecks]);
});

t.test('the lock faults judge what they measured, not only the end state', async (t) => {
  const waited = {
    progress: [
      { percent: 100, message: 'Reboot waiting on application lock' },
      { percent: 100, message: 'Update successful, rebooting' },
    ],
    updaterOutput: 'reboot waiting on application lock: /tmp/balena-supervisor/services/1/demo-app/updates.lock\n',
  };
  const good = committed({
    ...waited,
    faultFacts: {
      rebootedWhileHeld: false,
      envWhileWaiting: 'resin_root_part=B upgrade_available=1',
      rebootSecondsAfterRelease: 6.2,
    },
  });
  t.same(failing(good, 'lock-held'), []);
  t.same(
    failing(
      committed({
        ...waited,
        faultFacts: {
          rebootedWhileHeld: true,
          envWhileWaiting: 'resin_root_part=B upgrade_available=1',
          rebootSecondsAfterRelease: 6,
        },
      }),
      'lock-held',
    ),
    ['no reboot while the lock was held'],
  );
  t.same(
    failing(
      committed({
        ...waited,
        faultFacts: {
          rebootedWhileHeld: false,
          envWhileWaiting: 'resin_root_part=A upgrade_available=0',
          rebootSecondsAfterRelease: 6,
        },
      }),
      'lock-held',
    ),
    ['the update was written before the wait (bootloader already switched)'],
  );
  t.same(
    failing(
      committed({
        ...waited,
        faultFacts: {
          rebootedWhileHeld: false,
          envWhileWaiting: 'resin_root_part=B upgrade_available=1',
          rebootSecondsAfterRelease: 31,
        },
      }),
      'lock-held',
    ),
    ['reboot within 10 s of the release'],
  );
  t.same(failing(committed({ faultFacts: {} }), 'lock-held').length, 5, 'no measurements: every lock check fails');
  t.same(failing(committed(), 'lock-shared'), []);
  t.same(failing(committed(waited), 'lock-shared'), ['no "Reboot waiting on application lock"']);
});

t.test('refusals: untouched device, reason in the log, and the API told when it can be', async (t) => {
  const refused = committed({
    exitCode: 1,
    exitRecorded: true,
    failedStep: 'checks',
    failure: 'the device already runs 2.101.0',
    rebooted: false,
    reboots: 0,
    committed: false,
    download: undefined,
    after: facts('A', '2.101.0'),
    progress: [
      { percent: 25, message: 'Preparing OS update' },
      { percent: 100, message: 'OS update failed' },
    ],
    updaterOutput: 'OS update failed: the device already runs 2.101.0\n',
  });
  t.same(failing(refused, 'same-version'), []);
  t.same(failing({ ...refused, after: { ...refused.after, bootEnv: env('B', '1') } }, 'same-version'), [
    'bootloader untouched',
  ]);
  t.same(failing({ ...refused, reboots: 1 }, 'same-version'), ['no reboot']);
  t.same(
    failing(
      {
        ...refused,
        records: { before: 10, after: 3, intact: false, continuous: true, maxGapSeconds: 1, versions: [] },
      },
      'same-version',
    ),
    ['/data records intact'],
    'a refusal that lost records fails',
  );
  const noConfig = {
    ...refused,
    progress: [],
    failure: 'cannot read /mnt/boot/config.json: Unexpected end of JSON input',
    updaterOutput: 'OS update failed: cannot read /mnt/boot/config.json: Unexpected end of JSON input\n',
  };
  t.same(failing(noConfig, 'boot-corrupt-config'), [], 'config.json broken: nothing can reach the API');
  t.same(failing(noConfig, 'same-version'), [
    'refused by the coherence checks',
    '"OS update failed" at the API',
    '"OS update failed" and the reason in the updater log',
  ]);
});

t.test("the updater's output: steps and what was downloaded from where", async (t) => {
  const { parseDownload, parseSteps } = await import('../harness/update/updater-output.ts');
  const full =
    '2026-11-23T16:30:00.000Z [hup] step fetch done (15.7s) full image sha256:4b88 (56776804 bytes) from http://10.0.2.2:45379; 2 attempt(s), 1 resume(s)\n';
  t.same(parseDownload(full), { kind: 'full', bytes: 56776804, source: 'http://10.0.2.2:45379' });
  t.same(parseDownload('[hup] step fetch done (0.8s) delta sha256:892d (9538 bytes) from http://10.0.2.2:38081\n'), {
    kind: 'delta',
    bytes: 9538,
    source: 'http://10.0.2.2:38081',
  });
  t.equal(parseDownload('[hup] step fetch failed no registry delivered the new OS'), undefined);
  t.same(parseSteps(`[hup] step checks done (1.5s) device ok\n${full}`), [
    { step: 'checks', seconds: 1.5, detail: 'device ok' },
    {
      step: 'fetch',
      seconds: 15.7,
      detail: 'full image sha256:4b88 (56776804 bytes) from http://10.0.2.2:45379; 2 attempt(s), 1 resume(s)',
    },
  ]);
});

t.test(
  'the supervisor step against the release the update goes to: installed when newer, else left alone',
  async (t) => {
    const before = { ...facts('A', '2.101.0'), supervisorVersion: '16.7.1' };
    const installed = (step: string, after: Partial<UpdateOutcome['after']>) =>
      committed({
        targetSupervisor: '16.8.0',
        before,
        steps: [{ step: 'supervisor-update', seconds: 0.1, detail: step }],
        after: { ...facts('B', '2.102.0'), ...after },
      });
    const newer = 'supervisor 16.8.0 (newer than the running 16.7.1) installed and running';
    t.same(
      failing(
        installed(supervisorUpdatedDetail('16.7.1', '16.8.0'), {
          supervisorChoice: '16.8.0',
          supervisorVersion: '16.8.0',
        }),
      ),
      [],
    );
    // A no-op step: it says nothing, records nothing, and the new OS's own 16.8.0 runs after the switch.
    t.same(failing(installed('', { supervisorChoice: '', supervisorVersion: '16.8.0' })), [newer]);
    // A step that skips although the new OS ships a newer one.
    t.same(failing(installed('supervisor 16.7.1 is current (new OS ships 16.8.0)', { supervisorVersion: '16.8.0' })), [
      newer,
    ]);
    t.same(
      failing(
        installed(supervisorUpdatedDetail('16.7.1', '16.8.0'), {
          supervisorChoice: '16.8.0',
          supervisorVersion: '16.8.0',
          supervisorRunning: false,
        }),
      ),
      [newer],
      'installed, but it does not run',
    );

    // The skip branch: the new OS ships the same (or an older) supervisor than the one that runs.
    const had = { ...facts('B', '2.102.0'), supervisorVersion: '16.8.0', supervisorChoice: '16.8.0' };
    const skipped = (target: string, step: string, after: Partial<UpdateOutcome['after']> = {}) =>
      committed({
        to: '2.102.1',
        targetSupervisor: target,
        before: had,
        steps: [{ step: 'supervisor-update', seconds: 0.1, detail: step }],
        after: { ...had, ...facts('A', '2.102.1'), supervisorVersion: '16.8.0', supervisorChoice: '16.8.0', ...after },
      });
    const same = 'supervisor update skipped (the new OS ships 16.8.0, not newer than 16.8.0): 16.8.0 still runs';
    t.same(failing(skipped('16.8.0', 'supervisor 16.8.0 is current (new OS ships 16.8.0)')), []);
    t.same(failing(skipped('16.7.1', 'supervisor 16.8.0 is current (new OS ships 16.7.1)')), [], 'older: skipped too');
    t.same(
      failing(
        skipped('16.7.1', supervisorUpdatedDetail('16.8.0', '16.7.1'), {
          supervisorVersion: '16.7.1',
          supervisorChoice: '16.7.1',
        }),
      ),
      ['supervisor update skipped (the new OS ships 16.7.1, not newer than 16.8.0): 16.8.0 still runs'],
      'a downgrade fails',
    );
    t.same(failing(skipped('16.8.0', supervisorUpdatedDetail('16.8.0', '16.8.0'))), [same], 'a reinstall claimed');
    t.same(failing(skipped('16.8.0', '', { supervisorChoice: '' })), [same], 'the choice lost');
    t.same(failing(skipped('16.8.0', '', { supervisorRunning: false })), [same], 'not running after the update');
  },
);

t.test('failures after the supervisor was stopped: nothing switched, supervisor back, API and log told', async (t) => {
  const reason = 'no registry delivered the new OS: http://10.0.2.2:1: reset; http://10.0.2.2:2: reset';
  const log = `2026-12-04T06:00:00.000Z registry http://10.0.2.2:1 failed: reset; trying the fallback registry
2026-12-04T06:00:01.000Z registry http://10.0.2.2:2 failed: reset
2026-12-04T06:00:01.000Z OS update failed: ${reason}
`;
  const stopped = [
    { step: 'checks', seconds: 1, detail: 'ok' },
    { step: 'stop-supervisor', seconds: 0.2, detail: 'supervisor stopped' },
  ];
  const failedAtFetch = committed({
    exitCode: 1,
    failedStep: 'fetch',
    failure: reason,
    steps: stopped,
    rebooted: false,
    reboots: 0,
    committed: false,
    download: undefined,
    after: facts('A', '2.101.0'),
    progress: [
      { percent: 25, message: 'Preparing OS update' },
      { percent: 50, message: 'Running OS update' },
      { percent: 100, message: 'OS update failed' },
    ],
    updaterOutput: log,
    updaterLog: log,
  });
  const name = 'registries-down-at-fetch';
  t.same(failing(failedAtFetch, name), []);
  const with_ = (over: Partial<UpdateOutcome>, after: Partial<UpdateOutcome['after']> = {}) =>
    failing({ ...failedAtFetch, ...over, after: { ...failedAtFetch.after, ...after } }, name);
  t.same(with_({}, { bootEnv: env('B', '1') }), ['bootloader env of the running OS (nothing switched)']);
  t.same(with_({}, { bootFilesMismatch: ['EFI/BOOT/grub.cfg'] }), ['boot files are those of the running OS']);
  t.same(with_({}, { supervisorRunning: false }), ['the supervisor runs again, the same one']);
  t.same(with_({}, { supervisorVersion: '' }), ['the supervisor runs again, the same one']);
  t.same(with_({ breadcrumbs: ['rollback-health-breadcrumb'] }), ['no breadcrumbs']);
  t.same(with_({ progress: failedAtFetch.progress.slice(0, 2) }), ['"OS update failed" at the API']);
  t.same(with_({ updaterLog: '' }), [
    '"OS update failed" and the reason in the update log',
    'both registries were tried (primary, then the fallback)',
  ]);
  t.same(
    with_({ failedStep: 'checks' }),
    ['failed at fetch, after the supervisor was stopped'],
    'a refusal is not this',
  );
  t.same(
    with_({ steps: stopped.slice(0, 1) }),
    ['failed at fetch, after the supervisor was stopped'],
    'the supervisor was never stopped',
  );
  t.same(with_({ reboots: 1 }), ['no reboot']);
  t.same(with_({}, { root: 'resin-rootB', version: '2.102.0' }), ['same OS and root']);
  t.same(
    with_({ records: { before: 10, after: 2, intact: false, continuous: true, maxGapSeconds: 1, versions: [] } }),
    ['/data records intact'],
  );
  // Only the primary tried: the fallback was never asked.
  t.same(
    with_({
      updaterLog: log
        .split('\n')
        .filter((l) => !l.includes('10.0.2.2:2 failed'))
        .join('\n'),
    }),
    ['both registries were tried (primary, then the fallback)'],
  );

  // The root write failing: its own step and reason.
  const writeFailed = {
    ...failedAtFetch,
    failedStep: 'write-root',
    failure: 'mke2fs -q -F -t ext4 -L resin-rootB /dev/vda3 failed (1): Read-only file system',
    updaterLog: 'OS update failed: mke2fs -q -F -t ext4 -L resin-rootB /dev/vda3 failed (1): Read-only file system\n',
  };
  t.same(failing(writeFailed, 'root-write-fails'), []);
  t.same(failing({ ...writeFailed, failedStep: 'fetch' }, 'root-write-fails'), [
    'failed at write-root, after the supervisor was stopped',
  ]);
  t.same(failing(failedAtFetch, 'root-write-fails'), [
    'failed at write-root, after the supervisor was stopped',
    '"OS update failed" and the reason in the update log',
  ]);
});

t.test('the delta that fails to apply: the fallback to the full image, or the failure when it cannot', async (t) => {
  const refusedDelta =
    '2026-12-04T06:00:00.000Z delta could not be applied (delta-base-mismatch: running root differs from what the delta expects: /etc/e2scrub.conf sha256 differs); falling back to the full image\n';
  const fellBack = committed({
    updaterLog: refusedDelta,
    steps: [{ step: 'write-root', seconds: 30, detail: 'full image written after the delta failed to resin-rootB' }],
  });
  t.same(failing(fellBack, 'delta-base-drift'), []);
  t.same(failing({ ...fellBack, updaterLog: '' }, 'delta-base-drift'), [
    'the delta was refused for its base, and the updater fell back to the full image',
  ]);
  t.same(
    failing(
      { ...fellBack, steps: [{ step: 'write-root', seconds: 1, detail: 'delta applied: 3 files' }] },
      'delta-base-drift',
    ),
    ['the full image was written after the delta failed'],
  );
});

t.test(
  'the new faults: listed, failures after the supervisor stop, blobs refused but manifests answered',
  async (t) => {
    const { HUP_STEPS } = await import('../lib/contract/index.ts');
    const { Faults } = await import('../harness/backend/faults.ts');
    const last = FAULTS.map((f) => f.name).slice(-5);
    t.same(
      last,
      [
        'registries-down-at-fetch',
        'delta-base-drift',
        'delta-fails-registries-down',
        'root-write-fails',
        'supervisor-newer-on-device',
      ],
      'appended at the end of the list',
    );
    for (const f of FAULTS.filter((x) => x.expect === 'failed')) {
      t.ok(f.reason, `${f.name} names its reason`);
      t.ok(
        f.failsAt && HUP_STEPS.indexOf(f.failsAt) > HUP_STEPS.indexOf('stop-supervisor'),
        `${f.name} fails after stop-supervisor (${f.failsAt})`,
      );
    }
    for (const name of ['registries-down-at-fetch', 'delta-fails-registries-down']) {
      const faults = new Faults();
      await findFault(name).inject!({ services: { faults } } as unknown as UpdateBackend);
      const digest = `sha256:${'a'.repeat(64)}`;
      for (const group of ['primary', 'fallback'] as const) {
        t.equal(
          faults.take(group, `/v2/huplab/generic-amd64/manifests/${digest}`),
          undefined,
          `${name}: ${group} manifest answers`,
        );
        t.same(
          faults.take(group, `/v2/huplab/generic-amd64/blobs/${digest}`),
          { kind: 'down' },
          `${name}: ${group} blob refused`,
        );
        t.same(
          faults.take(group, `/v2/huplab/generic-amd64/blobs/${digest}`),
          { kind: 'down' },
          `${name}: ${group} every time`,
        );
      }
      t.equal(
        faults.take('delta', `/v1/deltas?src=${digest}&dest=${digest}`)?.kind,
        name === 'registries-down-at-fetch' ? 'missing-delta' : undefined,
        `${name}: the delta service`,
      );
    }
  },
);
