/**
 * A registry speaking the read side of the OCI distribution API, serving hostapp images straight
 * from their OCI image layout directories (blobs are streamed from disk, with Range support so
 * clients can resume).
 *
 * It answers reads as the reference registry (CNCF distribution) does, so standard tools
 * (skopeo, crane, docker) work against it: tag lists and the catalog with `n`/`last` pagination
 * and a `Link` header, `Accept` negotiation for manifests (see negotiate), and
 * Docker-Content-Digest, Content-Type and Content-Length on every manifest and blob, HEAD too.
 */
import { readFile } from 'node:fs/promises';
import { HuplabError } from '../../lib/errors.ts';
import { isDigest, sha256Digest } from '../../lib/oci/digest.ts';
import { readImageLayout } from '../../lib/oci/layout.ts';
import { bytes, fileReply, json, type Reply } from './reply.ts';
import type { BackendRequest } from './serve.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** OCI layer media types and their Docker schema2 names; other layers make an image OCI-only. */
const DOCKER_LAYER: Record<string, string> = {
  'application/vnd.oci.image.layer.v1.tar+gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.v1.tar': 'application/vnd.docker.image.rootfs.diff.tar',
};
const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };

export interface AddHostappOptions {
  /** e.g. "huplab/generic-amd64" */
  repository: string;
  /** e.g. "2.102.0"; moves to this image if it pointed elsewhere, as a push would. */
  tag: string;
  /** OCI image layout directory (oci-layout, index.json, blobs/sha256/...). */
  layoutDir: string;
  /** Which manifest of index.json; needed only when it lists more than one. */
  manifestDigest?: string;
  /** How messages name the image (default "hostapp"; "supervisor 16.9.0 (amd64)"). */
  what?: string;
}

export interface RegisteredImage {
  repository: string;
  tag: string;
  manifestDigest: string;
  manifestSize: number;
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number; mediaType: string }>;
  /** The config's labels (io.balena.image.version, ...). */
  labels: Record<string, string>;
}

