import type { DeviceDriver } from '../board/driver.ts';
import { decodeGrubenv } from '../../lib/grubenv.ts';
import { BOOT_FILES_DIR, COPY_IF_ABSENT, KEPT_BACK } from '../../lib/boot-files.ts';

/** What a running device reports about itself: the facts suites and reports assert on. */
export interface DeviceFacts {
  version: string;
  /** Label of the root filesystem mounted at /. */
  root: string;
  /** The root the kernel was told to mount (from the bootloader). */
  cmdlineRoot: string;
  bootEnv: Record<string, string>;
  appRecords: number;
  lastRecord: string;
  supervisorVersion: string;
  /** Boot partition files that differ from the ones the running OS ships (kept-back ones aside). */
  bootFilesMismatch: string[];
}

export async function inspectDevice(device: DeviceDriver): Promise<DeviceFacts> {
  const ssh = await device.ssh();
  const run = (cmd: string) => ssh.execOk(cmd).then((s) => s.trim());
  const version = /^VERSION="?([^"\n]*)"?$/m.exec(await run('cat /etc/os-release'))?.[1] ?? '';
  // Which labelled partition is mounted at /: busybox has findfs but no blkid, so resolve each
  // root label to its device and compare with the mounted one.
  const rootDev = await run("awk '$2 == \"/\" && $1 ~ /^\\/dev\\// { print $1 }' /proc/mounts | tail -n 1");
  const labels = await run('for l in resin-rootA resin-rootB; do echo "$l $(findfs LABEL=$l 2>/dev/null)"; done');
  const root = labels.split('\n').map((l) => l.split(' ')).find(([, dev]) => dev === rootDev)?.[0] ?? '';
  const cmdlineRoot = /root=LABEL=(\S+)/.exec(await run('cat /proc/cmdline'))?.[1] ?? '';
  const env = await ssh.exec('cat /mnt/boot/EFI/BOOT/grubenv');
  // A garbled env (a fault, a power cut) is a fact to report, not a reason to fail the inspection.
  let bootEnv: Record<string, string> = {};
  try { if (env.code === 0) bootEnv = decodeGrubenv(Buffer.from(env.stdout, 'latin1')); } catch (err) { bootEnv = { unreadable: (err as Error).message }; }
  const records = await ssh.exec('wc -l < /mnt/data/demo-app/records.log; tail -n 1 /mnt/data/demo-app/records.log');
  const [count, last] = records.stdout.trim().split('\n');
  const supervisorVersion = /SUPERVISOR_VERSION=(\S+)/.exec(await run('cat /etc/balena-supervisor/supervisor.conf'))?.[1] ?? '';
  const skip = [...KEPT_BACK, ...COPY_IF_ABSENT].map((p) => `.${p}`).join('|');
  const mismatch = await ssh.exec(`cd ${BOOT_FILES_DIR} && find . -type f | while read -r f; do case "$f" in ${skip}) continue ;; esac; cmp -s "$f" "/mnt/boot/$f" || echo "\${f#./}"; done`);
  const bootFilesMismatch = mismatch.code === 0 ? mismatch.stdout.trim().split('\n').filter(Boolean) : [`(cannot compare: ${mismatch.stderr.trim()})`];
  return { version, root, cmdlineRoot, bootEnv, appRecords: Number(count ?? 0), lastRecord: last ?? '', supervisorVersion, bootFilesMismatch };
}
