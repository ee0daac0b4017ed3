import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as Z, createBrotliCompress } from 'node:zlib';
import { HuplabError } from '../errors.ts';
import type { LayerEntry } from './format.ts';
import {
  BROTLI_WINDOW_BITS,
  DELTA_FORMAT_2,
  type DeltaEntry2,
  type DeltaManifest2,
  listingDigest,
  listingLine,
  MAGIC,
  patchBaseLine,
  serializeManifest2,
} from './format2.ts';
import { listLayer, openGzipTar, toLayerEntry } from './layer.ts';
import { patchBytes, planPatch } from './patch-encoder.ts';

export interface CreateDelta2Result {
  /** Target entries taken from the running root as they are, listed nowhere. */
  kept: number;
  filesPatched: number;
  filesShipped: number;
  filesFromBase: number;
  /** Payload bytes before compression (patches plus whole files). */
  payloadBytes: number;
  manifestBytes: number;
  deltaBytes: number;
}

/** A patch is shipped when it leaves compression less than this share of the file's bytes. */
const PATCH_WORTH = 0.6;
/** Files larger than this are shipped whole (the host holds both versions in memory). */
const MAX_PATCH_INPUT = 1 << 30;

/** A planned content: its first entry, and the base file a patch would start from. */
interface Needed {
  entry: DeltaEntry2;
  base?: LayerEntry;
}

const parentOf = (p: string) => (p.includes('/') ? dirname(p) : '.');

/**
 * Decides, for every target entry, whether the device takes it from the running root as it is
 * (kept: listed nowhere), copies it from another base path, or needs content from the delta (a
 * patch against the base's file at the same path or at a similar one, or the file whole: the
 * choice is made later, when the contents are at hand). Payload-dependent fields (patchBases)
 * are filled in by the caller.
 */
export function planDelta2(
  from: { entries: LayerEntry[] },
  to: { entries: LayerEntry[] },
): { manifest: DeltaManifest2; needed: Needed[]; kept: number } {
  const fromByPath = new Map(from.entries.map((e) => [e.path, e]));
  const toDirs = new Set(to.entries.filter((e) => e.type === 'directory').map((e) => e.path));
  const baseBySha = new Map<string, string>();
  for (const e of from.entries) if (e.type === 'file' && !baseBySha.has(e.sha256!)) baseBySha.set(e.sha256!, e.path);
  const similar = similarPaths(from.entries);
  // A release stamps its date on every file: the most common mtime is every kept entry's.
  const mtime = mostCommon(to.entries.map((e) => e.mtime).filter(Number.isSafeInteger)) ?? 0;

  const keptLines: string[] = [];
  const keptPaths = new Set<string>();
  const walk = new Set<string>();
  const entries: DeltaEntry2[] = [];
  const needed = new Map<string, Needed>();
  for (const e of to.entries) {
    const b = fromByPath.get(e.path);
    const parent = parentOf(e.path);
    if (
      (e.type === 'file' || e.type === 'symlink') &&
      b &&
      sameButMtime(b, e) &&
      e.mtime === mtime &&
      Number.isInteger(b.mtime) &&
      toDirs.has(parent) &&
      (parent === '.' || fromByPath.get(parent)?.type === 'directory')
    ) {
      keptLines.push(listingLine(b));
      keptPaths.add(e.path);
      walk.add(parent);
      continue;
    }
    if (e.type !== 'file') {
      entries.push({ ...e });
      continue;
    }
    const inBase = b?.type === 'file' && b.sha256 === e.sha256 ? e.path : baseBySha.get(e.sha256!);
    if (inBase !== undefined) {
      entries.push({ ...e, source: 'base', ...(inBase === e.path ? {} : { basePath: inBase }) });
      continue;
    }
    const entry: DeltaEntry2 = { ...e, source: 'blob' };
    entries.push(entry);
    if (needed.has(e.sha256!)) continue;
    const base = b?.type === 'file' ? b : similar(e.path);
    const usable = base && base.size > 0 && base.size <= MAX_PATCH_INPUT && e.size > 0 && e.size <= MAX_PATCH_INPUT;
    needed.set(e.sha256!, usable ? { entry, base } : { entry });
  }
  for (const e of entries) if (walk.has(e.path)) e.walk = true;
  const explicit = new Set(entries.map((e) => e.path));
  const dropped = from.entries
    .filter((b) => b.type !== 'directory' && walk.has(parentOf(b.path)))
    .filter((b) => !explicit.has(b.path) && !keptPaths.has(b.path))
    .map((b) => b.path);
  return {
    manifest: {
      format: DELTA_FORMAT_2,
      mtime,
      entries,
      dropped,
      keptDigest: listingDigest(keptLines),
      patchBases: listingDigest([]),
      treeDigest: listingDigest(to.entries.map(listingLine)),
    },
    needed: [...needed.values()],
    kept: keptLines.length,
  };
}

/**
 * Host side of format 2 (format2.ts): plans (planDelta2), makes each needed content a patch
 * when that pays and the whole file otherwise, then writes the magic and one brotli stream.
 */
