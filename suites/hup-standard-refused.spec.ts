import { escapeRegExp } from '../lib/contract/regex.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';
import { useLabBackend } from './hup-helpers.ts';

// Standard HUP on generic-amd64: a refused update (A -> B -> A is in hup-standard.spec.ts).
test.describe('hup-standard', () => {
  const h = useLabBackend();

  test('a refused update reports "OS update failed", leaves the device untouched and the application running', async ({
    flash,
  }) => {
    const d = await h.device(flash);
    const o = await h.update(d, BASE_RELEASE);
    expect(o.exitCode).toBe(1);
    expect(o.failedStep).toBe('checks');
    // The base release as the run names it: `huplab qualify --matrix` runs this from other ones.
    const already = new RegExp(`already runs ${escapeRegExp(BASE_RELEASE)}`);
    expect(o.failure).toMatch(already);
    expect(o.rebooted).toBe(false);
    expect(o.after.root).toBe('resin-rootA');
    expect(o.after.bootEnv).toMatchObject({ resin_root_part: 'A', upgrade_available: '0' });
    expect(o.breadcrumbs).toEqual([]);
    expect(o.progress.at(-1)).toMatchObject({ percent: 100, message: 'OS update failed' });
    const ssh = await d.device.ssh();
    expect((await ssh.execOk('service status demo-app')).trim()).toBe('running');
    expect((await ssh.execOk('service status balena-supervisor')).trim()).toBe('running');
    const log = o.logs.find((l) => l.includes('upgrade-2.x.sh'))!;
    expect((await import('node:fs')).readFileSync(log, 'utf8')).toMatch(
      new RegExp(`OS update failed: .*${already.source}`),
    );
  });
});
