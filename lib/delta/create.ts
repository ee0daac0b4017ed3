import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { HuplabError } from '../errors.ts';
import type { TarWriteEntry } from '../tar/writer.ts';
import { writeTar } from '../tar/writer.ts';
import {
  blobName,
  DELTA_FORMAT,
  MANIFEST_NAME,
  type DeltaEntry,
  type DeltaManifest,
  type LayerEntry,
} from './format.ts';
import { listLayer, openGzipTar, toLayerEntry } from './layer.ts';

export interface CreateDeltaResult {
  from: string;
  to: string;
  entries: number;
  filesFromDelta: number;
  filesFromBase: number;
  /** Distinct contents shipped, and their uncompressed bytes. */
  blobs: number;
  blobBytes: number;
  /** Size of the delta file written. */
  deltaBytes: number;
}

/**
 * Host side: the delta that turns the root filesystem of `fromLayer` into that of `toLayer`
 * (both gzip tar layers). Three streaming passes, nothing held in memory but the listings:
 * list the base, list the target, then copy the new contents out of the target layer.
 */
export async function createDelta(opts: {
  fromLayer: string;
  toLayer: string;
  out: string;
}): Promise<CreateDeltaResult> {
  const from = await listLayer(opts.fromLayer);
  const to = await listLayer(opts.toLayer);
  const manifest = planDelta(from, to);
  // Each distinct new content once, taken from its first file in the target layer.
  const needed = new Set(
    manifest.entries.filter((e) => e.type === 'file' && e.source === 'delta').map((e) => e.sha256!),
  );

  const shaByPath = new Map(to.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.sha256!]));
  const tmp = `${opts.out}.tmp-${process.pid}`;
  const layer = openGzipTar(opts.toLayer);
  async function* members(): AsyncGenerator<TarWriteEntry> {
    const json = Buffer.from(JSON.stringify(manifest));
    yield { path: MANIFEST_NAME, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: json.length, body: json };
    for await (const e of layer.entries) {
      if (e.type !== 'file') continue;
      const path = toLayerEntry(e).path;
      const sha = shaByPath.get(path);
      if (sha === undefined || !needed.has(sha)) continue;
      needed.delete(sha);
      // Fixed metadata: the delta's bytes depend on the two layers only.
      yield {
        path: blobName(sha),
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: e.size,
        body: checked(e.body, sha, path),
      };
    }
  }
  try {
    await pipeline(writeTar(members()), createGzip({ level: 9 }), createWriteStream(tmp));
    if (layer.diffId() !== to.diffId) {
      throw new HuplabError('delta-source-changed', `${opts.toLayer} changed while the delta was being made`, {
        hint: 'run it again',
      });
    }
    if (needed.size)
      throw new HuplabError(
        'delta-source-changed',
        `${opts.toLayer}: ${needed.size} contents listed but not found on the second read`,
      );
    await rename(tmp, opts.out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const files = manifest.entries.filter((e) => e.type === 'file');
  const shipped = new Map<string, number>();
  for (const e of files) if (e.source === 'delta') shipped.set(e.sha256!, e.size);
  return {
    from: manifest.from,
    to: manifest.to,
    entries: manifest.entries.length,
    filesFromDelta: files.filter((e) => e.source === 'delta').length,
    filesFromBase: files.filter((e) => e.source === 'base').length,
    blobs: shipped.size,
    blobBytes: [...shipped.values()].reduce((a, b) => a + b, 0),
    deltaBytes: (await stat(opts.out)).size,
  };
}

/**
 * Decides, for every target file, whether the base already has its content (same path
 * preferred, else any path with the same hash) or the delta must carry it.
 */
export function planDelta(
  from: { diffId: string; entries: LayerEntry[] },
  to: { diffId: string; entries: LayerEntry[] },
): DeltaManifest {
  const basePaths = new Map<string, string>();
  const fromByPath = new Map(from.entries.map((e) => [e.path, e]));
  for (const e of from.entries) if (e.type === 'file' && !basePaths.has(e.sha256!)) basePaths.set(e.sha256!, e.path);
  const entries: DeltaEntry[] = to.entries.map((e) => {
    if (e.type !== 'file') return { ...e, source: 'delta' };
    const same = fromByPath.get(e.path);
    if (same?.type === 'file' && same.sha256 === e.sha256) return { ...e, source: 'base' };
    const elsewhere = basePaths.get(e.sha256!);
    return elsewhere === undefined ? { ...e, source: 'delta' } : { ...e, source: 'base', basePath: elsewhere };
  });
  const toPaths = new Set(to.entries.map((e) => e.path));
  return {
    format: DELTA_FORMAT,
    from: from.diffId,
    to: to.diffId,
    entries,
    removed: from.entries.filter((e) => !toPaths.has(e.path)).map((e) => e.path),
  };
}

/** Passes a body through, failing if it no longer hashes to what the listing pass saw. */
async function* checked(body: AsyncIterable<Buffer>, sha256: string, path: string): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of body) {
    h.update(chunk);
    yield chunk;
  }
  if (h.digest('hex') !== sha256)
    throw new HuplabError('delta-source-changed', `${path} changed while the delta was being made`, {
      hint: 'run it again',
    });
}
