/**
 * Device profiles (devices/<name>.json). A profile is the single description of a device type
 * that the image builder, the drivers and the suites all read, so a mistake in one must be
 * caught when it is loaded, with a message that points at the exact field.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { HuplabError } from './errors.ts';
import { readConfiguredDir } from './paths.ts';
import { schemaProblems, type SchemaProblem } from './json-schema.ts';
import type { PartitionSpec, PartitionTableKind } from './partition/layout.ts';
import { LAYOUT_1X, RESIN_1X_PARTITIONS } from './partition/resin-1x.ts';

// The partition types live with the layout that places them, so the layout imports nothing from here.
export { partitionLayout, diskSizeBytes, type PartitionSlot } from './partition/layout.ts';
export type { FsKind, PartitionSpec, PartitionTableKind } from './partition/layout.ts';

export type Arch = 'amd64' | 'arm64' | 'armhf';

export interface GrubBootloader {
  kind: 'grub-efi';
  envFile: string;
  bootCountLimit: number;
}
export interface CountingBootloader {
  kind: 'u-boot' | 'uefi-launcher';
  envFile: string;
  countFile: string;
  bootCountLimit: number;
}
export type Bootloader = GrubBootloader | CountingBootloader;

export interface KernelSpec {
  debianPackage: string;
  modules: string[];
  cmdline: string;
  /** Relative to the kernel package's dtb directory; copied to resin-boot under its base name. */
  dtb?: string;
  /** The kernel's architecture when it is not the userland's. */
  arch?: Arch;
}

export interface ConsoleSpec {
  device: string;
  baud: number;
}

export interface QemuFirmware {
  code: string;
  vars?: string;
  debianPackage: string;
  loadAs: 'pflash' | 'kernel';
  writableFlash: boolean;
}

export interface QemuSpec {
  binary: string;
  machine: string;
  cpu: string;
  memoryMiB: number;
  smp: number;
  firmware?: QemuFirmware;
  dtb?: string;
  disk: { interface: 'virtio' | 'sd' | 'nvme' };
  net: { device: string };
  serialIndex: number;
  tcgThread?: 'single' | 'multi';
  extraArgs: string[];
}

/** A validated profile; optional fields with a schema default are always filled in. */
export interface Profile {
  name: string;
  deviceType: string;
  description: string;
  arch: Arch;
  /** The partition layout id of the profile's OS line; releases must carry the same one. */
  layout: string;
  bootloader: Bootloader;
  partitionTable: PartitionTableKind;
  partitions: PartitionSpec[];
  alignMiB: number;
  kernel: KernelSpec;
  console: ConsoleSpec;
  /** The board's boot flash and the firmware this OS line ships for it (JetPack 5's QSPI). */
  bootFlash?: BootFlashSpec;
  /** Absent for a device type tested only on real boards (harness/board/inventory.ts). */
  qemu?: QemuSpec;
}

export interface BootFlashSpec {
  firmware: string;
  debianPackage: string;
  physBase: number;
  bankBytes: number;
}

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEVICES_DIR = process.env.HUPLAB_DEVICES ?? path.join(REPO_ROOT, 'devices');
export const PROFILE_SCHEMA_PATH = fileURLToPath(new URL('./profile.schema.json', import.meta.url));

export const BALENA_PARTITIONS = [
  { label: 'resin-boot', fs: 'vfat' },
  { label: 'resin-rootA', fs: 'ext4' },
  { label: 'resin-rootB', fs: 'ext4' },
  { label: 'resin-state', fs: 'ext4' },
  { label: 'resin-data', fs: 'ext4' },
] as const;

/** The partitions a profile of `layout` must have, in order: the 1.x line's, or the A/B line's. */
export function osPartitionsFor(layout: string): ReadonlyArray<{ label: string; fs: string }> {
  return layout === LAYOUT_1X ? RESIN_1X_PARTITIONS : BALENA_PARTITIONS;
}

const HINT = 'fix the profile; see lib/profile.schema.json';

export type ProfileProblem = SchemaProblem;

export class ProfileError extends HuplabError {
  readonly file: string;
  readonly problems: ProfileProblem[];

  constructor(file: string, problems: ProfileProblem[]) {
    const text = problems.map((p) => (p.pointer ? `${p.pointer} ${p.message}` : p.message)).join('; ');
    super('profile-invalid', `${file}: ${text}`, { hint: HINT });
    this.file = file;
    this.problems = problems;
  }
}

let validator: ValidateFunction | undefined;

function getValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(PROFILE_SCHEMA_PATH, 'utf8')) as object;
    // verbose: the formatter needs the failing schema (to list allowed keys) and the data.
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false });
    validator = ajv.compile(schema);
  }
  return validator;
}

const QEMU_FOR_ARCH: Record<Arch, string[]> = {
  amd64: ['qemu-system-x86_64'],
  arm64: ['qemu-system-aarch64'],
  armhf: ['qemu-system-arm', 'qemu-system-aarch64'],
};

