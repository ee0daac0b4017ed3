import { UPDATER_FLAGS as F } from '../../lib/contract/updater-command.ts';
import { HuplabError } from '../../lib/errors.ts';

export interface HupArgs {
  hostosVersion: string;
  noReboot: boolean;
  /** Allow an update to the same or an older version (field: off by default). */
  allowDowngrade: boolean;
}

/** The field updater's flags; unknown flags are errors, as there. */
export function parseArgs(argv: string[]): HupArgs {
  const out: HupArgs = { hostosVersion: '', noReboot: false, allowDowngrade: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === F.hostosVersion) out.hostosVersion = argv[++i] ?? '';
    else if (a.startsWith(`${F.hostosVersion}=`)) out.hostosVersion = a.slice(F.hostosVersion.length + 1);
    else if (a === F.noReboot) out.noReboot = true;
    else if (a === F.allowDowngrade) out.allowDowngrade = true;
    else
      throw new HuplabError('usage', `unknown option ${a}`, {
        hint: 'usage: hup --hostos-version VERSION [--no-reboot] [--allow-downgrade]',
      });
  }
  if (!/^\d+\.\d+\.\d+/.test(out.hostosVersion)) {
    throw new HuplabError('usage', `--hostos-version is missing or not a version: "${out.hostosVersion}"`, {
      hint: 'e.g. --hostos-version 2.102.0',
    });
  }
  return out;
}
