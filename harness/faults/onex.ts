/**
 * Faults of the resinOS 1.x -> 1.x update, as data: what each does to the device before the
 * update, how it is taken away again, and the outcome it expects. `huplab hup --fault NAME` and
 * suites/onex-update.spec.ts run them through harness/update/onex-update.ts, which judges them.
 */
import { ONEX_REFUSALS } from '../../lib/contract/onex.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { ONEX_UNTOUCHED, type OnexRefusal } from '../update/onex-verdict.ts';
import type { DeviceHooks } from '../update/types.ts';

export interface OnexFault {
  name: string;
  description: string;
  /** Files of the root edited before the update: a line appended to each (kept aside to undo). */
  edits: string[];
  /** The refusal expected, with the device untouched: partitions compared before and after. */
  expect: Omit<OnexRefusal, 'files'>;
}

export const ONEX_FAULTS: readonly OnexFault[] = [
  {
    name: 'root-modified',
    description:
      'a file of the 1.x root (/etc/profile) edited on the device before the update: the fingerprint check refuses it by name before anything is written; the boot partition and the spare root stay byte for byte as they were',
    edits: ['/etc/profile'],
    expect: { refused: ONEX_REFUSALS.rootModified, untouched: ONEX_UNTOUCHED },
  },
];

export function findOnexFault(name: string): OnexFault | undefined {
  return ONEX_FAULTS.find((f) => f.name === name);
}

/** The shell that applies a fault's edits (each file kept aside in /run first) and the one that undoes them. */
export function onexFaultScripts(f: OnexFault): { apply: string; undo: string } {
  const aside = (p: string) => `/run/huplab-fault${p.replaceAll('/', '_')}`;
  return {
    apply: f.edits
      .map((p) => `cp -p ${p} ${aside(p)} && echo "# edited on the device (fault ${f.name})" >> ${p}`)
      .concat('sync')
      .join(' && '),
    undo: f.edits
      .map((p) => `cp -p ${aside(p)} ${p}`)
      .concat('sync')
      .join(' && '),
  };
}

/** A fault's expectation for the verdict: its refusal, naming the files it edited. */
export function onexFaultExpectation(f: OnexFault): OnexRefusal {
  return { ...f.expect, files: f.edits };
}

/** A fault as the 1.x runner takes it: its name and the hooks that apply and undo its edits. */
export function onexFaultRun(f: OnexFault): { name: string; hooks: Pick<DeviceHooks, 'prepare' | 'undo'> } {
  const s = onexFaultScripts(f);
  const sh = async (device: DeviceDriver, cmd: string) => {
    await (await device.ssh()).execOk(cmd);
  };
  return { name: f.name, hooks: { prepare: (d) => sh(d, s.apply), undo: (d) => sh(d, s.undo) } };
}
