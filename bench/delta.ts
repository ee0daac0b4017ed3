import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import { buildImage } from '../images/builder/index.ts';
import { applyDelta, createDelta, createDelta2 } from '../lib/delta/index.ts';
import { bundleForDevice } from '../updater/bundle.ts';
import { seconds, table } from './stats.ts';
import { snapshotTree } from './tree-snapshot.ts';

/** The release pairs measured, generic-amd64 (recipes in images/releases). */
export const DELTA_PAIRS = [
  { kind: 'patch', from: '2.102.0', to: '2.102.1', what: 'a few text files' },
  { kind: 'runtime', from: '2.88.2', to: '2.88.3', what: 'Node.js 20.19.6 -> 20.20.2' },
  { kind: 'package', from: '2.88.2', to: '2.88.4', what: 'libc6 2.36-9+deb12u7 -> deb12u14' },
  { kind: 'minor', from: '2.88.2', to: '2.88.5', what: 'Node.js, libc6, zlib1g and a file' },
] as const;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await fn();
  return { ms: Date.now() - started, value };
}

async function release(version: string) {
  const b = (await buildImage({ device: 'generic-amd64', release: version })).releaseBuilds.find(
    (x) => x.version === version,
  )!;
  return { ...b, layerPath: join(b.hostapp.dir, 'blobs', 'sha256', b.hostapp.layer.digest.slice('sha256:'.length)) };
}

function sameFile(a: string, b: string): boolean {
  return statSync(a).size === statSync(b).size && readFileSync(a).equals(readFileSync(b));
}

/** Same tree: names, types, modes, owners, mtimes, contents (by sha256), link targets. */
function sameTree(a: string, b: string): boolean {
  return JSON.stringify(snapshotTree(a)) === JSON.stringify(snapshotTree(b));
}

/** A tool run under GNU time: wall time and peak memory (KiB). */
async function measured(cmd: string, args: string[]): Promise<{ ms: number; maxRssKiB: number }> {
  const started = Date.now();
  const r = await execa('/usr/bin/time', ['-f', '%M', cmd, ...args]);
  return { ms: Date.now() - started, maxRssKiB: Number(r.stderr.trim().split('\n').at(-1)) };
}

interface Row {
  name: string;
  bytes: number;
  make?: number;
  apply?: number;
  peakKiB?: number;
  ok: boolean | undefined;
}

/**
 * Bytes sent per update for realistic release pairs on generic-amd64 (DELTA_PAIRS), all made in
 * this one run: the full new layer (gzip), huplab's format-1 delta (file-level), huplab's
 * format-2 delta (binary patches), and two binary deltas over the uncompressed layer tars
 * (xdelta3, zstd --patch-from). Every delta is applied or decoded again and checked (huplab's:
 * the whole new root against the release's; the others: new.tar byte for byte), so that no
 * figure comes from a broken delta. huplab's format-2 applier runs bundled in its own Node
 * process, as on the device, for its peak memory.
 */
