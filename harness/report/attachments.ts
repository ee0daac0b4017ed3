/**
 * Attachments as files. Playwright hands attachments over either as a file (`path`, already
 * copied into its output folder) or in memory (`body`); the report wants a file for each, so
 * that summary.json can name it and report.html can be rendered from summary.json alone.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { TestResult } from '@playwright/test/reporter';
import type { AttachmentRecord } from './model.ts';

export type Attachment = TestResult['attachments'][number];

/** A file name that is safe in any folder: no separators, no dot-dot, not empty. */
export function safeFileName(name: string): string {
  const s = name
    .replace(/[^\w.+@-]+/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 120);
  return s === '' ? 'attachment' : s;
}

/** Paths inside the report folder are kept relative, so the folder can be moved or archived. */
export function reportPath(reportDir: string, file: string): string {
  const rel = relative(reportDir, file);
  return rel.startsWith('..') || isAbsolute(rel) ? resolve(file) : rel;
}

/** Back from reportPath to a path that opens. */
export function openPath(reportDir: string, recorded: string): string {
  return resolve(reportDir, recorded);
}

/**
 * Records an attempt's attachments, writing in-memory bodies to `attemptDir` (created only when
 * needed). Names repeat within an attempt (one hup-outcome.json per update): later ones get -2,
 * -3 before the extension.
 */
export function materializeAttachments(
  attachments: Attachment[],
  reportDir: string,
  attemptDir: string,
): AttachmentRecord[] {
  const used = new Set<string>();
  return attachments.map((a) => {
    if (a.path) return { name: a.name, contentType: a.contentType, path: reportPath(reportDir, a.path) };
    if (!a.body) return { name: a.name, contentType: a.contentType, path: null };
    const file = join(attemptDir, uniqueName(safeFileName(a.name), used));
    mkdirSync(attemptDir, { recursive: true });
    writeFileSync(file, a.body);
    return { name: a.name, contentType: a.contentType, path: reportPath(reportDir, file) };
  });
}

function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let n = 2; used.has(candidate); n++) {
    const dot = name.lastIndexOf('.');
    candidate = dot > 0 ? `${name.slice(0, dot)}-${n}${name.slice(dot)}` : `${name}-${n}`;
  }
  used.add(candidate);
  return candidate;
}

/** The attachment's text, or why it cannot be read (a test may attach a file that is gone). */
export function readAttachment(reportDir: string, a: AttachmentRecord): { text: string } | { problem: string } {
  if (!a.path) return { problem: 'the attachment has no content' };
  try {
    return { text: readFileSync(openPath(reportDir, a.path), 'utf8') };
  } catch (err) {
    return { problem: `cannot read ${a.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** Text logs are inlined in the report; everything else is only listed. */
export function isTextLog(a: AttachmentRecord): boolean {
  return a.contentType.startsWith('text/');
}

export const HUP_OUTCOME_NAME = 'hup-outcome.json';

export function isHupOutcome(a: { name: string; contentType: string }): boolean {
  return a.name === HUP_OUTCOME_NAME && a.contentType.startsWith('application/json');
}
