/** Files of one emulated device, all inside its state folder. */
import path from 'node:path';

export interface DevicePaths {
  dir: string;
  serialLog: string;
  serialSock: string;
  qmpSock: string;
  pidFile: string;
  /** { pid, sshPort, accel, startedAt, ... } of the running (or last) VM. */
  deviceJson: string;
  stateLog: string;
  knownHosts: string;
  /** Per-device copy of the firmware variable store (UEFI vars persist like on a board). */
  varsFile: string;
  /** Per-device copy of a writable firmware flash. */
  flashFile: string;
  /** QEMU's stderr of the last start attempt. */
  startLog: string;
  /** The device tree QEMU hands the board's firmware, read from resin-boot at each power-on. */
  dtbFile: string;
}

export function devicePaths(dir: string): DevicePaths {
  const d = path.resolve(dir); // QEMU -daemonize chdirs to /, so every path it gets is absolute
  return {
    dir: d,
    serialLog: path.join(d, 'serial.log'),
    serialSock: path.join(d, 'serial.sock'),
    qmpSock: path.join(d, 'qmp.sock'),
    pidFile: path.join(d, 'qemu.pid'),
    deviceJson: path.join(d, 'device.json'),
    stateLog: path.join(d, 'state.log'),
    knownHosts: path.join(d, 'known_hosts'),
    varsFile: path.join(d, 'firmware-vars.fd'),
    flashFile: path.join(d, 'firmware-flash.fd'),
    startLog: path.join(d, 'qemu-start.log'),
    dtbFile: path.join(d, 'board.dtb'),
  };
}

/** Unix socket paths are limited to 107 bytes (sun_path); QEMU fails obscurely beyond that. */
export const MAX_SOCKET_PATH = 107;
