/**
 * config.json across a resinOS 1.x update, as the field's resinhup migrated it: up to 1.11 it
 * lived on resin-conf (/mnt/conf), from 1.12 on the boot partition, so an update across 1.12
 * moves it; and the values the update is told to force (the field forced its endpoints) are set.
 * Pure: the caller reads and writes the files.
 */
import { HuplabError } from '../../lib/errors.ts';
import { configJsonPlace1x } from '../../lib/partition/resin-1x.ts';

export type ConfigJson = Record<string, unknown>;

export interface ConfigMigration {
  /** The config.json the new OS reads. */
  config: ConfigJson;
  /** Where the new OS reads it. */
  place: 'resin-boot' | 'resin-conf';
  /** What changed, one line each, for the log. */
  changes: string[];
}

export function migrateConfigJson(opts: {
  /** config.json on the boot partition, if there is one. */
  boot: ConfigJson | undefined;
  /** config.json on resin-conf, if there is one. */
  conf: ConfigJson | undefined;
  /** The release the device updates to. */
  target: string;
  /** Values forced into it (`--config key=value`). */
  forced?: Record<string, string>;
}): ConfigMigration {
  const place = configJsonPlace1x(opts.target).partition;
  const changes: string[] = [];
  let config: ConfigJson;
  // The one the running OS reads wins: from 1.12 the boot partition's.
  if (opts.boot) config = { ...opts.boot };
  else if (opts.conf) config = { ...opts.conf };
  else
    throw new HuplabError('config-missing', 'no config.json on the boot partition nor on resin-conf', {
      hint: 'the device cannot be updated without its configuration; reprovision it',
    });
  if (place === 'resin-boot' && !opts.boot) changes.push('config.json moved from resin-conf to the boot partition');
  for (const [key, value] of Object.entries(opts.forced ?? {})) {
    if (config[key] === value) continue;
    changes.push(`${key} set to ${value}${config[key] === undefined ? '' : ` (was ${JSON.stringify(config[key])})`}`);
    config[key] = value;
  }
  return { config, place, changes };
}

/** `key=value` of `--config`, checked: a config.json key and a non-empty value. */
export function parseForcedValue(text: string): [string, string] {
  const m = /^([A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(text);
  if (!m) throw new HuplabError('usage', `--config takes key=value, not "${text}"`);
  return [m[1]!, m[2]!];
}
