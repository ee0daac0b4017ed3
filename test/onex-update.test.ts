/**
 * The pure parts of the resinOS 1.x -> 1.x update: the boot partition merge (ignored files,
 * `.hup.old` copies of changed text files), the config.json migration, the flags, the contract's
 * lines, the fault's scripts, and the verdicts on synthetic outcomes (each check can fail).
 */
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  applyBootMerge,
  isText,
  planBootMerge,
  readTree,
  recordBootUndo,
  undoBootMerge,
} from '../updater/onex/boot-merge.ts';
import { reportStage, type OnexStage } from '../updater/onex/progress.ts';
import { migrateConfigJson, parseForcedValue } from '../updater/onex/config-migrate.ts';
import { parseOnexArgs, toolsArgs } from '../updater/onex/update-args.ts';
import {
  HUP_OLD_SUFFIX,
  ONEX_PROGRESS,
  ONEX_TOOL_STEPS,
  ONEX_UPDATE_STEPS,
  onexRefusedLine,
  onexStartLine,
  onexUpdateCommand,
  parseOnexChecks,
} from '../lib/contract/onex.ts';
import { findOnexFault, onexFaultExpectation, onexFaultScripts } from '../harness/faults/onex.ts';
import { expectOnexRefused, expectOnexSuccess, ONEX_UNTOUCHED, otherRoot } from '../harness/update/onex-verdict.ts';
import type { OnexFacts, OnexUpdateOutcome } from '../harness/update/onex-update.ts';

const b = (s: string) => Buffer.from(s);

t.test('boot merge: ignored files left, unchanged skipped, changed text files saved as .hup.old', async (t) => {
  const incoming = new Map([
    ['/EFI/BOOT/grub.cfg', b('new grub.cfg\n')],
    ['/config.json', b('{}\n')],
    ['/EFI/BOOT/grubenv', b('env')],
    ['/os-release', b('VERSION="1.30.1"\n')],
    ['/resin-boot.fingerprint', b('same\n')],
    ['/EFI/BOOT/bootx64.efi', Buffer.from([0x4d, 0x5a, 0, 1, 2])],
    ['/new-file.txt', b('new\n')],
  ]);
  const current = new Map([
    ['/EFI/BOOT/grub.cfg', b('user edited\n')],
    ['/os-release', b('VERSION="1.26.1"\n')],
    ['/resin-boot.fingerprint', b('same\n')],
    ['/EFI/BOOT/bootx64.efi', Buffer.from([0x4d, 0x5a, 0, 9, 9])],
  ]);
  const plan = planBootMerge(incoming, (p) => current.get(p));
  t.same(plan.ignored, ['/EFI/BOOT/grub.cfg', '/EFI/BOOT/grubenv', '/config.json']);
  t.same(plan.unchanged, ['/resin-boot.fingerprint']);
  t.same(plan.copy, ['/EFI/BOOT/bootx64.efi', '/new-file.txt', '/os-release']);
  // A binary is replaced without a copy; a text file that changes keeps its old self.
  t.same(plan.saveOld, ['/os-release']);
  t.ok(isText(b('a\nb\n')));
  t.notOk(isText(Buffer.from([1, 0, 2])));

  // Applied on a real folder: the old text beside the new, the ignored file untouched.
  const dir = t.testdir({
    from: { 'os-release': 'VERSION="1.30.1"\n', 'config.txt': 'new\n', sub: { 'a.txt': 'a2\n' } },
    boot: { 'os-release': 'VERSION="1.26.1"\n', 'config.txt': 'mine\n' },
  });
  const from = path.join(dir, 'from');
  const boot = path.join(dir, 'boot');
  const real = planBootMerge(readTree(from), (p) => {
    try {
      return readFileSync(path.join(boot, p));
    } catch {
      return undefined;
    }
  });
  await applyBootMerge(real, from, boot, () => {});
  t.equal(readFileSync(path.join(boot, 'os-release'), 'utf8'), 'VERSION="1.30.1"\n');
  t.equal(readFileSync(path.join(boot, `os-release${HUP_OLD_SUFFIX}`), 'utf8'), 'VERSION="1.26.1"\n');
  t.equal(readFileSync(path.join(boot, 'config.txt'), 'utf8'), 'mine\n');
  t.equal(readFileSync(path.join(boot, 'sub', 'a.txt'), 'utf8'), 'a2\n');
});

