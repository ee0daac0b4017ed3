/**
 * The faults of the resinOS 1.x -> 2.x migration, as data (the standard path's are in index.ts):
 * what each does to the 1.x device before the migration, and what must hold afterwards. Read by
 * `huplab hup --fault` on the 1.x-to-2.x method and by suites/onex-migrate.spec.ts.
 */
import { encodeBootEnv, parseBootloaderDescription, BOOTLOADER_DESCRIPTION_PATH } from '../../lib/bootenv/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { rebootFromShell } from '../device/shell.ts';
import type { MigrationExpectation } from '../update/onex-migrate-verdict.ts';

export interface OnexFault extends MigrationExpectation {
  description: string;
  /** What it does to the running 1.x device before the migration. */
  prepare?(device: DeviceDriver): Promise<void>;
  /** The compressed /data limit the migration is run with (default: the field's). */
  dataLimit?: number;
}

/** 3 MB that gzip cannot shrink, against a 2 MB limit (the field's 170 MB scaled to the lab's /data). */
export const OVER_LIMIT = { bytes: 3_000_000, limit: 2_000_000 } as const;

export const CONFIG_WIFI = { ssid: 'lab-home', passphrase: 'home-pass-1' } as const;

/**
 * Puts a 1.x device on its spare root, as a 1.x -> 1.x update leaves it: the running root copied
 * onto resin-updt (its files, through a bind mount that shows the root alone), the bootloader
 * pointed at B, and a reboot.
 */
async function onSecondaryRoot(device: DeviceDriver): Promise<void> {
  const ssh = await device.ssh();
  await ssh.execOk(
    [
      'set -e',
      'spare=$(ls /dev/$(basename $(readlink -f /sys/class/block/$(basename $(findfs LABEL=resin-root))/..))*3 | head -1)',
      // e2fsprogs' mkfs.ext4: on the login shell's PATH busybox's mke2fs (no -t) comes first.
      'mkfs.ext4 -q -F -L resin-updt $spare',
      'mkdir -p /run/rootbind /run/spare',
      'mount --bind / /run/rootbind',
      'mount -t ext4 $spare /run/spare',
      'cp -a /run/rootbind/. /run/spare/',
      'umount /run/spare; umount /run/rootbind; sync',
    ].join('; '),
    { timeoutMs: 10 * 60_000 },
  );
  const desc = parseBootloaderDescription(await ssh.execOk(`cat ${BOOTLOADER_DESCRIPTION_PATH}`), 'bootloader.json');
  const files = encodeBootEnv(desc, { resin_root_part: 'B', upgrade_available: '0', bootcount: '0' });
  await ssh.putFile(Buffer.from(files.env), `/mnt/boot${desc.envFile}`);
  if (desc.countFile && files.count) await ssh.putFile(Buffer.from(files.count), `/mnt/boot${desc.countFile}`);
  await ssh.execOk('sync');
  const mark = device.console.mark();
  await rebootFromShell(device);
  await device.waitForOs({ since: mark, timeoutMs: 240_000 });
  const label = (await (await device.ssh()).execOk('sed -n "s/.*root=LABEL=\\([^ ]*\\).*/\\1/p" /proc/cmdline')).trim();
  if (label !== 'resin-updt')
    throw new HuplabError('fault-setup-failed', `the device booted ${label} after being put on resin-updt`);
}

/** Adds ConnMan WiFi settings to config.json (files["network/network.config"]), as the 1.x dashboard did. */
async function configJsonWifi(device: DeviceDriver): Promise<void> {
  const ssh = await device.ssh();
  const config = JSON.parse(await ssh.execOk('cat /mnt/boot/config.json')) as Record<string, unknown>;
  config.files = {
    ...((config.files as Record<string, string> | undefined) ?? {}),
    'network/network.config': `[service_home_ethernet]\nType = ethernet\nNameservers = 8.8.8.8,8.8.4.4\n\n[service_home_wifi]\nHidden = true\nType = wifi\nName = ${CONFIG_WIFI.ssid}\nPassphrase = ${CONFIG_WIFI.passphrase}\nNameservers = 8.8.8.8,8.8.4.4\n`,
  };
  await ssh.putFile(Buffer.from(`${JSON.stringify(config, null, 2)}\n`), '/mnt/boot/config.json');
  await ssh.execOk('sync');
}

export const ONEX_FAULTS: OnexFault[] = [
  {
    name: 'data-over-limit',
    description: `/data whose compressed backup (${OVER_LIMIT.bytes} random bytes) is over the spare root's room (${OVER_LIMIT.limit} bytes here): refused before anything is touched`,
    async prepare(device) {
      await (await device.ssh()).execOk(
        `head -c ${OVER_LIMIT.bytes} /dev/urandom > /mnt/data/resin-data/1001/blob.bin && sync`,
      );
    },
    dataLimit: OVER_LIMIT.limit,
    expect: 'refused',
    refusal: 'data-over-limit',
  },
  {
    name: 'on-secondary-root',
    description:
      'the device runs from the spare root resin-updt (a 1.x -> 1.x update put it there): moved back to resin-root, rebooted, then migrated',
    prepare: onSecondaryRoot,
    expect: 'success',
    switchesRoot: true,
  },
  {
    name: 'wifi-config',
    description:
      "WiFi settings in config.json (network/network.config) besides WiFi Connect's: both migrated to NetworkManager keyfiles",
    prepare: configJsonWifi,
    expect: 'success',
    configWifi: CONFIG_WIFI,
  },
];

export function isOnexFault(name: string): boolean {
  return ONEX_FAULTS.some((f) => f.name === name);
}

export function findOnexFault(name: string): OnexFault {
  const f = ONEX_FAULTS.find((x) => x.name === name);
  if (!f)
    throw new HuplabError('unknown-fault', `unknown fault "${name}" of the 1.x -> 2.x migration`, {
      hint: `its faults: ${ONEX_FAULTS.map((x) => x.name).join(', ')}`,
    });
  return f;
}
