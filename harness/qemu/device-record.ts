/**
 * device.json: what another process needs to find and drive a running VM (`huplab device ssh`,
 * `huplab device stop`), and what a person needs to replay its start (the exact QEMU argv).
 */
import fs from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import type { Accel } from './kvm-probe.ts';
import type { QemuProfile } from './profile.ts';

export interface DeviceRecord {
  name: string;
  pid: number;
  sshPort: number;
  accel: Accel;
  startedAt: string;
  stoppedAt?: string;
  /** Console log offset where the current boot began. */
  bootOffset: number;
  diskPath: string;
  sshKeyPath: string;
  profile: QemuProfile;
  qemuBinary: string;
  qemuArgs: string[];
}

export function readDeviceRecord(file: string): DeviceRecord {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new HuplabError('device-unknown', `no device record at ${file}`, {
      hint: 'start the device first (`huplab device start`)',
    });
  }
  try {
    return JSON.parse(text) as DeviceRecord;
  } catch (err) {
    throw new HuplabError('device-record-invalid', `device record ${file} is not valid JSON`, {
      hint: `stop the VM by hand if it runs, then delete ${file}`,
      cause: err,
    });
  }
}

export function writeDeviceRecord(file: string, rec: DeviceRecord): void {
  // Readers in other processes must never see half a record.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`);
  fs.renameSync(tmp, file);
}
