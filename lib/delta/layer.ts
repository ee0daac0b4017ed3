import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { HuplabError } from '../errors.ts';
import type { TarEntry } from '../tar/entry.ts';
import { readTar } from '../tar/reader.ts';
import { normalizeMemberPath } from '../tar/safe-path.ts';
import type { LayerEntry } from './format.ts';

/**
 * The uncompressed bytes of a gzip file as a stream of chunks. `diffId()` is their SHA-256
 * (the OCI diffId of a layer), complete once the chunks have been read to the end.
 */
export function gunzipFile(path: string): { chunks: AsyncGenerator<Buffer>; diffId: () => string } {
  const hash = createHash('sha256');
  // The callback form of pipeline destroys every stage on error, so a missing file or a
  // corrupt gzip surfaces as an error from the iteration below instead of a hang.
  const gunzipped = pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    createGunzip({ chunkSize: 1 << 18 }),
    () => {},
  );
  async function* tap(): AsyncGenerator<Buffer> {
    for await (const chunk of gunzipped as AsyncIterable<Buffer>) {
      hash.update(chunk);
      yield chunk;
    }
  }
  let digest: string | undefined;
  return { chunks: tap(), diffId: () => (digest ??= `sha256:${hash.digest('hex')}`) };
}

/** A gzip tar (an OCI layer or a delta), member by member; see gunzipFile for diffId. */
export function openGzipTar(path: string): { entries: AsyncGenerator<TarEntry>; diffId: () => string } {
  const { chunks, diffId } = gunzipFile(path);
  return { entries: readTar(chunks), diffId };
}

/** Reduces a tar member's header to a listing entry (hash filled in by the caller for files). */
export function toLayerEntry(e: TarEntry): LayerEntry {
  return {
    path: normalizeMemberPath(e.path),
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    size: e.type === 'file' ? e.size : 0,
    ...(e.type === 'symlink' ? { linkname: e.linkname ?? '' } : {}),
    ...(e.type === 'hardlink' ? { linkname: normalizeMemberPath(e.linkname ?? '') } : {}),
  };
}

export async function sha256Of(body: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of body) h.update(chunk);
  return h.digest('hex');
}

/**
 * Every member of a layer with the SHA-256 of each file's content, in layer order. A path that
 * appears twice is refused: a tar of one directory never has that, and a delta built from such
 * a layer could not tell which version to ship.
 */
export async function listLayer(path: string): Promise<{ diffId: string; entries: LayerEntry[] }> {
  const layer = openGzipTar(path);
  const byPath = new Map<string, LayerEntry>();
  for await (const e of layer.entries) {
    const entry = toLayerEntry(e);
    if (e.type === 'file') entry.sha256 = await sha256Of(e.body);
    if (byPath.has(entry.path)) {
      throw new HuplabError('delta-layer-invalid', `${path}: ${entry.path} appears twice in the layer`, {
        hint: 'build the layer from a single directory tree',
      });
    }
    byPath.set(entry.path, entry);
  }
  return { diffId: layer.diffId(), entries: [...byPath.values()] };
}
