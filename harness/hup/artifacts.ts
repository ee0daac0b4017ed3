import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createDelta } from '../../lib/delta/index.ts';
import { cacheDir } from '../../lib/paths.ts';
import type { ReleaseBuild } from '../../images/builder/index.ts';
import { bundleForDevice, HUP_ENTRY } from '../../updater/bundle.ts';

function layerPath(b: ReleaseBuild): string {
  return join(b.hostapp.dir, 'blobs', 'sha256', b.hostapp.layer.digest.slice(7));
}

/** The delta between two releases' hostapps, made once and cached by the two layer digests. */
export async function deltaBetween(from: ReleaseBuild, to: ReleaseBuild): Promise<string> {
  const dir = join(cacheDir(), 'deltas');
  const out = join(dir, `${from.hostapp.layer.digest.slice(7, 23)}-${to.hostapp.layer.digest.slice(7, 23)}.delta`);
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await createDelta({ fromLayer: layerPath(from), toLayer: layerPath(to), out: tmp });
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

/** The updater bundle the backend hands to devices, rebuilt when its sources change. */
export async function updaterBundle(): Promise<{ path: string; sha256: string }> {
  const tmp = join(cacheDir(), 'updater', `hup-${process.pid}.mjs`);
  await bundleForDevice(HUP_ENTRY, tmp);
  const sha256 = createHash('sha256').update(readFileSync(tmp)).digest('hex');
  const path = join(cacheDir(), 'updater', `hup-${sha256.slice(0, 16)}.mjs`);
  await rename(tmp, path);
  return { path, sha256 };
}
