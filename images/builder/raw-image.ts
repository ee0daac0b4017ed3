import { existsSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { fileSha256 } from '../../lib/file-digest.ts';
import type { OsImageInfo } from '../../lib/update-method.ts';

/** A release's raw disk image as the API serves it for the advanced update (gzip, as balena's .img.gz). */
export interface RawImage extends OsImageInfo {
  file: string;
}

/**
 * The compressed raw image of a built disk, made once beside it: `gzip -n` (no name or time in
 * the header, so equal disks give equal bytes), with the digests of both the download and the
 * disk it unpacks to, which the device checks after flashing.
 */
export async function exportRawImage(disk: string): Promise<RawImage> {
  const dir = dirname(disk);
  const file = join(dir, 'disk.img.gz');
  const meta = join(dir, 'raw-image.json');
  if (existsSync(meta) && existsSync(file)) return { ...(JSON.parse(await readFile(meta, 'utf8')) as OsImageInfo), file };
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await execa('sh', ['-c', 'gzip -n -6 -c "$IN" > "$OUT"'], { env: { IN: disk, OUT: tmp } });
    const [sha256, rawSha256] = await Promise.all([fileSha256(tmp), fileSha256(disk)]);
    const info: OsImageInfo = { compression: 'gzip', sha256, size: (await stat(tmp)).size, rawSha256, rawSize: (await stat(disk)).size };
    await rename(tmp, file);
    await writeFile(meta, JSON.stringify(info, null, 2) + '\n');
    return { ...info, file };
  } finally {
    await rm(tmp, { force: true });
  }
}
