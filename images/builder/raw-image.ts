import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { fileSha256 } from '../../lib/file-digest.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import type { OsImageInfo } from '../../lib/update-method.ts';
import { checkDigest, reuse } from './cache-verify.ts';

/** A release's disk image as the API serves it for the advanced update. */
export interface RawImage extends OsImageInfo {
  file: string;
}

/** Block size of the sparse image: disks are whole MiB (lib/partition/layout.ts aligns them). */
const SPARSE_BLOCK = 1 << 20;

/**
 * The served image of a built disk, made once beside it: an Android sparse image (AOSP's
 * img2simg: runs of one 32-bit value, the zeros of an empty root or data partition above all,
 * become FILL chunks) compressed with `gzip -n` (no name or time in the header, so equal disks
 * give equal bytes). The device inflates only real data and still writes every byte of the disk
 * (updater/takeover/simg-flash.c). Digests of the download and of the disk it stands for.
 */
export async function exportRawImage(disk: string, narrator: Narrator = silentNarrator): Promise<RawImage> {
  const dir = dirname(disk);
  const file = join(dir, 'disk.simg.gz');
  const meta = join(dir, 'sparse-image.json');
  // Its record is its own description: the download's size and sha256.
  const check = async (): Promise<string | undefined> => {
    const info = await readFile(meta, 'utf8').then(
      (t) => JSON.parse(t) as OsImageInfo,
      () => undefined,
    );
    if (!info || typeof info.sha256 !== 'string') return 'its record is missing or unreadable';
    const size = await stat(file).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== info.size)
      return size < 0 ? 'disk.simg.gz is missing' : `disk.simg.gz is ${size} bytes, recorded ${info.size}`;
    return checkDigest(file, 'sha256', info.sha256);
  };
  if (await reuse({ what: 'raw disk image', path: file, also: [meta], check, narrator }))
    return { ...(JSON.parse(await readFile(meta, 'utf8')) as OsImageInfo), file };
  const rawSize = (await stat(disk)).size;
  if (rawSize % SPARSE_BLOCK !== 0)
    throw new HuplabError('image-invalid', `${disk} is ${rawSize} bytes, not whole MiB, so it has no sparse form`, {
      hint: 'rebuild the image',
    });
  const simg = `${disk}.simg.tmp-${process.pid}`;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await execa('img2simg', [disk, simg, String(SPARSE_BLOCK)]).catch((err: unknown) => {
      throw new HuplabError(
        'tool-missing',
        `img2simg failed: ${(err as { shortMessage?: string }).shortMessage ?? String(err)}`,
        {
          hint: 'install android-sdk-libsparse-utils (scripts/bootstrap.sh does)',
          infrastructure: true,
        },
      );
    });
    await execa('sh', ['-c', 'gzip -n -6 -c "$IN" > "$OUT"'], { env: { IN: simg, OUT: tmp } });
    const [sha256, rawSha256] = await Promise.all([fileSha256(tmp), fileSha256(disk)]);
    const info: OsImageInfo = {
      compression: 'gzip',
      format: 'android-sparse',
      sha256,
      size: (await stat(tmp)).size,
      rawSha256,
      rawSize,
    };
    await rename(tmp, file);
    await writeFile(meta, `${JSON.stringify(info, null, 2)}\n`);
    return { ...info, file };
  } finally {
    await rm(tmp, { force: true });
    await rm(simg, { force: true });
  }
}
