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
    if (a === '--hostos-version') out.hostosVersion = argv[++i] ?? '';
    else if (a.startsWith('--hostos-version=')) out.hostosVersion = a.slice(17);
    else if (a === '--no-reboot') out.noReboot = true;
    else if (a === '--allow-downgrade') out.allowDowngrade = true;
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