export async function createDelta2(opts: {
  fromLayer: string;
  toLayer: string;
  out: string;
}): Promise<CreateDelta2Result> {
  const from = await listLayer(opts.fromLayer);
  const to = await listLayer(opts.toLayer);
  const { manifest, needed, kept } = planDelta2(from, to);
  const work = `${opts.out}.work-${process.pid}`;
  const tmp = `${opts.out}.tmp-${process.pid}`;
  await mkdir(work, { recursive: true });
  try {
    const baseFiles = await saveBaseFiles(opts.fromLayer, from.diffId, needed, work);
    const payload: string[] = [];
    let payloadBytes = 0;
    const bySha = new Map(needed.map((n) => [n.entry.sha256!, n]));
    const shaByPath = new Map(to.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.sha256!]));
    const layer = openGzipTar(opts.toLayer);
    // The target layer lists contents in the same order as `entries`: the payload follows it.
    for await (const m of layer.entries) {
      if (m.type !== 'file') continue;
      const sha = shaByPath.get(toLayerEntry(m).path);
      const n = sha === undefined ? undefined : bySha.get(sha);
      if (!n) continue;
      bySha.delete(sha!);
      const neu = await bodyOf(m.body, sha!, opts.toLayer);
      let bytes: Buffer[] = [neu];
      const oldFile = n.base ? baseFiles.get(n.base.path) : undefined;
      if (n.base && oldFile) {
        const old = await readFile(oldFile);
        const plan = planPatch(old, neu);
        if (plan.cost < neu.length * PATCH_WORTH) {
          bytes = [...patchBytes(plan, old, neu)];
          Object.assign(n.entry, { source: 'patch', baseSize: n.base.size });
          if (n.base.path !== n.entry.path) n.entry.basePath = n.base.path;
        }
      }
      const file = join(work, `payload-${payload.length}`);
      await writeFile(file, bytes);
      payloadBytes += bytes.reduce((a, b) => a + b.length, 0);
      payload.push(file);
    }
    if (layer.diffId() !== to.diffId || bySha.size) throw changed(opts.toLayer);
    const bases = needed
      .filter((n) => n.entry.source === 'patch')
      .map((n) => patchBaseLine(n.base!.path, n.base!.sha256!));
    manifest.patchBases = createHash('sha256').update(bases.join('')).digest('hex');

    const json = serializeManifest2(manifest);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(json.length);
    async function* stream(): AsyncGenerator<Buffer> {
      yield head;
      yield json;
      for (const f of payload) yield* createReadStream(f, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
    }
    const total = 4 + json.length + payloadBytes;
    await writeFile(tmp, MAGIC);
    await pipeline(
      stream(),
      createBrotliCompress({
        params: {
          // Quality 11 is worth its time on small deltas only; 9 keeps a 100 MB one in seconds.
          [Z.BROTLI_PARAM_QUALITY]: total <= 16 << 20 ? 11 : 9,
          [Z.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
          [Z.BROTLI_PARAM_SIZE_HINT]: total,
        },
      }),
      createWriteStream(tmp, { flags: 'a' }),
    );
    await rename(tmp, opts.out);
    const files = manifest.entries.filter((e) => e.type === 'file');
    return {
      kept,
      filesPatched: files.filter((e) => e.source === 'patch').length,
      filesShipped: files.filter((e) => e.source === 'blob').length,
      filesFromBase: files.filter((e) => e.source === 'base').length,
      payloadBytes,
      manifestBytes: json.length,
      deltaBytes: (await stat(opts.out)).size,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tmp, { force: true });
  }
}

async function bodyOf(body: AsyncIterable<Buffer>, sha256: string, layer: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  const all = Buffer.concat(parts);
  if (createHash('sha256').update(all).digest('hex') !== sha256) throw changed(layer);
  return all;
}

function changed(layer: string): HuplabError {
  return new HuplabError('delta-source-changed', `${layer} changed while the delta was being made`, {
    hint: 'run it again',
  });
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: number | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}

/** Same type, owner, mode and content (mtime aside). */
function sameButMtime(a: LayerEntry, b: LayerEntry): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.sha256 === b.sha256 &&
    a.linkname === b.linkname
  );
}

/**
 * For a path the base lacks, a base file that is probably an older version of it: the same
 * path with other numbers in it (lib/modules/6.1.0-57/... -> 6.1.0-58/..., libfoo.so.1.2 ->
 * libfoo.so.1.3), else the only base file with the same name.
 */
function similarPaths(base: LayerEntry[]): (path: string) => LayerEntry | undefined {
  const files = base.filter((e) => e.type === 'file');
  const shape = (p: string) => p.replace(/[0-9]+/g, '#');
  const byShape = new Map<string, LayerEntry>();
  const byName = new Map<string, LayerEntry | null>();
  for (const e of files) {
    if (!byShape.has(shape(e.path))) byShape.set(shape(e.path), e);
    const n = basename(e.path);
    byName.set(n, byName.has(n) ? null : e);
  }
  return (p) => byShape.get(shape(p)) ?? byName.get(basename(p)) ?? undefined;
}

/** Copies the base files the patches may start from out of the base layer. */
async function saveBaseFiles(
  fromLayer: string,
  diffId: string,
  needed: Needed[],
  work: string,
): Promise<Map<string, string>> {
  const wanted = new Map<string, string>();
  for (const n of needed) if (n.base) wanted.set(n.base.path, n.base.sha256!);
  const saved = new Map<string, string>();
  const layer = openGzipTar(fromLayer);
  for await (const m of layer.entries) {
    if (m.type !== 'file') continue;
    const path = toLayerEntry(m).path;
    const sha = wanted.get(path);
    if (sha === undefined) continue;
    const file = join(work, `base-${saved.size}`);
    await writeFile(file, await bodyOf(m.body, sha, fromLayer));
    saved.set(path, file);
  }
  if (layer.diffId() !== diffId || saved.size !== wanted.size) throw changed(fromLayer);
  return saved;
}