t.test('boot merge undone after a failure: every byte back, no new file, no .hup.old of the failed run', async (t) => {
  const dir = t.testdir({
    from: { 'os-release': 'VERSION="1.30.1"\n', 'added.dtb': 'new blob', sub: { 'a.txt': 'a2\n' } },
    boot: {
      'os-release': 'VERSION="1.26.1"\n',
      // A copy kept by an earlier update: the failed run overwrites it, the undo must bring it back.
      [`os-release${HUP_OLD_SUFFIX}`]: 'VERSION="1.24.0"\n',
      sub: { 'a.txt': 'a1\n' },
      'untouched.txt': 'mine\n',
    },
  });
  const from = path.join(dir, 'from');
  const boot = path.join(dir, 'boot');
  const before = readTree(boot);
  const plan = planBootMerge(readTree(from), (p) =>
    existsSync(path.join(boot, p)) ? readFileSync(path.join(boot, p)) : undefined,
  );
  const undo = recordBootUndo(plan, boot);
  await applyBootMerge(plan, from, boot, () => {});
  t.equal(readFileSync(path.join(boot, 'added.dtb'), 'utf8'), 'new blob', 'the merge wrote the new file');
  t.equal(readFileSync(path.join(boot, `os-release${HUP_OLD_SUFFIX}`), 'utf8'), 'VERSION="1.26.1"\n');
  const log: string[] = [];
  await undoBootMerge(undo, boot, (m) => log.push(m));
  t.same([...readTree(boot).keys()], [...before.keys()], 'the same files as before');
  for (const [p, data] of before) t.ok(readTree(boot).get(p)!.equals(data), `${p} has its old bytes`);
  t.match(log.join('\n'), /added\.dtb removed/);
  // The written files are restored before the .hup.old copies: an operator's text is never only in the copy.
  t.ok(log.findIndex((l) => l.includes('/os-release restored')) < log.findIndex((l) => l.includes(HUP_OLD_SUFFIX)));
});

t.test('progress: --no-reboot ends "done" without saying it reboots; the failure is sent hardest', async (t) => {
  const sent: Array<{ percent: number; message: string; status: string; attempts: number }> = [];
  const reporter = {
    report: async (percent: number, message: string, status: string, attempts: number) => {
      sent.push({ percent, message, status, attempts });
      return true;
    },
  };
  for (const stage of Object.keys(ONEX_PROGRESS) as OnexStage[]) await reportStage(reporter, stage);
  const by = (m: string) => sent.find((s) => s.message === m)!;
  t.equal(by(ONEX_PROGRESS.done.message).status, 'rebooting');
  t.equal(by(ONEX_PROGRESS.doneNoReboot.message).status, 'done');
  t.notMatch(ONEX_PROGRESS.doneNoReboot.message, /reboot(ing)?\.\.\./i);
  t.equal(by(ONEX_PROGRESS.failed.message).attempts, 10);
  t.equal(by(ONEX_PROGRESS.preparing.message).attempts, 2);
});

t.test('config.json: moved from resin-conf to boot from 1.12, forced values set, nothing else changed', async (t) => {
  const conf = { uuid: 'u1', apiEndpoint: 'http://old' };
  const moved = migrateConfigJson({ boot: undefined, conf, target: '1.26.1' });
  t.equal(moved.place, 'resin-boot');
  t.same(moved.config, conf);
  t.match(moved.changes, [/moved from resin-conf to the boot partition/]);
  // Already on boot (the running OS reads that one): kept, no change.
  const kept = migrateConfigJson({ boot: { uuid: 'u1' }, conf: { uuid: 'stale' }, target: '1.30.1' });
  t.same(kept.config, { uuid: 'u1' });
  t.same(kept.changes, []);
  // An old target keeps it on resin-conf.
  t.equal(migrateConfigJson({ boot: undefined, conf, target: '1.10.0' }).place, 'resin-conf');
  const forced = migrateConfigJson({
    boot: { uuid: 'u1', apiEndpoint: 'http://old' },
    conf: undefined,
    target: '1.30.1',
    forced: { apiEndpoint: 'http://new', deltaEndpoint: 'http://delta' },
  });
  t.same(forced.config, { uuid: 'u1', apiEndpoint: 'http://new', deltaEndpoint: 'http://delta' });
  t.same(forced.changes, ['apiEndpoint set to http://new (was "http://old")', 'deltaEndpoint set to http://delta']);
  t.throws(() => migrateConfigJson({ boot: undefined, conf: undefined, target: '1.30.1' }), { code: 'config-missing' });
  t.same(parseForcedValue('deltaEndpoint=http://x=y'), ['deltaEndpoint', 'http://x=y']);
  t.throws(() => parseForcedValue('=x'), { code: 'usage' });
  t.throws(() => parseForcedValue('key='), { code: 'usage' });
});

