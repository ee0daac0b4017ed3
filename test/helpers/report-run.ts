/**
 * A sample run with every kind of test the report must tell apart (a pass, product failures, an
 * infrastructure failure, a flaky test, updates with hup-outcome.json, logs full of markup and
 * ANSI escapes, a skip), and a way to feed it through the reporter's hooks.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import HuplabReporter from '../../harness/report/reporter.ts';
import type { Summary } from '../../harness/report/model.ts';
import { HuplabError } from '../../lib/errors.ts';
import { fakeRun, hupOutcome, infraError, productError, thrown, type FakeTest } from './report-fakes.ts';

const logs = mkdtempSync(join(tmpdir(), 'huplab-report-logs-'));
export const serial = join(logs, 't1234-0-serial.log');
writeFileSync(serial, 'boot \x1b[1;32mOK\x1b[0m\n<script>alert(1)</script> & more\n');
export const updaterLog = join(logs, 'upgrade-2.x.sh.20261123_100000.log');
writeFileSync(updaterLog, '2026-11-23 10:00:00 [hup] step checks start\n');
/** 60 numbered lines of 1 kB: over the 8 kB limit the HTML test sets, so its middle is cut. */
export const longLog = join(logs, 'long-serial.log');
writeFileSync(
  longLog,
  Array.from({ length: 60 }, (_, i) => `line ${String(i).padStart(3, '0')} <tag> ${'x'.repeat(1000)}\n`).join(''),
);
const text = (name: string, body: string) => ({ name, contentType: 'text/plain', body: Buffer.from(body) });
const json = (doc: unknown) => ({
  name: 'hup-outcome.json',
  contentType: 'application/json',
  body: Buffer.from(JSON.stringify(doc)),
});

export const TESTS: FakeTest[] = [
  {
    title: 'boots to os ready',
    file: 'boot.spec.ts',
    attempts: [{ status: 'passed', attachments: [text('base-serial.log', 'booted\n')] }],
  },
  {
    title: 'data-full is refused',
    file: 'faults.spec.ts',
    annotations: [{ type: 'fault', description: 'data-full' }],
    attempts: [
      {
        status: 'failed',
        errors: [productError()],
        attachments: [json(hupOutcome({ ok: false, failedStep: 'checks' }))],
      },
      {
        status: 'failed',
        errors: [productError()],
        attachments: [json(hupOutcome({ ok: false, failedStep: 'checks' }))],
      },
    ],
  },
  {
    title: 'qemu never starts',
    file: 'boot.spec.ts',
    attempts: [
      { status: 'failed', errors: [infraError()] },
      {
        status: 'failed',
        errors: [infraError(), productError()],
        attachments: [{ name: 'long-serial.log', contentType: 'text/plain', path: longLog }],
      },
    ],
  },
  {
    title: 'passes on retry',
    file: 'hup-standard.spec.ts',
    attempts: [
      { status: 'timedOut', errors: [thrown(new Error('Test timeout of 360000ms exceeded.'))] },
      { status: 'passed' },
    ],
  },
  {
    title: 'delta update commits',
    describe: 'hup-standard',
    file: 'hup-standard.spec.ts',
    attempts: [
      {
        status: 'passed',
        attachments: [
          { name: 't1234-0-serial.log', contentType: 'text/plain', path: serial },
          { name: 'upgrade-2.x.sh.20261123_100000.log', contentType: 'text/plain', path: updaterLog },
          json(hupOutcome()),
          json(hupOutcome({ fault: 'registry-down' })),
        ],
      },
    ],
  },
  { title: 'not on this board', file: 'boot.spec.ts', attempts: [{ status: 'skipped' }] },
  {
    title: 'product first, lab second',
    file: 'rollback.spec.ts',
    attempts: [
      { status: 'failed', errors: [productError()] },
      {
        status: 'failed',
        errors: [thrown(new HuplabError('port-in-use', 'port 2222 is in use', { infrastructure: true }))],
      },
    ],
  },
];

export function runReporter(
  tests: FakeTest[],
  opts: { maxLogBytes?: number; runErrors?: Parameters<HuplabReporter['onError']>[0][] } = {},
): { dir: string; summary: Summary } {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-report-'));
  const run = fakeRun('generic-amd64', tests);
  const reporter = new HuplabReporter({
    outputDir: dir,
    release: '2.102.0',
    from: '2.101.0',
    announce: false,
    ...(opts.maxLogBytes ? { maxLogBytes: opts.maxLogBytes } : {}),
  });
  reporter.onBegin(run.config, run.root);
  for (const e of opts.runErrors ?? []) reporter.onError(e);
  reporter.onEnd(run.result);
  return { dir, summary: JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary };
}