export async function benchDelta(pairs: readonly (typeof DELTA_PAIRS)[number][] = DELTA_PAIRS): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'huplab-bench-delta-'));
  const out: string[] = [];
  try {
    const applier = join(work, 'apply.mjs');
    await bundleForDevice('bench/delta-apply-child.ts', applier);
    const bare = JSON.parse((await execa('node', [applier])).stdout) as { maxRssKiB: number };
    const summary: string[][] = [
      [
        'pair',
        'full layer',
        'format 1',
        'format 2',
        'xdelta3 -9',
        'zstd -19 --long',
        'format 2 / xdelta3',
        'format 2 / format 1',
      ],
    ];
    for (const pair of pairs) {
      const rows = await measurePair(pair, work, applier);
      const [full, v1, v2, xd, zs] = rows;
      const fmt = (n: number) => n.toLocaleString('en-US');
      summary.push([
        `${pair.kind} ${pair.from} -> ${pair.to}`,
        fmt(full!.bytes),
        fmt(v1!.bytes),
        fmt(v2!.bytes),
        fmt(xd!.bytes),
        fmt(zs!.bytes),
        (v2!.bytes / xd!.bytes).toFixed(3),
        (v2!.bytes / v1!.bytes).toFixed(3),
      ]);
      out.push(
        [
          `### ${pair.kind}: ${pair.from} -> ${pair.to} (${pair.what})`,
          table([
            ['artifact', 'bytes', 'vs full layer', 'make', 'apply', 'peak memory applying', 'rebuilds the target'],
            ...rows.map((r) => [
              r.name,
              r.bytes.toLocaleString('en-US'),
              (r.bytes / full!.bytes).toFixed(4),
              seconds(r.make),
              seconds(r.apply),
              r.peakKiB === undefined ? '-' : `${(r.peakKiB / 1024).toFixed(0)} MiB`,
              r.ok === undefined ? '-' : r.ok ? 'yes' : 'NO',
            ]),
          ]),
        ].join('\n'),
      );
    }
    return [
      '## Update size, generic-amd64, four release pairs (one run)',
      table(summary),
      ...out,
      `huplab's "apply" writes the whole new root (every file checked); the binary deltas' "apply" only rebuilds new.tar, which then still has to be extracted. Format 2's peak memory is the applier's own Node process (bundled as on the device; a bare Node process of the same bundle peaks at ${(bare.maxRssKiB / 1024).toFixed(0)} MiB); format 1 is applied in this process (no figure). xdelta3's and zstd's are GNU time's maximum resident set size.`,
    ].join('\n\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function measurePair(pair: (typeof DELTA_PAIRS)[number], work: string, applier: string): Promise<Row[]> {
  const from = await release(pair.from);
  const to = await release(pair.to);
  const dir = join(work, pair.kind);
  mkdirSync(dir);
  const rows: Row[] = [{ name: `full ${pair.to} layer (tar.gz)`, bytes: to.hostapp.layer.size, ok: undefined }];

  const v1 = join(dir, 'huplab-1.delta');
  const v1Made = await timed(() => createDelta({ fromLayer: from.layerPath, toLayer: to.layerPath, out: v1 }));
  const v1Target = join(dir, 'target-1');
  mkdirSync(v1Target);
  const v1Applied = await timed(() => applyDelta({ delta: v1, baseRoot: from.rootfsDir, targetRoot: v1Target }));
  rows.push({
    name: 'huplab delta format 1 (file-level)',
    bytes: v1Made.value.deltaBytes,
    make: v1Made.ms,
    apply: v1Applied.ms,
    ok: sameTree(v1Target, to.rootfsDir),
  });
  rmSync(v1Target, { recursive: true, force: true });

  const v2 = join(dir, 'huplab-2.delta');
  const v2Made = await timed(() => createDelta2({ fromLayer: from.layerPath, toLayer: to.layerPath, out: v2 }));
  const v2Target = join(dir, 'target-2');
  mkdirSync(v2Target);
  const child = JSON.parse((await execa('node', [applier, v2, from.rootfsDir, v2Target])).stdout) as {
    ms: number;
    maxRssKiB: number;
  };
  rows.push({
    name: 'huplab delta format 2 (binary patches)',
    bytes: v2Made.value.deltaBytes,
    make: v2Made.ms,
    apply: child.ms,
    peakKiB: child.maxRssKiB,
    ok: sameTree(v2Target, to.rootfsDir),
  });
  rmSync(v2Target, { recursive: true, force: true });

  const oldTar = join(dir, 'old.tar');
  const newTar = join(dir, 'new.tar');
  await pipeline(createReadStream(from.layerPath), createGunzip(), createWriteStream(oldTar));
  await pipeline(createReadStream(to.layerPath), createGunzip(), createWriteStream(newTar));

  const xd = join(dir, 'new.xd3');
  const xdMake = await timed(() => execa('xdelta3', ['-e', '-9', '-f', '-s', oldTar, newTar, xd]));
  const xdOut = join(dir, 'new.xd3.tar');
  const xdApply = await measured('xdelta3', ['-d', '-f', '-s', oldTar, xd, xdOut]);
  rows.push({
    name: 'xdelta3 -e -9 -s old.tar new.tar',
    bytes: statSync(xd).size,
    make: xdMake.ms,
    apply: xdApply.ms,
    peakKiB: xdApply.maxRssKiB,
    ok: sameFile(xdOut, newTar),
  });
  rmSync(xdOut);

  // zstd refuses references larger than its window: open it to cover the old tar
  // (--long=27 is 128 MiB; the decoder needs the same flag).
  const windowLog = Math.max(27, Math.ceil(Math.log2(Math.max(statSync(oldTar).size, statSync(newTar).size))));
  const zst = join(dir, 'new.zst');
  const zMake = await timed(() =>
    execa('zstd', ['-q', '-f', '-19', `--long=${windowLog}`, `--patch-from=${oldTar}`, newTar, '-o', zst]),
  );
  const zOut = join(dir, 'new.zst.tar');
  const zApply = await measured('zstd', [
    '-q',
    '-f',
    '-d',
    `--long=${windowLog}`,
    `--patch-from=${oldTar}`,
    zst,
    '-o',
    zOut,
  ]);
  rows.push({
    name: `zstd -19 --long=${windowLog} --patch-from=old.tar new.tar`,
    bytes: statSync(zst).size,
    make: zMake.ms,
    apply: zApply.ms,
    peakKiB: zApply.maxRssKiB,
    ok: sameFile(zOut, newTar),
  });
  rmSync(dir, { recursive: true, force: true });
  return rows;
}
