/**
 * Pushing an OCI image layout to a registry with the distribution API, bytes unchanged: the
 * blobs and the manifest go up as they are in the layout, so the manifest digest in the registry
 * is the one in the layout (and in the release record that names it).
 *
 * Blobs the registry already has (HEAD 200 with the right size) are not sent again; the others go
 * up in one monolithic upload each (POST, then PUT ?digest=), streamed from disk. Authentication
 * is the client's (RegistryClient.send answers the registry's challenges, asking for push scope).
 */
import { createReadStream } from 'node:fs';
import { HuplabError } from '../errors.ts';
import { DOCKER_MANIFEST_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, type RegistryClient } from './client.ts';
import { shortDigest } from './digest.ts';
import { readImageLayout } from './layout.ts';

export interface PushLayoutOptions {
  /** OCI image layout directory (oci-layout, index.json, blobs/sha256/...). */
  layoutDir: string;
  /** e.g. "huplab/generic-amd64" */
  repository: string;
  /** e.g. "2.102.0" */
  tag: string;
  /** Which manifest of index.json; needed only when it lists more than one. */
  manifestDigest?: string;
  onBlob?(event: { digest: string; size: number; pushed: boolean }): void;
}

export interface PushResult {
  repository: string;
  tag: string;
  /** The manifest digest, as the registry confirmed it. */
  digest: string;
  mediaType: string;
  blobs: Array<{ digest: string; size: number; pushed: boolean }>;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export async function pushLayout(client: RegistryClient, opts: PushLayoutOptions): Promise<PushResult> {
  const layout = await readImageLayout({
    layoutDir: opts.layoutDir,
    manifestTypes: [OCI_MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE],
    manifestDigest: opts.manifestDigest,
    what: 'image layout',
  });
  const { manifestDescriptor: desc, manifestBytes } = layout;

  const scope = `repository:${opts.repository}:pull,push`;
  const blobs: PushResult['blobs'] = [];
  for (const d of [...layout.layers, layout.config]) {
    const path = layout.blobPath(d.digest);
    const pushed = !(await hasBlob(client, opts.repository, d, scope));
    if (pushed) await uploadBlob(client, opts.repository, d, path, scope);
    blobs.push({ digest: d.digest, size: d.size, pushed });
    opts.onBlob?.({ digest: d.digest, size: d.size, pushed });
  }

  const put = await client.send(`v2/${opts.repository}/manifests/${encodeURIComponent(opts.tag)}`, {
    method: 'PUT',
    headers: { 'Content-Type': desc.mediaType, 'Content-Length': String(manifestBytes.length) },
    body: manifestBytes,
    scope,
    ok: [200, 201],
  });
  const confirmed = header(put.headers['docker-content-digest']);
  if (confirmed && confirmed !== desc.digest) {
    throw new HuplabError(
      'digest-mismatch',
      `registry ${client.baseUrl}: stored the manifest of ${opts.repository}:${opts.tag} as ${shortDigest(confirmed)}, not as ${shortDigest(desc.digest)}`,
      { hint: 'the registry rewrites manifests; use one that keeps them as pushed' },
    );
  }
  return { repository: opts.repository, tag: opts.tag, digest: desc.digest, mediaType: desc.mediaType, blobs };
}

async function hasBlob(client: RegistryClient, repo: string, d: Descriptor, scope: string): Promise<boolean> {
  const res = await client.send(`v2/${repo}/blobs/${d.digest}`, { method: 'HEAD', scope, ok: [200, 404] });
  return res.status === 200 && Number(header(res.headers['content-length'])) === d.size;
}

async function uploadBlob(client: RegistryClient, repo: string, d: Descriptor, path: string, scope: string) {
  const started = await client.send(`v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { 'Content-Length': '0' },
    scope,
    ok: [202],
  });
  const location = header(started.headers.location);
  if (!location) {
    throw new HuplabError(
      'http-error',
      `registry ${client.baseUrl}: POST /v2/${repo}/blobs/uploads/ answered 202 without a Location to upload to`,
    );
  }
  const target = new URL(location, `${client.baseUrl}/`);
  target.searchParams.set('digest', d.digest);
  await client.send(target.href, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) },
    body: () => createReadStream(path),
    scope,
    ok: [201],
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