t.test('flags: the version (".prod" dropped, 1.x only), --no-reboot, --config; unknown ones refused', async (t) => {
  t.same(parseOnexArgs(['--hostos-version', '1.30.1.prod', '--no-reboot', '--config', 'a=b']), {
    hostosVersion: '1.30.1',
    noReboot: true,
    forced: { a: 'b' },
  });
  t.same(parseOnexArgs(['--hostos-version=1.26.1']).hostosVersion, '1.26.1');
  t.throws(() => parseOnexArgs([]), { code: 'usage' });
  t.throws(() => parseOnexArgs(['--hostos-version', '2.102.0']), { code: 'usage' });
  t.throws(() => parseOnexArgs(['--hostos-version', '1.30.1', '--force']), { code: 'usage' });
  t.throws(() => parseOnexArgs(['--hostos-version']), { code: 'usage' });
  t.same(toolsArgs(parseOnexArgs(['--hostos-version', '1.30.1', '--config', 'k=v', '--no-reboot'])), [
    '--hostos-version',
    '1.30.1',
    '--config',
    'k=v',
  ]);
  t.equal(onexUpdateCommand({ hostosVersion: '1.30.1' }), '/usr/bin/node /tmp/hup-1x.mjs --hostos-version 1.30.1');
  t.throws(() => onexUpdateCommand({ hostosVersion: '1.30.1; reboot' }));
});

t.test('the refusal line is read from the log, time stamp and all', async (t) => {
  const line = `2026-12-04T22:00:00.000Z ${onexRefusedLine('root-modified', 'x were modified')}`;
  t.same(parseOnexChecks(`${line}\n`).refused, { code: 'root-modified', message: 'x were modified' });
  t.same(parseOnexChecks('some [hup-1x] refused x: y in the middle\n').refused, undefined);
});

t.test('root-modified: its edit and undo, the partitions it compares', async (t) => {
  const f = findOnexFault('root-modified')!;
  t.ok(f);
  t.equal(findOnexFault('nope'), undefined);
  const s = onexFaultScripts(f);
  t.match(s.apply, /cp -p \/etc\/profile \/run\/huplab-fault_etc_profile && echo .* >> \/etc\/profile/);
  t.match(s.undo, /cp -p \/run\/huplab-fault_etc_profile \/etc\/profile/);
  t.same(f.expect.untouched, ONEX_UNTOUCHED);
});

function facts(o: Partial<OnexFacts> = {}): OnexFacts {
  return {
    version: '1.26.1',
    root: '',
    cmdlineRoot: 'resin-root',
    bootEnv: {},
    appRecords: 5,
    lastRecord: '',
    supervisorVersion: '2.8.3',
    supervisorRunning: true,
    supervisorChoice: '',
    bootFilesMismatch: [],
    fingerprint: { listed: 120, mismatched: [] },
    kept: { '/mnt/state/root-overlay/etc/dropbear': 'k1', '/etc/machine-id': 'm1' },
    appRunning: true,
    ...o,
  };
}

const allSteps = [...ONEX_UPDATE_STEPS.slice(0, 4), ...ONEX_TOOL_STEPS, ...ONEX_UPDATE_STEPS.slice(4)].map((step) => ({
  step,
  seconds: 1,
  detail: '',
}));
const progress = ['preparing', 'supervisor', 'preparing2', 'running', 'finalizing', 'done'].map(
  (k) => ONEX_PROGRESS[k as keyof typeof ONEX_PROGRESS],
);

function success(o: Partial<OnexUpdateOutcome> = {}): OnexUpdateOutcome {
  return {
    from: '1.26.1',
    to: '1.30.1',
    exitCode: 0,
    rebooted: true,
    before: facts(),
    after: facts({
      version: '1.30.1',
      cmdlineRoot: 'resin-updt',
      supervisorVersion: '6.2.9',
      supervisorChoice: '6.2.9',
      kept: {
        '/mnt/state/root-overlay/etc/dropbear': 'k1',
        '/etc/machine-id': 'm1',
        '/mnt/state/supervisor.conf': 'c2',
      },
    }),
    steps: allSteps,
    fingerprintFailures: [],
    log: `${onexStartLine({ from: '1.26.1', to: '1.30.1', uuid: 'u1', deviceType: 'generic-amd64' })}\n[hup] step reboot done (0.1s)\n`,
    logCopy: 'logs/resinhup/run-resinhup.sh.log',
    progress: progress.map((p) => ({ ...p })),
    targetSupervisor: '6.2.9',
    seconds: { update: 60, toBoot: 80 },
    updaterOutput: '',
    ...o,
  };
}

