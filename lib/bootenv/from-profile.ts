/**
 * The bootloader description of a device profile: what the image builder writes to
 * /etc/huplab/bootloader.json and what the harness decodes a device's env files with.
 */
import { HuplabError } from '../errors.ts';
import { partitionLayout } from '../partition/layout.ts';
import { rootLabels } from '../partition/resin-1x.ts';
import type { Profile } from '../profile.ts';
import { validateBootloaderDescription, type BootloaderDescription } from './description.ts';

export type BootloaderProfile = Pick<Profile, 'name' | 'bootloader' | 'partitionTable' | 'partitions' | 'alignMiB'> & {
  /** The profile's layout: which labels the two roots have (lib/partition/resin-1x.ts). */
  layout?: string;
};

export function bootloaderDescription(profile: BootloaderProfile): BootloaderDescription {
  // The partition NUMBER, as the kernel and the bootloader count: partitionLayout's `index`, not
  // the position in the list, because on MBR with more than four partitions the fourth slot is
  // the extended container and logical partitions are numbered from 5.
  const layout = partitionLayout(profile);
  const number = (label: string): number => {
    const slot = layout.find((s) => s.label === label);
    if (!slot)
      throw new HuplabError('profile-invalid', `${profile.name}: no partition labelled ${label}`, {
        hint: 'fix the profile; see lib/profile.schema.json',
      });
    return slot.index;
  };
  const { kind, envFile, bootCountLimit } = profile.bootloader;
  const labels = rootLabels(profile.layout);
  return validateBootloaderDescription(
    {
      kind,
      envFile,
      ...('countFile' in profile.bootloader ? { countFile: profile.bootloader.countFile } : {}),
      bootCountLimit,
      rootPartitions: { A: number(labels.A), B: number(labels.B) },
    },
    `profile ${profile.name} /bootloader`,
  );
}
