import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../lib/paths.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { BUILDER_FORMAT } from './cache-entry.ts';

/** sha256 over a canonical JSON of the inputs: the identity of a build. */
export function hashInputs(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The key of a release build (release-build.ts): everything its bytes depend on. The variant is
 * in the recipe; it is also named on its own, so that a development and a production build of one
 * release can never share an entry, whatever else the recipe says.
 */
export function releaseKey(inputs: {
  recipe: { variant: Variant };
  profile: unknown;
  packages: unknown;
  node: string;
  source: string;
  tools: Record<string, string>;
}): string {
  return hashInputs({ format: BUILDER_FORMAT, variant: inputs.recipe.variant, ...inputs });
}

/**
 * The key of a disk image (index.ts): the profile, the release builds in its roots (whose keys
 * carry their variants), and the variant the image was asked for.
 */
export function imageKey(inputs: { profile: unknown; releases: string[]; variant: Variant }): string {
  return hashInputs({ format: BUILDER_FORMAT, ...inputs });
}

/**
 * The key of a supervisor image (supervisor-build.ts): the recipe, the CPU architecture, the
 * source it is bundled and packed from, and the tools whose output lands in it. Named "supervisor"
 * so that it can never equal a release's or an image's key.
 */
export function supervisorKey(inputs: {
  recipe: { version: string };
  arch: string;
  source: string;
  tools: Record<string, string>;
}): string {
  return hashInputs({ format: BUILDER_FORMAT, kind: 'supervisor', ...inputs });
}

/**
 * What goes into an OS image: the device services are bundled from updater/services and the
 * supervisor agent from updater/supervisor, with what they import; the updaters the harness hands
 * over (updater/hup, advanced, takeover) are not in it.
 */
export const IMAGE_SOURCES = [
  'images/device-files',
  'images/builder',
  'lib',
  'updater/common',
  'updater/services',
  'updater/supervisor',
  'updater/bundle.ts',
];

/**
 * What goes into a supervisor image: the agent (every file of its folder), the updater's shared
 * pieces and the lib/ code it bundles, the bundler, the builder and the OCI layout writer.
 */
export const SUPERVISOR_SOURCES = [
  'lib',
  'updater/supervisor',
  'updater/common',
  'updater/bundle.ts',
  'images/builder/supervisor-build.ts',
  'images/builder/hostapp.ts',
  'images/builder/reproducible.ts',
  'images/builder/cache-key.ts',
];

/**
 * Hash of the source that shapes an artifact (on-device files, the builder, the shared encoders),
 * so that changing any of it makes a new cache entry rather than reusing a stale one. `roots` are
 * folders and files of the repository.
 */
export async function sourceDigest(roots: readonly string[] = IMAGE_SOURCES): Promise<string> {
  const hash = createHash('sha256');
  for (const r of roots) {
    const abs = join(repoRoot, r);
    const files = r.endsWith('.ts')
      ? [abs]
      : (await readdir(abs, { recursive: true, withFileTypes: true }))
          .filter((d) => d.isFile())
          .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name))
          .sort();
    for (const f of files)
      hash
        .update(relative(repoRoot, f))
        .update('\0')
        .update(await readFile(f))
        .update('\0');
  }
  return hash.digest('hex');
}

/** Versions of the host tools whose output lands in the image. */
export async function toolVersions(): Promise<Record<string, string>> {
  const pkgs = ['grub-efi-amd64-bin', 'grub-common', 'e2fsprogs', 'dosfstools', 'mtools', 'ovmf'];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not a template
  const { stdout } = await execa('dpkg-query', ['-W', '-f', '${Package} ${Version}\n', ...pkgs], { reject: false });
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** A stable UUID (RFC 4122 layout, version 4 bits) derived from a seed, for reproducible filesystems. */
export function uuidFromSeed(seed: string): string {
  const b = createHash('sha256').update(seed).digest();
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