t.test('the success verdict holds on a good outcome, and each check fails on its own breakage', async (t) => {
  t.equal(otherRoot('resin-root'), 'resin-updt');
  t.equal(otherRoot('resin-updt'), 'resin-root');
  const good = expectOnexSuccess(success());
  t.ok(good.ok, JSON.stringify(good.checks.filter((c) => !c.ok)));
  const failing = (o: Partial<OnexUpdateOutcome>) =>
    expectOnexSuccess(success(o))
      .checks.filter((c) => !c.ok)
      .map((c) => c.what);
  t.match(failing({ rebooted: false }), [/rebooted/]);
  t.match(failing({ steps: allSteps.slice(1) }), [/every step/]);
  t.match(failing({ after: { ...success().after, cmdlineRoot: 'resin-root' } }), [/other root/]);
  t.match(failing({ after: { ...success().after, fingerprint: { listed: 120, mismatched: ['/etc/profile'] } } }), [
    /fingerprint/,
  ]);
  t.match(failing({ after: { ...success().after, kept: { '/mnt/state/root-overlay/etc/dropbear': 'other' } } }), [
    /kept files/,
  ]);
  t.match(failing({ before: facts({ kept: {} }), after: { ...success().after, kept: {} } }), [/kept files/]);
  t.match(failing({ after: { ...success().after, supervisorVersion: '2.8.3' } }), [/supervisor/]);
  t.match(failing({ after: { ...success().after, supervisorChoice: '2.8.3' } }), [/supervisor/]);
  // The choice may change when the update installs a newer supervisor, not otherwise.
  const withChoice = facts({ kept: { ...facts().kept, '/mnt/state/supervisor.conf': 'c1' } });
  t.same(failing({ before: withChoice }), []);
  t.match(failing({ before: withChoice, targetSupervisor: '2.8.3' }), [/kept files/]);
  t.match(failing({ after: { ...success().after, appRunning: false } }), [/application/]);
  t.match(failing({ progress: [...progress].reverse() }), [/progress/]);
  t.match(failing({ log: '' }), [/log/]);
});

t.test(
  'the refusal verdict: refused by name, partitions unchanged, services back, the failure at the API',
  async (t) => {
    const f = onexFaultExpectation(findOnexFault('root-modified')!);
    const md5 = (c: string) => c.repeat(32);
    const parts = { table: md5('a'), ebr: md5('b'), p1: md5('c'), p3: md5('d'), p5: md5('e') };
    const refused = (o: Partial<OnexUpdateOutcome> = {}): OnexUpdateOutcome =>
      success({
        fault: 'root-modified',
        exitCode: 1,
        rebooted: false,
        after: facts(),
        refused: { code: 'root-modified', message: '1 file(s) of the OS were modified: /etc/profile' },
        fingerprintFailures: ['/etc/profile'],
        partitions: { before: parts, after: { ...parts } },
        progress: [{ ...ONEX_PROGRESS.preparing }, { ...ONEX_PROGRESS.failed }],
        ...o,
      });
    const good = expectOnexRefused(refused(), f);
    t.ok(good.ok, JSON.stringify(good.checks.filter((c) => !c.ok)));
    const failing = (o: Partial<OnexUpdateOutcome>) =>
      expectOnexRefused(refused(o), f)
        .checks.filter((c) => !c.ok)
        .map((c) => c.what);
    t.match(failing({ refused: undefined }), [/refused/]);
    t.match(failing({ fingerprintFailures: ['/etc/passwd'] }), [/named/]);
    t.match(failing({ partitions: { before: parts, after: { ...parts, p3: md5('f') } } }), [/nothing written/]);
    // The md5 of nothing (a partition not found) on both sides is not "unchanged".
    const empty = { ...parts, p1: 'd41d8cd98f00b204e9800998ecf8427e' };
    t.match(failing({ partitions: { before: empty, after: empty } }), [/nothing written/]);
    t.match(failing({ partitions: undefined }), [/nothing written/]);
    t.match(failing({ after: facts({ appRunning: false }) }), [/still runs/]);
    t.match(failing({ progress: [{ ...ONEX_PROGRESS.preparing }] }), [/last report/]);
  },
);

// The folder helpers the merge uses, on nested folders.
t.test('readTree lists nested files by absolute path', async (t) => {
  const dir = t.testdir({});
  mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
  writeFileSync(path.join(dir, 'a', 'b', 'c'), 'x');
  writeFileSync(path.join(dir, 'top'), 'y');
  t.same([...readTree(dir).keys()], ['/a/b/c', '/top']);
});
