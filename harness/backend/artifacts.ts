import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { createDelta, createDelta2 } from '../../lib/delta/index.ts';
import { cacheDir, repoRoot } from '../../lib/paths.ts';
import type { ReleaseBuild } from '../../images/builder/index.ts';
import { checkFile, FILE_RECORD_SUFFIX, recordFile, reuse } from '../../images/builder/cache-verify.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { bundleForDevice, HUP_ENTRY } from '../../updater/bundle.ts';
import { ONEX_TOOL } from '../../lib/contract/onex.ts';

function layerPath(b: ReleaseBuild): string {
  return join(b.hostapp.dir, 'blobs', 'sha256', b.hostapp.layer.digest.slice(7));
}

/** The delta formats the backend makes for every pair: format 1 for updaters that read nothing newer. */
export const DELTA_FORMATS_MADE = [1, 2] as const;

/**
 * The delta between two releases' hostapps in one format, made once and cached by the two layer
 * digests (checked at each use).
 */
export async function deltaBetween(
  from: ReleaseBuild,
  to: ReleaseBuild,
  narrator: Narrator = silentNarrator,
  format: (typeof DELTA_FORMATS_MADE)[number] = 1,
): Promise<string> {
  const dir = join(cacheDir(), 'deltas');
  const pair = `${from.hostapp.layer.digest.slice(7, 23)}-${to.hostapp.layer.digest.slice(7, 23)}`;
  const out = join(dir, format === 1 ? `${pair}.delta` : `${pair}.f${format}.delta`);
  if (await reuseFile(`delta ${from.version} -> ${to.version} (format ${format})`, out, narrator)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    const make = format === 1 ? createDelta : createDelta2;
    await make({ fromLayer: layerPath(from), toLayer: layerPath(to), out: tmp });
    await recordFile(tmp, out);
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

/** An updater bundle the backend hands to devices (standard or advanced), rebuilt when its sources change. */
export async function updaterBundle(entry = HUP_ENTRY, name = 'hup'): Promise<{ path: string; sha256: string }> {
  const tmp = join(cacheDir(), 'updater', `${name}-${process.pid}.mjs`);
  await bundleForDevice(entry, tmp);
  const sha256 = createHash('sha256').update(readFileSync(tmp)).digest('hex');
  const path = join(cacheDir(), 'updater', `${name}-${sha256.slice(0, 16)}.mjs`);
  await rename(tmp, path);
  return { path, sha256 };
}

/** Compilers for takeover's native tools, by Debian architecture (bootstrap.sh installs them). */
const CC: Record<string, string> = { arm64: 'aarch64-linux-gnu-gcc', amd64: 'gcc' };

/** Takeover's native tools (updater/takeover/<name>.c): the disk writer and the boot flash writer. */
export const TAKEOVER_TOOLS = ['simg-flash', 'cfi-flash'] as const;

/** The native tools the backend serves (GET /v1/takeover/<name>-<arch>), by their C source. */
const TOOL_SOURCES: Record<NativeTool, string> = {
  'simg-flash': 'updater/takeover/simg-flash.c',
  'cfi-flash': 'updater/takeover/cfi-flash.c',
  // The 1.x -> 2.x migration's partition tool (a 1.x image cannot tell a busy disk's kernel of a new table).
  [ONEX_TOOL]: 'updater/onex/blkpg-part.c',
};
export type NativeTool = (typeof TAKEOVER_TOOLS)[number] | typeof ONEX_TOOL;

/**
 * One of takeover's tools built for a device architecture: static, so it runs from the RAM
 * filesystem once the disk is gone; cached by the source's digest.
 */
export async function takeoverTool(
  tool: NativeTool,
  arch: string,
  narrator: Narrator = silentNarrator,
): Promise<{ name: string; path: string; sha256: string }> {
  const cc = CC[arch];
  if (!cc)
    throw new HuplabError(
      'unsupported-arch',
      `no compiler for ${arch}: takeover's tools are built for ${Object.keys(CC).join(', ')}`,
    );
  const source = join(repoRoot, TOOL_SOURCES[tool]);
  const srcDigest = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const name = `${tool}-${arch}`;
  const path = join(cacheDir(), 'updater', `${name}-${srcDigest}`);
  if (!(await reuseFile(`takeover tool ${name}`, path, narrator))) {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    await execa(cc, ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', tmp, source]).catch(
      (err: unknown) => {
        throw new HuplabError(
          'build-failed',
          `cannot build ${name} with ${cc}: ${(err as { shortMessage?: string }).shortMessage ?? String(err)}`,
          {
            hint: `install the compiler: \`sh scripts/bootstrap.sh${arch === 'amd64' ? '' : ' cross'}\``,
            infrastructure: true,
          },
        );
      },
    );
    await recordFile(tmp, path);
    await rename(tmp, path);
  }
  return { name, path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

/** A single-file cache entry with its record beside it: reused only when intact. */
function reuseFile(what: string, path: string, narrator: Narrator): Promise<boolean> {
  return reuse({ what, path, also: [`${path}${FILE_RECORD_SUFFIX}`], check: () => checkFile(path), narrator });
}