/** Rules JSON Schema cannot express; only run on data that already has the schema's shape. */
function crossFieldProblems(p: Profile, file: string): ProfileProblem[] {
  const problems: ProfileProblem[] = [];
  const expectedName = path.basename(file).replace(/\.json$/, '');
  if (p.name !== expectedName) {
    problems.push({
      pointer: '/name',
      message: `is ${JSON.stringify(p.name)} but must equal the file name ${JSON.stringify(expectedName)}`,
    });
  }

  const firstSeen = new Map<string, number>();
  let duplicates = false;
  p.partitions.forEach((part, i) => {
    const before = firstSeen.get(part.label);
    if (before === undefined) {
      firstSeen.set(part.label, i);
    } else {
      duplicates = true;
      problems.push({
        pointer: `/partitions/${i}/label`,
        message: `${JSON.stringify(part.label)} is already used by /partitions/${before}`,
      });
    }
  });
  const wanted = osPartitionsFor(p.layout);
  const balenaLabels: readonly string[] = wanted.map((b) => b.label);
  const missing = wanted.filter((b) => !firstSeen.has(b.label));
  for (const b of missing) {
    problems.push({ pointer: '/partitions', message: `must contain a partition labelled ${JSON.stringify(b.label)}` });
  }
  if (!duplicates && missing.length === 0) {
    const first = p.partitions.findIndex((part) => balenaLabels.includes(part.label));
    // After the first misplaced label every later one is misplaced too; report only that one.
    let orderReported = false;
    p.partitions.forEach((part, i) => {
      if (i < first) {
        if (part.fs !== 'raw') {
          problems.push({
            pointer: `/partitions/${i}/fs`,
            message: `must be "raw": only vendor partitions may come before resin-boot`,
          });
        }
        return;
      }
      const want = wanted[i - first];
      if (want?.label !== part.label) {
        if (orderReported) return;
        orderReported = true;
        const message = want
          ? `must be ${JSON.stringify(want.label)}: the balenaOS partitions come last, in the order ${balenaLabels.join(', ')}`
          : `${JSON.stringify(part.label)} must come before resin-boot: the balenaOS partitions come last`;
        problems.push({ pointer: `/partitions/${i}/label`, message });
      } else if (part.fs !== want.fs) {
        problems.push({
          pointer: `/partitions/${i}/fs`,
          message: `must be ${JSON.stringify(want.fs)} for ${want.label}`,
        });
      }
    });
  }

  if (p.qemu) {
    const ok = QEMU_FOR_ARCH[p.arch];
    if (!ok.includes(p.qemu.binary)) {
      problems.push({
        pointer: '/qemu/binary',
        message: `${p.qemu.binary} does not run arch ${p.arch} (use ${ok.join(' or ')})`,
      });
    }
  }
  return problems;
}

/**
 * Validates parsed JSON. `file` is only used in messages and for the name check. The input is
 * not modified; the result is a copy with schema defaults filled in.
 */
export function validateProfile(data: unknown, file: string): Profile {
  const copy: unknown = structuredClone(data);
  const validate = getValidator();
  if (!validate(copy)) throw new ProfileError(file, schemaProblems(validate.errors ?? []));
  const profile = copy as Profile;
  const problems = crossFieldProblems(profile, file);
  if (problems.length > 0) throw new ProfileError(file, problems);
  return profile;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

export function parseProfileJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    const lc = /\(line (\d+) column (\d+)\)/.exec(raw);
    const pos = /at position (\d+)/.exec(raw);
    const where = lc
      ? { line: Number(lc[1]), column: Number(lc[2]) }
      : lineAndColumn(text, pos ? Number(pos[1]) : text.length);
    const reason = raw.replace(/\s*in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)/, '');
    throw new HuplabError('profile-invalid-json', `${file}:${where.line}:${where.column}: invalid JSON: ${reason}`, {
      hint: 'fix the JSON syntax; comments and trailing commas are not allowed',
      cause: err,
    });
  }
}

/** Profile names in `dir`, sorted. */
export async function listProfiles(dir: string = DEVICES_DIR): Promise<string[]> {
  const entries = await readConfiguredDir(dir, 'HUPLAB_DEVICES', 'device profiles');
  return entries
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

export async function loadProfile(name: string, dir: string = DEVICES_DIR): Promise<Profile> {
  const unknown = async (): Promise<HuplabError> => {
    const known = await listProfiles(dir);
    return new HuplabError(
      'unknown-device',
      `unknown device ${JSON.stringify(name)}; known: ${known.length ? known.join(', ') : `none in ${displayPath(dir)}`}`,
      { hint: `pick a known device or add ${path.join(displayPath(dir), `${name}.json`)}` },
    );
  };
  // Names come from the command line; never let one walk out of the devices folder.
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    const err = await unknown();
    throw new HuplabError(err.code, err.message, { hint: 'device names are lowercase letters, digits and dashes' });
  }
  const file = path.join(dir, `${name}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw await unknown();
    throw new HuplabError('profile-unreadable', `${displayPath(file)}: ${(err as Error).message}`, { cause: err });
  }
  const shown = displayPath(file);
  return validateProfile(parseProfileJson(text, shown), shown);
}
