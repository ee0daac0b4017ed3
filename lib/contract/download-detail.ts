import { stepRe } from './steps.ts';

/**
 * What a download step says it fetched, in its done marker's detail: the standard updater's
 * fetch step (a delta or the full image, from where) and the advanced updater's download step
 * (the OS image and takeover's tools, from the API). The harness reads bytes and sources from it.
 */
export type FetchDetail =
  | { kind: 'delta'; digest: string; bytes: number; source: string }
  | { kind: 'full'; digest: string; bytes: number; source: string; attempts: number; resumes: number };

export function fetchDetail(d: FetchDetail): string {
  return d.kind === 'delta'
    ? `delta ${d.digest} (${d.bytes} bytes) from ${d.source}`
    : `full image ${d.digest} (${d.bytes} bytes) from ${d.source}; ${d.attempts} attempt(s), ${d.resumes} resume(s)`;
}

const FETCH_DONE = stepRe({
  step: 'fetch',
  phase: 'done',
  after: ' \\([\\d.]+s\\) (delta|full image) \\S+ \\((\\d+) bytes\\) from ([^\\s;]+)',
});

/** What the fetch step downloaded, from its done marker in `text`. */
export function parseFetchDownload(
  text: string,
): { kind: 'delta' | 'full'; bytes: number; source: string } | undefined {
  const d = FETCH_DONE.exec(text);
  return d ? { kind: d[1] === 'delta' ? 'delta' : 'full', bytes: Number(d[2]), source: d[3]! } : undefined;
}

export interface ImageDownloadDetail {
  version: string;
  bytes: number;
  format: string;
  sha256: string;
  attempts: number;
  /** Takeover's tools, each with its size. */
  tools: Array<{ name: string; bytes: number }>;
}

export function imageDownloadDetail(d: ImageDownloadDetail): string {
  const tools = d.tools.map((t) => `${t.name} (${t.bytes} bytes)`).join(', ');
  return `OS image ${d.version} (${d.bytes} bytes, ${d.format}, sha256 ${d.sha256.slice(0, 12)}) from the API in ${d.attempts} attempt(s); ${tools}`;
}

const DOWNLOAD_DONE = stepRe({ step: 'download', phase: 'done', after: ' \\([\\d.]+s\\) (.*)$', flags: 'm' });

/** What the download step fetched, from its done marker in `text`: every byte counted, all from the API. */
export function parseImageDownload(text: string): { source: string; kind: 'image'; bytes: number } | undefined {
  const line = DOWNLOAD_DONE.exec(text)?.[1];
  if (!line) return undefined;
  const bytes = [...line.matchAll(/\((\d+) bytes/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  const source = /from the (API)/.exec(line)?.[1] ?? 'API';
  return { source, kind: 'image', bytes };
}

/**
 * The checks step's reason when a registry cannot give the target image: which registry, which
 * image, and its answer, e.g. "registry http://10.0.2.100:40123 has no
 * huplab/generic-amd64@sha256:...: 404 MANIFEST_UNKNOWN: manifest unknown".
 */
export function imageMissingReason(registry: string, image: string, answer: string): string {
  return `registry ${registry} has no ${image}: ${answer}`;
}

/** The same when the registry gave no answer about the image (unreachable, an error, refused credentials). */
export function imageUnanswered(registry: string, image: string, answer: string): string {
  return `registry ${registry} did not answer for ${image}: ${answer}`;
}

/** Every (registry, image, answer) an image-missing reason names, in order. */
export function parseImageMissing(text: string): Array<{ registry: string; image: string; answer: string }> {
  return [...text.matchAll(/registry (\S+) has no (\S+@sha256:[0-9a-f]{64}|\S+:\S+): ([^;]*)/g)].map((m) => ({
    registry: m[1]!,
    image: m[2]!,
    answer: m[3]!.trim(),
  }));
}
