import { extractTar } from '../tar/extract.ts';
import type { TarEntryHeader } from '../tar/entry.ts';
import { gunzipFile } from './layer.ts';
import { clearTargetRoot, emptyTargetRoot } from './target-root.ts';

/**
 * The full-image path: extracts a hostapp layer (gzip tar) into the empty `targetRoot`. The
 * layer's blob digest is the caller's to check before; the diffId computed on the way is
 * returned for the record. On failure the target is emptied again.
 */
export async function applyLayer(opts: {
  layer: string;
  targetRoot: string;
  onEntry?: (entry: TarEntryHeader) => void;
}): Promise<{ entries: number; bytesWritten: number; diffId: string }> {
  const target = await emptyTargetRoot(opts.targetRoot);
  const layer = gunzipFile(opts.layer);
  try {
    const r = await extractTar(layer.chunks, target, opts.onEntry ? { onEntry: opts.onEntry } : {});
    return { entries: r.entries, bytesWritten: r.bytes, diffId: layer.diffId() };
  } catch (err) {
    await clearTargetRoot(target);
    throw err;
  }
}
