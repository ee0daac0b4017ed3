/**
 * The QEMU command line for a device: a pure function of the profile and the device's files, so
 * it can be unit-tested and recorded in device.json for a person to replay.
 */
import { LAB_HOST_ADDRESS } from '../../lib/contract/lab-host.ts';
import type { Accel } from './kvm-probe.ts';
import type { DevicePaths } from './paths.ts';
import type { QemuProfile } from './profile.ts';

export interface QemuLaunch {
  name: string;
  profile: QemuProfile;
  diskPath: string;
  /** Serve the disk through this NBD socket (a volatile-cache disk) instead of opening the file. */
  diskSocket?: string;
  sshPort: number;
  accel: Accel;
  paths: DevicePaths;
  /**
   * socket (default): the console on a unix socket and logged by QEMU. pty: on a pseudo-terminal,
   * a real tty for the board driver to open through `serialport` (stand-in-board.ts), logged by it.
   * tcpPort: served raw on 127.0.0.1:port, as a TCP serial server (ser2net) serves a board's.
   */
  serial?: 'socket' | 'pty' | { tcpPort: number };
  /** Default: restricted, with no lab host port forwarded (the guest reaches nothing). */
  network?: GuestNetwork;
  /** A saved machine state to load at start instead of booting (QemuDevice.saveState). */
  incoming?: string;
}

/**
 * What the guest reaches. `restricted` (an emulated device): nothing of the host or beyond but
 * the lab host's loopback ports listed, at LAB_HOST_ADDRESS (lib/contract/lab-host.ts). `lan` (a
 * stand-in board): a board on the lab network, which reaches the lab host at the same address
 * and whatever else the host's network reaches.
 */
export type GuestNetwork = { kind: 'restricted'; labHostPorts: number[] } | { kind: 'lan' };

/** The guest's dropbear listens here (balenaOS convention). */
export const GUEST_SSH_PORT = 22222;
export const NETDEV_ID = 'n0';

/** A path as one word of /bin/sh (QEMU runs a migration's exec: command there). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Commas inside a QEMU option value must be doubled. */
export function qemuOptValue(v: string): string {
  return v.replace(/,/g, ',,');
}

export function buildQemuArgs(l: QemuLaunch): string[] {
  const q = l.profile.qemu;
  const p = l.paths;
  const args: string[] = ['-name', qemuOptValue(l.name)];
  args.push('-machine', q.machine);
  // extraArgs may carry a complete -accel of their own; then theirs wins.
  if (!q.extraArgs.includes('-accel')) {
    args.push('-accel', l.accel === 'tcg' && q.tcgThread ? `tcg,thread=${q.tcgThread}` : l.accel);
  }
  args.push('-cpu', q.cpu, '-m', String(q.memoryMiB), '-smp', String(q.smp));
  args.push('-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none');

  if (q.firmware?.loadAs === 'kernel') {
    args.push('-kernel', q.firmware.code);
  } else if (q.firmware) {
    const code = q.firmware.writableFlash ? p.flashFile : q.firmware.code;
    const ro = q.firmware.writableFlash ? '' : ',readonly=on';
    args.push('-drive', `if=pflash,format=raw,unit=0${ro},file=${qemuOptValue(code)}`);
    // Bank 1: the UEFI variable store; a board whose flash the guest rewrites has it too, blank
    // until firmware written there uses it, so that the machine is the same whatever it runs.
    if (q.firmware.vars || q.firmware.writableFlash)
      args.push('-drive', `if=pflash,format=raw,unit=1,file=${qemuOptValue(p.varsFile)}`);
  }
  // The copy the driver read off resin-boot: a Pi's firmware loads the device tree from there.
  if (q.dtb) args.push('-dtb', p.dtbFile);

  args.push(...diskArgs(q.disk.interface, l.diskPath, l.diskSocket));

  args.push('-netdev', netdev(l.sshPort, l.network ?? { kind: 'restricted', labHostPorts: [] }));
  args.push('-device', netDevice(q.net.device));

  args.push(
    '-chardev',
    l.serial === 'pty'
      ? 'pty,id=ser0'
      : typeof l.serial === 'object'
        ? `socket,id=ser0,host=127.0.0.1,port=${l.serial.tcpPort},server=on,wait=off,nodelay=on`
        : `socket,id=ser0,path=${qemuOptValue(p.serialSock)},server=on,wait=off,logfile=${qemuOptValue(p.serialLog)},logappend=on`,
  );
  // Serial ports are assigned in order; earlier ports get a sink so the console lands on its index.
  for (let i = 0; i < q.serialIndex; i++) args.push('-serial', 'null');
  args.push('-serial', 'chardev:ser0');

  args.push('-qmp', `unix:${qemuOptValue(p.qmpSock)},server=on,wait=off`);
  // Loaded once QEMU runs; without -S the VM goes on where the saved one stopped.
  if (l.incoming) args.push('-incoming', `exec:cat ${shellQuote(l.incoming)}`);
  // No -no-reboot: a guest reboot must reboot, as on the board.
  args.push('-daemonize', '-pidfile', p.pidFile);
  args.push(...q.extraArgs);
  return args;
}

