/**
 * Reading an OCI image layout (oci-layout, index.json, blobs/sha256/...) as huplab builds its
 * hostapps: one image manifest, its config and layers. The built-in registry serves such a
 * layout and `huplab images push` uploads one; both need the same checks before they hand out a
 * single byte, so a damaged layout is refused in one line, the same way, wherever it is read.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../errors.ts';
import { isDigest, sha256Digest } from './digest.ts';

export interface LayoutDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageLayout {
  /** The manifest's entry in index.json. */
  manifestDescriptor: LayoutDescriptor;
  /** The manifest's bytes as stored: its digest is the image's. */
  manifestBytes: Buffer;
  config: LayoutDescriptor;
  layers: LayoutDescriptor[];
  /** The file holding a blob named by the manifest. */
  blobPath(digest: string): string;
}

export interface ReadLayoutOptions {
  layoutDir: string;
  /** The manifest media types that count as an image (index.json may list others). */
  manifestTypes: readonly string[];
  /** Which manifest of index.json; needed only when it lists more than one. */
  manifestDigest?: string;
  /** How messages name the layout, e.g. "hostapp". */
  what: string;
}

/**
 * Reads index.json and the one image manifest it lists, and checks the manifest hashes to its
 * name and every blob it names is there with the size it says. Blobs are not hashed (that would
 * cost seconds per layer): whoever fetches them verifies their digests anyway.
 */
export async function readImageLayout(opts: ReadLayoutOptions): Promise<ImageLayout> {
  const bad = (why: string) =>
    new HuplabError('hostapp-invalid', `${opts.what} ${opts.layoutDir}: ${why}`, {
      hint: 'rebuild it with `huplab images build`',
    });
  const blobPath = (digest: string) => join(opts.layoutDir, 'blobs', 'sha256', digest.slice(7));
  let index: { manifests?: LayoutDescriptor[] };
  try {
    index = JSON.parse(await readFile(join(opts.layoutDir, 'index.json'), 'utf8')) as typeof index;
  } catch (err) {
    throw bad(`cannot read index.json: ${(err as Error).message}`);
  }
  const images = (index.manifests ?? []).filter(
    (m) => opts.manifestTypes.includes(m.mediaType) && (!opts.manifestDigest || m.digest === opts.manifestDigest),
  );
  if (images.length !== 1) {
    throw bad(
      opts.manifestDigest
        ? `index.json lists no manifest ${opts.manifestDigest}`
        : `index.json lists ${images.length} image manifests, expected one`,
    );
  }
  const desc = images[0]!;
  if (!isDigest(desc.digest)) throw bad(`index.json names "${desc.digest}", not a sha256 digest`);
  const manifestBytes = await readFile(blobPath(desc.digest)).catch(() => {
    throw bad(`manifest blob ${desc.digest} is missing`);
  });
  if (sha256Digest(manifestBytes) !== desc.digest) throw bad(`manifest blob ${desc.digest} does not hash to its name`);
  let manifest: { config?: LayoutDescriptor; layers?: LayoutDescriptor[] };
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as typeof manifest;
  } catch {
    throw bad(`manifest ${desc.digest} is not JSON`);
  }
  const { config, layers } = manifest;
  if (!config || !Array.isArray(layers)) throw bad(`manifest ${desc.digest} has no config or layers`);
  for (const d of [config, ...layers]) {
    if (!isDigest(d.digest)) throw bad(`manifest names "${d.digest}", not a sha256 digest`);
    const size = await stat(blobPath(d.digest)).then(
      (s) => s.size,
      () => {
        throw bad(`blob ${d.digest} is missing`);
      },
    );
    if (size !== d.size) throw bad(`blob ${d.digest} is ${size} bytes, the manifest says ${d.size}`);
  }
  return { manifestDescriptor: desc, manifestBytes, config, layers, blobPath };
}
