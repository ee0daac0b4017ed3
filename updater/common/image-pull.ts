/**
 * One image pulled by its manifest digest and unpacked into a folder: the config first (its
 * labels judged by the caller before any layer is fetched), then every layer fetched to a file
 * verified against its digest (lib/oci) and unpacked in order. The supervisor installs itself
 * and the application this way; a failure leaves `dest` and `blobs` for the caller to remove.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { HuplabError } from '../../lib/errors.ts';
import type { RegistryClient } from '../../lib/oci/client.ts';
import { extractTar } from '../../lib/tar/index.ts';

export interface ImagePull {
  client: RegistryClient;
  repository: string;
  manifestDigest: string;
  /** Where the layers are unpacked. */
  dest: string;
  /** A scratch folder for the downloaded blobs. */
  blobs: string;
  /** Throws when the config's labels are not the image asked for. */
  checkLabels(labels: Record<string, string>): void;
  onProgress?(bytes: number, total: number | undefined): void;
}

export async function pullImageInto(req: ImagePull): Promise<void> {
  const { client, repository, manifestDigest } = req;
  if (!manifestDigest.startsWith('sha256:'))
    throw new HuplabError('reference-invalid', `the API gave "${manifestDigest}", not a manifest digest`);
  const { manifest } = await client.getManifest(repository, manifestDigest);
  const configPath = join(req.blobs, 'config');
  await client.fetchBlob(repository, manifest.config.digest, configPath, { expectedSize: manifest.config.size });
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { config?: { Labels?: Record<string, string> } };
  req.checkLabels(config.config?.Labels ?? {});
  const total = manifest.layers.reduce((s, l) => s + l.size, 0);
  let done = 0;
  for (const [i, layer] of manifest.layers.entries()) {
    const path = join(req.blobs, `layer-${i}`);
    await client.fetchBlob(repository, layer.digest, path, {
      expectedSize: layer.size,
      ...(req.onProgress ? { onProgress: (bytes: number) => req.onProgress?.(done + bytes, total) } : {}),
    });
    done += layer.size;
    await extractTar(await layerStream(path), req.dest, { preserveOwner: false });
  }
}

/** Throws naming the first label that is not what is expected ("missing" when absent). */
export function expectLabels(
  labels: Record<string, string>,
  expected: ReadonlyArray<readonly [label: string, value: string]>,
  code: string,
): void {
  for (const [label, want] of expected) {
    if (labels[label] !== want)
      throw new HuplabError(
        code,
        `the image's ${label} label is ${labels[label] === undefined ? 'missing' : `"${labels[label]}"`}, not "${want}"`,
      );
  }
}

/** A layer's tar stream: gunzipped when it is gzip (by its magic bytes, whatever its media type says). */
async function layerStream(path: string): Promise<NodeJS.ReadableStream & AsyncIterable<Buffer>> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(2);
  await fh.read(head, 0, 2, 0);
  await fh.close();
  const raw = createReadStream(path);
  return head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
}
