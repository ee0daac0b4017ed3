/** summary.json: written whole through a temporary file, so a reader never sees half of it. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Summary } from './model.ts';

export const SUMMARY_FILE = 'summary.json';
export const SUMMARY_SCHEMA = join(dirname(fileURLToPath(import.meta.url)), 'summary.schema.json');

export function writeAtomically(file: string, data: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function writeSummary(reportDir: string, summary: Summary): string {
  const file = join(reportDir, SUMMARY_FILE);
  writeAtomically(file, `${JSON.stringify(summary, null, 2)}\n`);
  return file;
}