/**
 * QEMU user networking. restrict=on cuts the guest off from the host and the outside; each listed
 * port is then forwarded from LAB_HOST_ADDRESS to the host's loopback by a socat QEMU starts per
 * connection. (QEMU refuses a guestfwd on its own host address 10.0.2.2, hence another address.)
 */
export function netdev(sshPort: number, network: GuestNetwork): string {
  const ssh = `hostfwd=tcp:127.0.0.1:${sshPort}-:${GUEST_SSH_PORT}`;
  if (network.kind === 'lan') return `user,id=${NETDEV_ID},host=${LAB_HOST_ADDRESS},${ssh}`;
  const forwards = [...new Set(network.labHostPorts)]
    .sort((a, b) => a - b)
    .map((p) => `guestfwd=tcp:${LAB_HOST_ADDRESS}:${p}-cmd:${GUEST_FORWARDER} STDIO TCP4:127.0.0.1:${p}`);
  return [`user,id=${NETDEV_ID},restrict=on`, ssh, ...forwards].join(',');
}

/** The program QEMU runs for each forwarded guest connection (Debian's socat). */
export const GUEST_FORWARDER = 'socat';

function diskArgs(iface: 'virtio' | 'sd' | 'nvme', diskPath: string, diskSocket?: string): string[] {
  // writeback: the guest sees a disk with a volatile cache and sends flushes, as to an SD card or eMMC.
  const source = diskSocket ? `nbd+unix:///?socket=${diskSocket}` : diskPath;
  const file = `file=${qemuOptValue(source)},format=raw,cache=writeback`;
  switch (iface) {
    case 'sd':
      return ['-drive', `${file},if=sd`];
    case 'nvme':
      return ['-drive', `${file},if=none,id=disk0`, '-device', 'nvme,drive=disk0,serial=huplab0,bootindex=0'];
    case 'virtio':
      // Explicit device so it can carry bootindex: the firmware tries the disk first, whatever
      // its (persisted, per-device) boot variables say, and never wanders off to network boot.
      return ['-drive', `${file},if=none,id=disk0`, '-device', 'virtio-blk-pci,drive=disk0,bootindex=0'];
  }
}

/**
 * PCI NICs carry an iPXE option ROM; under OVMF it adds PXE boot entries and, on a disk that does
 * not boot, seconds of DHCP/PXE under TCG before anything else. Devices never netboot: drop it
 * unless the profile chose a ROM itself.
 */
export function netDevice(device: string): string {
  const [model = '', ...props] = device.split(',');
  const pciNic = /-pci$|^e1000|^rtl8139|^ne2k_pci$|^pcnet$/.test(model);
  const out = [model, ...props, `netdev=${NETDEV_ID}`];
  if (pciNic && !props.some((p) => p.startsWith('romfile='))) out.push('romfile=');
  return out.join(',');
}