interface Repo {
  tags: Map<string, string>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  /** OCI manifest digest -> digest of its Docker schema2 form, for images that have one. */
  dockerForms: Map<string, string>;
  blobs: Map<string, string>;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export class Registry {
  private readonly repos = new Map<string, Repo>();

  /**
   * Reads the layout's index and manifest, checks that the blobs it names are there, and serves
   * them. Any one-manifest OCI image layout: hostapps, and the supervisor images.
   */
  async addHostapp(opts: AddHostappOptions): Promise<RegisteredImage> {
    const what = opts.what ?? 'hostapp';
    const layout = await readImageLayout({
      layoutDir: opts.layoutDir,
      manifestTypes: [OCI_MANIFEST],
      manifestDigest: opts.manifestDigest,
      what,
    });
    const { manifestDescriptor: desc, manifestBytes, blobPath } = layout;
    const manifest = { config: layout.config, layers: layout.layers };
    const blobs = new Map<string, string>();
    for (const d of [manifest.config, ...manifest.layers]) blobs.set(d.digest, blobPath(d.digest));
    const configBytes = await readFile(blobPath(manifest.config.digest));
    if (sha256Digest(configBytes) !== manifest.config.digest)
      throw new HuplabError(
        'hostapp-invalid',
        `${what} ${opts.layoutDir}: config blob ${manifest.config.digest} does not hash to its name`,
        { hint: 'rebuild it with `huplab images build`' },
      );
    const labels =
      (JSON.parse(configBytes.toString('utf8')) as { config?: { Labels?: Record<string, string> } }).config?.Labels ??
      {};

    const repo = this.repos.get(opts.repository) ?? {
      tags: new Map(),
      manifests: new Map(),
      dockerForms: new Map(),
      blobs: new Map(),
    };
    repo.tags.set(opts.tag, desc.digest);
    repo.manifests.set(desc.digest, { bytes: manifestBytes, mediaType: desc.mediaType });
    const docker = dockerForm(manifest);
    if (docker) {
      const dockerDigest = sha256Digest(docker);
      repo.manifests.set(dockerDigest, { bytes: docker, mediaType: DOCKER_MANIFEST });
      repo.dockerForms.set(desc.digest, dockerDigest);
    }
    for (const [d, p] of blobs) repo.blobs.set(d, p);
    this.repos.set(opts.repository, repo);
    return {
      repository: opts.repository,
      tag: opts.tag,
      manifestDigest: desc.digest,
      manifestSize: manifestBytes.length,
      config: { digest: manifest.config.digest, size: manifest.config.size },
      layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      labels,
    };
  }

  /**
   * Forgets a manifest, as a registry's manifest DELETE does: its tags and its Docker form go
   * with it and it is then MANIFEST_UNKNOWN; the blobs stay. False when it was not there.
   */
  removeManifest(repository: string, manifestDigest: string): boolean {
    const repo = this.repos.get(repository);
    if (!repo?.manifests.delete(manifestDigest)) return false;
    const docker = repo.dockerForms.get(manifestDigest);
    if (docker) repo.manifests.delete(docker);
    repo.dockerForms.delete(manifestDigest);
    for (const [tag, digest] of repo.tags) if (digest === manifestDigest || digest === docker) repo.tags.delete(tag);
    return true;
  }

  repositories(): string[] {
    return [...this.repos.keys()];
  }

  readonly handle = async (req: BackendRequest): Promise<Reply> => {
    const reply = await this.route(req);
    return { ...reply, headers: { ...API_VERSION, ...reply.headers } };
  };

  private async route(req: BackendRequest): Promise<Reply> {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return ociError(405, 'UNSUPPORTED', `${req.method} is not supported by this read-only registry`);
    if (req.path === '/v2/' || req.path === '/v2') return json(200, {});
    if (req.path === '/v2/_catalog') {
      return paginated(req, 'repositories', [...this.repos.keys()].sort(), {}, '/v2/_catalog');
    }
    const tagList = /^\/v2\/(.+)\/tags\/list$/.exec(req.path);
    if (tagList) {
      const name = tagList[1]!;
      const repo = this.repos.get(name);
      if (!repo) return ociError(404, 'NAME_UNKNOWN', `repository ${name} is not known to this registry`);
      return paginated(req, 'tags', [...repo.tags.keys()].sort(), { name }, `/v2/${name}/tags/list`);
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(req.path);
    if (!m) return ociError(404, 'NOT_FOUND', `no such endpoint: ${req.path}`);
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    const repo = this.repos.get(name);
    if (!repo) return ociError(404, 'NAME_UNKNOWN', `repository ${name} is not known to this registry`);
    if (kind === 'manifests') {
      const digest = isDigest(ref) ? ref : repo.tags.get(ref);
      const found = digest ? repo.manifests.get(digest) : undefined;
      if (!digest || !found)
        return ociError(404, 'MANIFEST_UNKNOWN', `manifest ${name}:${ref} is not known to this registry`);
      const chosen = negotiate(req.headers.accept, digest, found.mediaType, isDigest(ref) ? undefined : repo);
      if (typeof chosen === 'string') return ociError(404, 'MANIFEST_UNKNOWN', `manifest ${name}:${ref}: ${chosen}`);
      const served = repo.manifests.get(chosen.digest)!;
      return bytes(200, served.bytes, served.mediaType, { 'Docker-Content-Digest': chosen.digest });
    }
    if (!isDigest(ref)) return ociError(400, 'DIGEST_INVALID', `"${ref}" is not a sha256 digest`);
    const path = repo.blobs.get(ref);
    if (!path) return ociError(404, 'BLOB_UNKNOWN', `blob ${ref} is not in ${name}`);
    const range = Array.isArray(req.headers.range) ? undefined : req.headers.range;
    return fileReply(path, range, { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': ref });
  }

  /** Errors in the OCI distribution error format, also used for injected faults. */
  static errorReply(status: number, message: string): Reply {
    return ociError(
      status,
      status === 503 ? 'UNAVAILABLE' : status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : 'UNKNOWN',
      message,
    );
  }
}

function ociError(status: number, code: string, message: string): Reply {
  return json(status, { errors: [{ code, message }] });
}

/**
 * Which manifest to answer with, from the client's Accept, as the reference registry decides:
 * no Accept, a wildcard or the stored media type get the stored manifest; a client that accepts
 * only Docker schema2 gets the image's Docker form when it has one (a tag: the digest changes
 * with the bytes, and Docker-Content-Digest says so), and MANIFEST_UNKNOWN when it has none or
 * the reference was a digest (a digest names bytes, which cannot be converted).
 */
function negotiate(
  acceptHeader: string | string[] | undefined,
  digest: string,
  mediaType: string,
  repo: Repo | undefined,
): { digest: string } | string {
  const accepted = (Array.isArray(acceptHeader) ? acceptHeader.join(',') : (acceptHeader ?? ''))
    .split(',')
    .map((a) => a.split(';')[0]!.trim().toLowerCase())
    .filter(Boolean);
  if (accepted.length === 0 || accepted.includes(mediaType) || accepted.some((a) => a === '*/*')) return { digest };
  const docker = repo?.dockerForms.get(digest);
  if (docker && accepted.includes(DOCKER_MANIFEST)) return { digest: docker };
  if (mediaType === OCI_MANIFEST) {
    return repo && !docker && accepted.includes(DOCKER_MANIFEST)
      ? 'OCI manifest found, it has no Docker schema2 form (its layers or config are OCI-only), and the Accept header does not support OCI manifests'
      : 'OCI manifest found, but accept header does not support OCI manifests';
  }
  return `${mediaType} manifest found, but the Accept header does not allow it`;
}

/** The Docker schema2 form of an OCI image manifest, or undefined when it has none. */
function dockerForm(manifest: {
  config: Descriptor;
  layers: Descriptor[];
  subject?: unknown;
  artifactType?: unknown;
}): Buffer | undefined {
  if (manifest.config.mediaType !== OCI_CONFIG || manifest.subject || manifest.artifactType) return undefined;
  if (!manifest.layers.every((l) => DOCKER_LAYER[l.mediaType])) return undefined;
  const d = (mediaType: string, x: Descriptor) => ({ mediaType, size: x.size, digest: x.digest });
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: d(DOCKER_CONFIG, manifest.config),
        layers: manifest.layers.map((l) => d(DOCKER_LAYER[l.mediaType]!, l)),
      },
      null,
      3,
    ),
  );
}

/**
 * A list answered as the distribution spec pages it: sorted, entries after `last`, at most `n`,
 * and a `Link: <...>; rel="next"` header when more follow.
 */
function paginated(
  req: BackendRequest,
  key: 'tags' | 'repositories',
  all: string[],
  extra: Record<string, string>,
  path: string,
): Reply {
  const nText = req.query.get('n');
  const last = req.query.get('last');
  let n = all.length;
  if (nText !== null && nText !== '') {
    if (!/^\d+$/.test(nText)) return ociError(400, 'PAGINATION_NUMBER_INVALID', `n=${nText} is not a number`);
    n = Number(nText);
  }
  const rest = last ? all.filter((x) => x > last) : all;
  const page = rest.slice(0, n);
  const headers: Record<string, string> = {};
  if (page.length > 0 && rest.length > page.length) {
    const q = new URLSearchParams({ n: String(n), last: page[page.length - 1]! });
    headers.Link = `<${path}?${q}>; rel="next"`;
  }
  return json(200, { ...extra, [key]: page }, headers);
}
