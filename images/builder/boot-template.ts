import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootloaderDescription, encodeBootEnv } from '../../lib/bootenv/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { Profile } from '../../lib/profile.ts';
import { rootLabels } from '../../lib/partition/resin-1x.ts';

/** U-Boot reads partition numbers in `dev:part` as hex, and so does everything that writes them. */
const hexPart = (n: number): string => n.toString(16);

/** The variables every boot script template (boot.cmd, launcher.cfg) takes. */
export function bootTemplateVars(profile: Profile): Record<string, string> {
  const roots = bootloaderDescription(profile).rootPartitions;
  const labels = rootLabels(profile.layout);
  return {
    ROOT_A: hexPart(roots.A),
    ROOT_B: hexPart(roots.B),
    ROOT_A_LABEL: labels.A,
    ROOT_B_LABEL: labels.B,
    LIMIT: String(profile.bootloader.bootCountLimit),
    CMDLINE: profile.kernel.cmdline,
  };
}

/** The env files of a freshly flashed device (root A, no update pending), in the profile's formats. */
export async function writeInitialBootEnv(bootDir: string, profile: Profile): Promise<void> {
  const desc = bootloaderDescription(profile);
  const files = encodeBootEnv(desc, { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
  await writeFile(join(bootDir, desc.envFile), files.env);
  if (desc.countFile && files.count) await writeFile(join(bootDir, desc.countFile), files.count);
}

export function fillTemplate(text: string, vars: Record<string, string>, name: string): string {
  let out = text;
  for (const [k, v] of Object.entries(vars)) out = out.replaceAll(`@@${k}@@`, v);
  const left = /@@[A-Z_]+@@/.exec(out);
  if (left) throw new HuplabError('template-invalid', `${name}: unfilled template variable ${left[0]}`);
  return out;
}
