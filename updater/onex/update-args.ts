/**
 * The flags of the 1.x update and of its tools (the field's run-resinhup.sh took
 * `--hostos-version`, refused unknown options, and passed its settings on to resinhup).
 */
import { HuplabError } from '../../lib/errors.ts';
import { parseForcedValue } from './config-migrate.ts';

export interface OnexArgs {
  hostosVersion: string;
  noReboot: boolean;
  /** config.json values forced by the update (`--config key=value`, repeatable). */
  forced: Record<string, string>;
}

export function parseOnexArgs(argv: readonly string[]): OnexArgs {
  const out: OnexArgs = { hostosVersion: '', noReboot: false, forced: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new HuplabError('usage', `${a} needs a value`);
      return v;
    };
    if (a === '--hostos-version') out.hostosVersion = value();
    else if (a.startsWith('--hostos-version=')) out.hostosVersion = a.slice('--hostos-version='.length);
    else if (a === '--no-reboot') out.noReboot = true;
    else if (a === '--config') {
      const [k, v] = parseForcedValue(value());
      out.forced[k] = v;
    } else
      throw new HuplabError('usage', `unknown option ${a}`, {
        hint: 'usage: --hostos-version VERSION [--no-reboot] [--config key=value]...',
      });
  }
  // `.prod` is the field's suffix for the same release; a development build is refused there.
  out.hostosVersion = out.hostosVersion.replace(/\.prod$/, '');
  if (!/^1\.\d+\.\d+$/.test(out.hostosVersion))
    throw new HuplabError('usage', `--hostos-version is missing or not a 1.x version: "${out.hostosVersion}"`, {
      hint: 'e.g. --hostos-version 1.30.1',
    });
  return out;
}

/** The tools' command line for the same settings (the updater passes them on). */
export function toolsArgs(a: OnexArgs): string[] {
  return [
    '--hostos-version',
    a.hostosVersion,
    ...Object.entries(a.forced).flatMap(([k, v]) => ['--config', `${k}=${v}`]),
  ];
}
