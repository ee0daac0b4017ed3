import { UPDATER_FLAGS as F } from '../../lib/contract/updater-command.ts';
import { HuplabError } from '../../lib/errors.ts';

export interface AdvancedArgs {
  hostosVersion: string;
  /** Target device type when it is not the running one (a Pi 3 going from the 32- to the 64-bit OS). */
  deviceType?: string;
}

const USAGE = 'usage: hup-advanced --hostos-version VERSION [--device-type TYPE]';

/** The advanced updater's flags; unknown flags are errors, as with the standard one. */
export function parseAdvancedArgs(argv: string[]): AdvancedArgs {
  const out: AdvancedArgs = { hostosVersion: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === F.hostosVersion) out.hostosVersion = value();
    else if (flag === F.deviceType) out.deviceType = value();
    else throw new HuplabError('usage', `unknown option ${a}`, { hint: USAGE });
  }
  if (!/^\d+\.\d+\.\d+/.test(out.hostosVersion)) {
    throw new HuplabError('usage', `--hostos-version is missing or not a version: "${out.hostosVersion}"`, {
      hint: 'e.g. --hostos-version 5.1.0',
    });
  }
  if (out.deviceType !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(out.deviceType)) {
    throw new HuplabError('usage', `--device-type "${out.deviceType}" is not a device type slug`, {
      hint: 'e.g. --device-type raspberrypi3-64',
    });
  }
  return out;
}
