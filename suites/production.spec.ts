import type { DeviceDriver } from '../harness/driver/driver.ts';
import { leaveConsoleShell, probeConsoleShell } from '../harness/console/shell-probe.ts';
import { runningVariant } from '../harness/device/inspect.ts';
import { throwawayKey, trySshLogin, type SshAttempt } from '../harness/ssh/auth-probe.ts';
import { HUP_STEPS } from '../lib/contract/index.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { expectCommitted, useLabBackend } from './hup-helpers.ts';

// Production images (images/builder/variant.ts): no login on the serial console, SSH for root
// only with a key of config.json's os.sshKeys (the harness provisions the lab's key there, so it
// still drives the device), every password refused. The same probes on a development image get
// in, so a probe that stopped seeing a shell or a login would fail here too.

/** Logins a production device must refuse; a development one takes the first (no credentials). */
const REFUSED: SshAttempt[] = [
  { kind: 'none' },
  { kind: 'password', password: '' },
  { kind: 'password', password: 'root' },
  { kind: 'key', privateKey: throwawayKey().privateKey, what: 'a key config.json does not list' },
];

async function sshAttempts(device: DeviceDriver) {
  const ssh = await device.ssh();
  const target = { host: ssh.host, port: ssh.port };
  const results = [];
  for (const a of REFUSED) results.push(await trySshLogin(target, a));
  return results;
}

test.describe('production variant', () => {
  const h = useLabBackend({ variant: 'production', releases: () => [BASE_RELEASE, NEXT_RELEASE] });

  test('development image (the probes see what they look for): a shell on the serial console, SSH without credentials', async ({
    baseDevice,
    osVariant,
  }) => {
    test.skip(osVariant === 'production', 'HUPLAB_VARIANT=production: the base device is not a development one');
    const { device } = baseDevice;
    expect(await runningVariant(device)).toBe('development');
    const probe = await probeConsoleShell(device.console);
    await leaveConsoleShell(device.console);
    expect(probe.shell, `the console probe on a development image; console:\n${probe.seen.join('\n')}`).toBe(true);
    const logins = await sshAttempts(device);
    expect(logins.map((l) => [l.attempt, l.accepted])).toEqual([
      ['no credentials', true],
      // dropbear takes a blank password through `none` only (what `ssh root@device` does first).
      ['an empty password', false],
      ['the password "root"', false],
      ['a key config.json does not list', false],
    ]);
  });

  test('production image: no console shell, SSH with the lab key only; a standard update to the next production release commits and stays production', async ({
    flash,
  }) => {
    test.setTimeout(15 * 60_000);
    const d = await h.device(flash);
    expect(d.record.variant).toBe('production');

    await test.step('the device says it is production', async () => {
      expect(await runningVariant(d.device)).toBe('production');
    });
    await test.step('the serial console gives no shell', async () => {
      const probe = await probeConsoleShell(d.device.console);
      expect(probe.shell, `a shell answered on the production console:\n${probe.seen.join('\n')}`).toBe(false);
    });
    await test.step('SSH: the lab key (config.json os.sshKeys) gets in; no credentials, passwords and other keys do not', async () => {
      const ssh = await d.device.ssh();
      expect((await ssh.execOk('id -u')).trim()).toBe('0');
      const logins = await sshAttempts(d.device);
      expect(logins.filter((l) => l.accepted).map((l) => l.attempt)).toEqual([]);
      // Refused by authentication, not by a dead connection.
      for (const l of logins) expect(l.error, l.attempt).toMatch(/authentication/i);
    });

    await test.step(`standard update ${BASE_RELEASE} -> ${NEXT_RELEASE} (production to production)`, async () => {
      const o = await h.update(d, NEXT_RELEASE);
      expectCommitted(o);
      expect(o.download?.kind).toBe('delta');
      expect(o.steps.map((s) => s.step)).toEqual([...HUP_STEPS]);
      expect(o.after.supervisorChoice).toBe(o.after.supervisorVersion);
      expect(o.records.versions).toEqual([BASE_RELEASE, NEXT_RELEASE]);
      expect([o.before.variant, o.after.variant]).toEqual(['production', 'production']);
      // The release record the API served says so too (from the hostapp's io.huplab.variant label).
      const served = h
        .backend()
        .services.api.releases(d.profile.deviceType)
        .find((r) => r.version === NEXT_RELEASE);
      expect(served?.variant).toBe('production');
    });
    await test.step('after the update: still no console shell, still no login without the key', async () => {
      const probe = await probeConsoleShell(d.device.console, { timeoutMs: 15_000 });
      expect(probe.shell, `a shell answered on the updated console:\n${probe.seen.join('\n')}`).toBe(false);
      const logins = await sshAttempts(d.device);
      expect(logins.filter((l) => l.accepted).map((l) => l.attempt)).toEqual([]);
    });
  });
});
