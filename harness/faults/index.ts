import { HuplabError } from '../../lib/errors.ts';
import type { DeviceHooks, LabBackend } from '../hup/run-hup.ts';
import type { QemuDevice } from '../qemu/driver.ts';

/**
 * Faults as data: each has a name, what it does to the lab before the update, and what must hold
 * afterwards. Adding a fault is a new entry here, not a new suite. (The device-side faults of the
 * rollback and lock families come with issue 4.)
 */
export interface Fault {
  name: string;
  description: string;
  /** What it does to the backend before the update. */
  inject?(lab: LabBackend): void | Promise<void>;
  /** What it does to the device around the updater run. */
  device?: DeviceHooks;
  /** The outcome the scenario expects. */
  expect: 'success' | 'rollback-health' | 'rollback-altboot' | 'refused';
  /** For refusals: what the updater's reason must say. */
  reason?: RegExp;
  /** The release to update to instead of the scenario's target (same-version, downgrade). */
  target?: (from: string, to: string) => string;
  /** Where the OS must have come from, when that is the point of the fault. */
  expectDownload?: 'delta' | 'full-primary' | 'full-fallback';
}

async function sh(device: QemuDevice, cmd: string): Promise<void> {
  await (await device.ssh()).execOk(cmd);
}

export const FAULTS: Fault[] = [
  {
    name: 'same-version',
    description: 'the target is the release the device already runs: refused, device untouched',
    target: (from) => from,
    expect: 'refused',
    reason: /already runs/,
  },
  {
    name: 'downgrade',
    description: 'the target is older than the running release: refused, device untouched',
    target: (from, to) => (from === to ? from : to),
    expect: 'refused',
    reason: /older than the running .*downgrades are refused/,
  },
  {
    name: 'wrong-device-type',
    description: "the device's config.json names another device type: refused, device untouched",
    device: { beforeUpdate: (d) => sh(d, "sed -i 's/\"deviceType\": *\"[^\"]*\"/\"deviceType\": \"raspberrypi3\"/' /mnt/boot/config.json && sync") },
    expect: 'refused',
    reason: /device type raspberrypi3 but the OS is built for/,
  },
  {
    name: 'data-full',
    description: '/mnt/data is full before the update: refused before anything is touched',
    device: { beforeUpdate: (d) => sh(d, 'dd if=/dev/zero of=/mnt/data/huplab-filler bs=1M 2>/dev/null; sync; true') },
    expect: 'refused',
    reason: /\/mnt\/data has .* MiB free/,
  },
  {
    name: 'health-fail',
    description: 'the new OS boots but never passes its health check: rollback-health must bring the old OS back',
    // The marker lives on the state partition, which both OSes share, so the new OS sees it.
    device: { beforeUpdate: (d) => sh(d, 'touch /mnt/state/huplab-fault-health && sync') },
    expect: 'rollback-health',
  },
  {
    name: 'unbootable-root',
    description: 'the new root cannot boot (its /sbin/init removed before the reboot): GRUB boot counting and rollback-altboot must bring the old OS back',
    device: {
      beforeReboot: (d) => sh(d, [
        'dev=$(findfs LABEL=resin-rootB); cur=$(awk \'$2=="/" {print $1}\' /proc/mounts | tail -n1)',
        '[ "$dev" = "$cur" ] && dev=$(findfs LABEL=resin-rootA)',
        'mkdir -p /run/fault && mount -t ext4 "$dev" /run/fault && rm -f /run/fault/sbin/init && umount /run/fault && sync',
      ].join('; ')),
    },
    expect: 'rollback-altboot',
  },
  {
    name: 'delta-missing',
    description: 'the delta service has no delta: the full image comes from the primary registry',
    inject: (lab) => lab.backend.faults.set('delta', { kind: 'missing-delta' }),
    expect: 'success',
    expectDownload: 'full-primary',
  },
  {
    name: 'registry-down',
    description: 'no delta and the primary registry is down: the fallback registry delivers',
    inject: (lab) => { lab.backend.faults.set('delta', { kind: 'missing-delta' }); lab.backend.faults.set('primary', { kind: 'down' }); },
    expect: 'success',
    expectDownload: 'full-fallback',
  },
  {
    name: 'blob-corrupt',
    description: 'no delta and the primary registry serves a corrupted layer: the digest check rejects it and the fallback delivers',
    inject: (lab) => { lab.backend.faults.set('delta', { kind: 'missing-delta' }); lab.backend.faults.set('primary', { kind: 'corrupt', offset: 4096, path: '/blobs/' }); },
    expect: 'success',
    expectDownload: 'full-fallback',
  },
];

export function findFault(name: string): Fault {
  const f = FAULTS.find((x) => x.name === name);
  if (!f) throw new HuplabError('unknown-fault', `unknown fault "${name}"`, { hint: `known faults: ${FAULTS.map((x) => x.name).join(', ')}` });
  return f;
}
