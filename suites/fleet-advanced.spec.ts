import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { deviceDir } from '../harness/device/provision.ts';
import { advancedSuiteFor } from '../harness/update/suite-releases.ts';
import { expect, test } from './fixtures.ts';
import {
  fleet,
  huplab,
  json,
  onDevice,
  operator,
  serve,
  startDevice,
  type TargetResults,
  type WaitOutcomes,
} from './fleet-cli.ts';

/**
 * The fleet's advanced path (issue 17), on the projects an advanced path leads away from
 * (JetPack 4): an OS target on the other line, set with `huplab fleet os`, is carried out by the
 * device's agent with the advanced updater the API names; takeover rewrites the board's boot
 * flash and reboots, and nobody but the lab server is there to start the emulated board again.
 * The device must come back on the new line as itself (uuid, SSH host key) and say so to the API.
 */
test.describe('fleet advanced', { tag: ['@emulated', '@fleet'] }, () => {
  let server: ChildProcess | undefined;

  test.afterAll(async ({ lab }) => {
    await huplab(lab, ['device', 'stop', '--force', '--name', 'jx'], 60_000);
    if (server && server.exitCode === null) await huplab(lab, ['serve', '--stop']);
  });

  test('an OS target across lines: takeover, the board started again by the lab server, the new OS reports', async ({
    lab,
    deviceProfile,
  }) => {
    test.setTimeout(40 * 60_000);
    const suite = advancedSuiteFor(deviceProfile)!;
    server = await serve(lab);
    await startDevice(lab, 'jx', suite.from, deviceProfile);
    const before = (await fleet(lab)).get('jx')!;
    expect(before.osVersion).toBe(suite.from);
    const qemuBefore = qemuPid(lab.dir);

    const set = await json<TargetResults>(lab, ['fleet', 'os', '--version', suite.latest, 'jx']);
    expect(set.results).toEqual([expect.objectContaining({ name: 'jx', ok: true })]);
    const waited = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'jx', '--timeout', '1800'], 35 * 60_000);
    expect(waited.devices).toEqual([expect.objectContaining({ name: 'jx', targetProgress: 'reached' })]);

    const after = (await fleet(lab)).get('jx')!;
    expect(after).toMatchObject({ uuid: before.uuid, osVersion: suite.latest, online: true });
    expect(qemuPid(lab.dir), 'the lab server started the board again after its flash was rewritten').not.toBe(
      qemuBefore,
    );
    // The known_hosts of the first boot still fits: takeover kept the SSH host keys.
    expect((await onDevice(lab, 'jx', '. /etc/os-release; echo "$VERSION_ID"')).trim()).toBe(suite.latest);
    // The API's history of the update: the advanced updater's steps, then takeover's, to 100 %.
    const { history } = (await (await operator(lab, `/v1/devices/${before.uuid}`)).json()) as {
      history: Array<{ percent: number; message: string }>;
    };
    expect(history.some((h) => /Handing over to takeover/.test(h.message))).toBe(true);
    expect(history.at(-1)?.percent).toBe(100);
  });
});

/** The pid of the device's QEMU, from its record. */
function qemuPid(labDir: string): number {
  return (JSON.parse(readFileSync(join(deviceDir(labDir, 'jx'), 'device.json'), 'utf8')) as { pid: number }).pid;
}
