import { HuplabError } from '../../lib/errors.ts';
import type { LabBackend } from '../hup/run-hup.ts';

/**
 * Faults as data: each has a name, what it does to the lab before the update, and what must hold
 * afterwards. Adding a fault is a new entry here, not a new suite. (The device-side faults of the
 * rollback and lock families come with issue 4.)
 */
export interface Fault {
  name: string;
  description: string;
  inject(lab: LabBackend): void | Promise<void>;
  /** The outcome the scenario expects. */
  expect: 'success';
  /** Where the OS must have come from, when that is the point of the fault. */
  expectDownload?: 'delta' | 'full-primary' | 'full-fallback';
}

export const FAULTS: Fault[] = [
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
