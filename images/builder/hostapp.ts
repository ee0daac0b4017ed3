import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';
import type { Profile } from '../../lib/profile.ts';
import type { ReleaseRecipe } from '../recipe.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface HostappArtifact {
  /** OCI image layout directory (oci-layout, index.json, blobs/sha256/...). */
  dir: string;
  manifest: Descriptor;
  layer: Descriptor & { diffId: string };
}

const OCI_ARCH: Record<string, string> = { amd64: 'amd64', arm64: 'arm64', armhf: 'arm' };

function hashing(hash: ReturnType<typeof createHash>, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

/**
 * The release's hostapp: its root filesystem as a one-layer OCI image, the artifact that the
 * registries serve and the updater writes to the spare root. The layer is a reproducible tar
 * (sorted, fixed owner and times) so that its digest depends on the content only.
 */
export async function buildHostapp(opts: {
  rootfs: string;
  outDir: string;
  recipe: ReleaseRecipe;
  profile: Profile;
  epoch: number;
}): Promise<HostappArtifact> {
  return writeImageLayout({
    contentDir: opts.rootfs,
    outDir: opts.outDir,
    epoch: opts.epoch,
    created: opts.recipe.date,
    arch: opts.profile.arch,
    labels: {
      'io.balena.image.class': 'hostapp',
      'io.balena.image.version': opts.recipe.version,
      'io.balena.image.device-type': opts.profile.deviceType,
      'io.balena.supervisor.version': opts.recipe.supervisorVersion,
      'io.huplab.layout': opts.recipe.layout,
      'io.huplab.variant': opts.recipe.variant,
    },
    version: opts.recipe.version,
    refName: `${opts.profile.deviceType}-${opts.recipe.version}`,
  });
}

/**
 * A directory as a one-layer OCI image layout (oci-layout, index.json, blobs/sha256/...): the
 * hostapps and the supervisor images are made here. The layer is a reproducible tar (sorted,
 * owner 0, every time `epoch`, no atime/ctime) gzipped by Node's zlib, the config and manifest
 * are fixed JSON, so the same directory gives the same digests. The caller sets the content's
 * modes and times (normaliseTimes).
 */
export async function writeImageLayout(opts: {
  contentDir: string;
  outDir: string;
  epoch: number;
  /** The config's `created` and the manifest's created annotation (the release date). */
  created: string;
  /** Debian architecture; the config says OCI's name for it. */
  arch: string;
  labels: Record<string, string>;
  /** The manifest's org.opencontainers.image.version annotation. */
  version: string;
  /** index.json's org.opencontainers.image.ref.name. */
  refName: string;
}): Promise<HostappArtifact> {
  const blobs = join(opts.outDir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tmpLayer = join(blobs, '.layer.tmp');
  const tar = execa(
    'tar',
    [
      '--sort=name',
      `--mtime=@${opts.epoch}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '--format=posix',
      '-C',
      opts.contentDir,
      '-cf',
      '-',
      '.',
    ],
    {
      buffer: false,
      stdout: 'pipe',
    },
  );
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  const rawSize = { n: 0 };
  const gzSize = { n: 0 };
  await Promise.all([
    pipeline(
      tar.stdout!,
      hashing(diff, rawSize),
      createGzip({ level: 6 }),
      hashing(blob, gzSize),
      createWriteStream(tmpLayer),
    ),
    tar,
  ]);
  const layerDigest = `sha256:${blob.digest('hex')}`;
  await rename(tmpLayer, join(blobs, layerDigest.slice(7)));
  const diffId = `sha256:${diff.digest('hex')}`;

  const config = Buffer.from(
    JSON.stringify({
      created: opts.created,
      architecture: OCI_ARCH[opts.arch] ?? opts.arch,
      os: 'linux',
      config: { Labels: opts.labels },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const configDesc = await writeBlob(blobs, config, OCI_CONFIG);
  const layer = {
    mediaType: OCI_LAYER_GZIP,
    digest: layerDigest,
    size: gzSize.n,
    diffId,
    annotations: { 'io.huplab.uncompressed-size': String(rawSize.n) },
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDesc,
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, annotations: layer.annotations }],
      annotations: {
        'org.opencontainers.image.version': opts.version,
        'org.opencontainers.image.created': opts.created,
      },
    }),
  );
  const manifestDesc = await writeBlob(blobs, manifest, OCI_MANIFEST);
  await writeFile(join(opts.outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(opts.outDir, 'index.json'),
    JSON.stringify(
      {
        schemaVersion: 2,
        manifests: [{ ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': opts.refName } }],
      },
      null,
      2,
    ),
  );
  return { dir: opts.outDir, manifest: manifestDesc, layer };
}

async function writeBlob(blobs: string, data: Buffer, mediaType: string): Promise<Descriptor> {
  const hex = createHash('sha256').update(data).digest('hex');
  await writeFile(join(blobs, hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}
