/**
 * The delta service: given the manifest digests of the running and the target hostapp, it says
 * whether a delta exists and where to fetch it. Deltas are opaque files here (their format
 * belongs to lib/delta/); they are addressed by their own sha256 so the updater can verify them
 * like any registry blob. A pair may have one delta per format: the updater says which formats
 * it reads (`formats=1,2`), an updater that does not say reads format 1 only, and the answer is
 * the highest format both sides have.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { HuplabError } from '../../lib/errors.ts';
import { isDigest } from '../../lib/oci/digest.ts';
import { fileReply, json, type Reply } from './reply.ts';
import type { BackendRequest } from './serve.ts';

export interface AddDeltaOptions {
  /** Manifest digest of the hostapp the device runs. */
  src: string;
  /** Manifest digest of the hostapp it updates to. */
  dest: string;
  file: string;
  /** The delta format of the file (lib/delta/); 1 when not given. */
  format?: number;
}

export interface RegisteredDelta {
  src: string;
  dest: string;
  format: number;
  digest: string;
  size: number;
}

export interface DeltaAnswer {
  digest: string;
  size: number;
  url: string;
}

export class DeltaService {
  private readonly byPair = new Map<string, RegisteredDelta>();
  private readonly files = new Map<string, string>();

  /** Hashes the file (once, here) and serves it for this src -> dest pair. */
  async addDelta(opts: AddDeltaOptions): Promise<RegisteredDelta> {
    for (const [name, value] of [
      ['src', opts.src],
      ['dest', opts.dest],
    ] as const) {
      if (!isDigest(value))
        throw new HuplabError(
          'delta-invalid',
          `delta ${name} "${value}" is not a manifest digest (sha256:<64 hex digits>)`,
        );
    }
    const size = await stat(opts.file).then(
      (s) => s.size,
      () => {
        throw new HuplabError('delta-invalid', `delta file ${opts.file} does not exist`);
      },
    );
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(opts.file)) hash.update(chunk as Buffer);
    const format = opts.format ?? 1;
    const delta = { src: opts.src, dest: opts.dest, format, digest: `sha256:${hash.digest('hex')}`, size };
    this.byPair.set(pairKey(opts.src, opts.dest, format), delta);
    this.files.set(delta.digest, opts.file);
    return delta;
  }

  deltas(): RegisteredDelta[] {
    return [...this.byPair.values()];
  }

  readonly handle = async (req: BackendRequest): Promise<Reply> => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return DeltaService.errorReply(405, `${req.method} is not supported`);
    if (req.path === '/v1/deltas') {
      const src = req.query.get('src') ?? '';
      const dest = req.query.get('dest') ?? '';
      if (!isDigest(src) || !isDigest(dest))
        return DeltaService.errorReply(400, 'src and dest must be manifest digests (sha256:<64 hex digits>)');
      const formats = (req.query.get('formats') ?? '1').split(',').map(Number);
      if (!formats.every((f) => Number.isSafeInteger(f) && f > 0))
        return DeltaService.errorReply(400, 'formats must be delta format numbers, e.g. formats=1,2');
      const delta = formats
        .sort((a, b) => b - a)
        .map((f) => this.byPair.get(pairKey(src, dest, f)))
        .find((d) => d !== undefined);
      if (!delta) return DeltaService.errorReply(404, 'no delta');
      const answer: DeltaAnswer = {
        digest: delta.digest,
        size: delta.size,
        url: `${req.origin}/v1/deltas/blobs/${delta.digest}`,
      };
      return json(200, answer);
    }
    const m = /^\/v1\/deltas\/blobs\/([^/]+)$/.exec(req.path);
    if (m) {
      const file = this.files.get(m[1]!);
      if (!file) return DeltaService.errorReply(404, `no delta blob ${m[1]}`);
      const range = Array.isArray(req.headers.range) ? undefined : req.headers.range;
      return fileReply(file, range, { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': m[1]! });
    }
    return DeltaService.errorReply(404, `no such endpoint: ${req.path}`);
  };

  static errorReply(status: number, message: string): Reply {
    return json(status, { error: message });
  }
}

function pairKey(src: string, dest: string, format: number): string {
  return `${src}>${dest}#${format}`;
}
