import t from 'tap';
import { UPDATER_EXIT } from '../lib/contract/exit-codes.ts';
import { STATE_FILES, statePath, UPDATE_STATE_FILES, updateState } from '../lib/contract/state-files.ts';
import { advancedCommand, hupCommand, UPDATER_PATHS } from '../lib/contract/updater-command.ts';
import { parseAdvancedArgs } from '../updater/advanced/args.ts';
import { parseArgs } from '../updater/hup/args.ts';

/** The arguments the updater sees: the command line less node and the bundle's path. */
const argv = (cmd: string, bundle: string) => {
  const words = cmd.split(' ');
  t.same(words.slice(0, 2), ['/usr/bin/node', bundle]);
  return words.slice(2);
};

t.test('the command lines the harness builds are the ones the updaters parse', async (t) => {
  t.equal(hupCommand({ hostosVersion: '2.102.0' }), '/usr/bin/node /tmp/hup.mjs --hostos-version 2.102.0');
  t.equal(
    hupCommand({ hostosVersion: '2.102.0', noReboot: true }),
    '/usr/bin/node /tmp/hup.mjs --hostos-version 2.102.0 --no-reboot',
  );
  for (const o of [
    { hostosVersion: '2.102.0', noReboot: false, allowDowngrade: false },
    { hostosVersion: '2.101.0', noReboot: true, allowDowngrade: true },
  ])
    t.same(parseArgs(argv(hupCommand(o), UPDATER_PATHS.hup)), o);
  t.equal(
    advancedCommand({ hostosVersion: '5.1.0', deviceType: 'jetson-xavier-jp5' }),
    '/usr/bin/node /tmp/hup-advanced.mjs --hostos-version 5.1.0 --device-type jetson-xavier-jp5',
  );
  for (const o of [{ hostosVersion: '5.1.0' }, { hostosVersion: '2.102.0', deviceType: 'raspberrypi3-64' }])
    t.same(parseAdvancedArgs(argv(advancedCommand(o), UPDATER_PATHS.advanced)), o);
  t.throws(() => hupCommand({ hostosVersion: '2.102.0; reboot' }), /not a version or a device type slug/);
});

t.test('exit codes: what the harness tells apart', async (t) => {
  t.same(UPDATER_EXIT, { ok: 0, failed: 1, usage: 2, locked: 75 });
});

t.test('state files: the list the harness reads, and where an update ended', async (t) => {
  t.same(UPDATE_STATE_FILES, [
    'rollback-health-breadcrumb',
    'rollback-altboot-breadcrumb',
    'rollback-health-triggered',
    'rollback-altboot-triggered',
    'rollback-health-failed',
  ]);
  t.equal(statePath(STATE_FILES.pendingReport), '/mnt/state/hup-pending-report.json');
  t.same(updateState(['rollback-health-breadcrumb']), {
    breadcrumbs: ['rollback-health-breadcrumb'],
    pending: true,
    rolledBack: { health: false, altboot: false, healthFailed: false },
  });
  t.same(updateState(['rollback-altboot-triggered']), {
    breadcrumbs: [],
    pending: false,
    rolledBack: { health: false, altboot: true, healthFailed: false },
  });
});
