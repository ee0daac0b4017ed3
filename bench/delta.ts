import {
  createReadStream,
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import { buildImage } from '../images/builder/index.ts';
import { applyDelta, createDelta } from '../lib/delta/index.ts';
import { seconds, table } from './stats.ts';

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

/** Same names, types, modes, file contents and symlink targets in both trees. */
function sameTree(a: string, b: string): boolean {
  const names = (d: string) => readdirSync(d).sort();
  const visit = (rel: string): boolean => {
    const [x, y] = [lstatSync(join(a, rel)), lstatSync(join(b, rel))];
    if ((x.mode & 0o177777) !== (y.mode & 0o177777)) return false;
    if (x.isSymbolicLink()) return readlinkSync(join(a, rel)) === readlinkSync(join(b, rel));
    if (x.isFile()) return sameFile(join(a, rel), join(b, rel));
    const [na, nb] = [names(join(a, rel)), names(join(b, rel))];
    return na.join('\0') === nb.join('\0') && na.every((n) => visit(join(rel, n)));
  };
  return visit('.');
}

/**
 * Bytes sent per update for a patch-level release change on generic-amd64 (default 2.102.0 ->
 * 2.102.1): the full new layer (gzip),
 * huplab's file-level delta, and two binary deltas over the uncompressed layer tars (xdelta3,
 * zstd --patch-from), all made in this one run; each binary delta is decoded again and checked
 * against the new tar so that no figure comes from a broken patch.
 */
export async function benchDelta(fromVersion = '2.102.0', toVersion = '2.102.1'): Promise<string> {
  const from = await release(fromVersion);
  const to = await release(toVersion);
  const work = mkdtempSync(join(tmpdir(), 'huplab-bench-delta-'));
  try {
    const full = to.hostapp.layer.size;
    const ours = join(work, 'huplab.delta');
    const made = await timed(() => createDelta({ fromLayer: from.layerPath, toLayer: to.layerPath, out: ours }));
    const target = join(work, 'target');
    mkdirSync(target);
    const applied = await timed(() => applyDelta({ delta: ours, baseRoot: from.rootfsDir, targetRoot: target }));

    const oldTar = join(work, 'old.tar');
    const newTar = join(work, 'new.tar');
    await pipeline(createReadStream(from.layerPath), createGunzip(), createWriteStream(oldTar));
    await pipeline(createReadStream(to.layerPath), createGunzip(), createWriteStream(newTar));

    const xd = join(work, 'new.xd3');
    const xdMake = await timed(() => execa('xdelta3', ['-e', '-9', '-f', '-s', oldTar, newTar, xd]));
    const xdOut = join(work, 'new.xd3.tar');
    const xdApply = await timed(() => execa('xdelta3', ['-d', '-f', '-s', oldTar, xd, xdOut]));

    // zstd refuses references larger than its window: open it to cover the old tar
    // (--long=27 is 128 MiB; the decoder needs the same flag).
    const windowLog = Math.max(27, Math.ceil(Math.log2(Math.max(statSync(oldTar).size, statSync(newTar).size))));
    const zst = join(work, 'new.zst');
    const zMake = await timed(() =>
      execa('zstd', ['-q', '-f', '-19', `--long=${windowLog}`, `--patch-from=${oldTar}`, newTar, '-o', zst]),
    );
    const zOut = join(work, 'new.zst.tar');
    const zApply = await timed(() =>
      execa('zstd', ['-q', '-f', '-d', `--long=${windowLog}`, `--patch-from=${oldTar}`, zst, '-o', zOut]),
    );

    const ok = (b: boolean) => (b ? 'yes' : 'NO');
    const row = (
      name: string,
      bytes: number,
      make: number | undefined,
      apply: number | undefined,
      verified: string,
    ) => [name, bytes.toLocaleString('en-US'), (bytes / full).toFixed(4), seconds(make), seconds(apply), verified];
    return [
      `## Update size, generic-amd64 ${fromVersion} -> ${toVersion} (patch-level change, one run)`,
      table([
        ['artifact', 'bytes', 'vs full layer', 'make', 'apply', `rebuilds ${toVersion}`],
        row(`full ${toVersion} layer (tar.gz)`, full, undefined, undefined, '-'),
        row(
          'huplab delta (file-level, tar.gz)',
          made.value.deltaBytes,
          made.ms,
          applied.ms,
          ok(sameTree(target, to.rootfsDir)),
        ),
        row('xdelta3 -e -9 -s old.tar new.tar', statSync(xd).size, xdMake.ms, xdApply.ms, ok(sameFile(xdOut, newTar))),
        row(
          `zstd -19 --long=${windowLog} --patch-from=old.tar new.tar`,
          statSync(zst).size,
          zMake.ms,
          zApply.ms,
          ok(sameFile(zOut, newTar)),
        ),
      ]),
      `huplab delta: ${made.value.filesFromDelta} files shipped (${made.value.blobBytes.toLocaleString('en-US')} bytes before gzip), ` +
        `${made.value.filesFromBase} copied from the running root and checked; "apply" writes the whole new root ` +
        `(${applied.value.bytesWritten.toLocaleString('en-US')} bytes), the binary deltas' "apply" only rebuilds new.tar, which then still has to be extracted.`,
    ].join('\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
