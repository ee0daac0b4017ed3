/**
 * From Playwright's view of a finished run (its suites, test cases and every attempt's result)
 * to the report's Summary. Every attempt of every test is kept, retries included.
 */
import { join, relative } from 'node:path';
import type { FullResult, Location, Suite, TestCase, TestError, TestResult } from '@playwright/test/reporter';
import { isHupOutcome, materializeAttachments, readAttachment, safeFileName } from './attachments.ts';
import { classifyAttempt, classifyRunError, classifyTest } from './classify.ts';
import { parseHupOutcome, updateRecord } from './hup-outcome.ts';
import type { AttemptRecord, ErrorRecord, RunErrorRecord, Summary, TestRecord, Totals } from './model.ts';
import { stripAnsi } from './text.ts';

export interface RunInfo {
  /** Where summary.json goes; attachment paths are recorded relative to it. */
  reportDir: string;
  /** The folder test files are reported relative to (the Playwright config's). */
  baseDir: string;
  release: string | null;
  from: string | null;
  /** The device when the tests do not tell (none ran). */
  device: string | null;
  workers: number;
  shard: { current: number; total: number } | null;
  result: Pick<FullResult, 'status' | 'startTime' | 'duration'>;
  /** Errors outside tests, as onError received them. */
  runErrors: TestError[];
}

/** Where attachment bodies are written, inside the report folder. */
export const ATTACHMENTS_DIR = 'attachments';

export function errorRecord(e: TestError, baseDir: string): ErrorRecord {
  return {
    message: stripAnsi(e.message ?? e.value ?? 'unknown error').trimEnd(),
    location: e.location ? where(e.location, baseDir) : null,
  };
}

function where(l: Location, baseDir: string): string {
  return `${relative(baseDir, l.file)}:${l.line}:${l.column}`;
}

/** The fault a test injects: its hup-outcome.json says it, or a `fault` annotation. */
export function faultOf(test: TestCase, attempts: AttemptRecord[]): string | null {
  const fromOutcome = attempts.flatMap((a) => a.updates).find((u) => u.fault)?.fault;
  if (fromOutcome) return fromOutcome;
  const annotations = [...test.annotations, ...test.results.flatMap((r) => r.annotations ?? [])];
  return annotations.find((a) => a.type === 'fault' && a.description)?.description ?? null;
}

export function attemptRecord(
  test: TestCase,
  result: TestResult,
  info: Pick<RunInfo, 'reportDir' | 'baseDir'>,
): AttemptRecord {
  const dir = join(info.reportDir, ATTACHMENTS_DIR, safeFileName(test.id), `attempt-${result.retry}`);
  const attachments = materializeAttachments(result.attachments, info.reportDir, dir);
  const updates = attachments.filter(isHupOutcome).map((a) => {
    const read = readAttachment(info.reportDir, a);
    return updateRecord(a.path, 'problem' in read ? read : parseHupOutcome(read.text));
  });
  return {
    retry: result.retry,
    status: result.status,
    classification: classifyAttempt(result, test.expectedStatus),
    startTime: result.startTime.toISOString(),
    durationMs: Math.round(result.duration),
    workerIndex: result.workerIndex,
    errors: result.errors.map((e) => errorRecord(e, info.baseDir)),
    attachments,
    updates,
  };
}

export function testRecord(test: TestCase, info: Pick<RunInfo, 'reportDir' | 'baseDir'>): TestRecord {
  const attempts = [...test.results].sort((a, b) => a.retry - b.retry).map((r) => attemptRecord(test, r, info));
  const titlePath = test.titlePath().filter((t) => t !== '');
  return {
    id: test.id,
    titlePath,
    title: test.title,
    project: projectOf(test),
    file: relative(info.baseDir, test.location.file),
    line: test.location.line,
    fault: faultOf(test, attempts),
    expectedStatus: test.expectedStatus,
    outcome: classifyTest(
      test.outcome(),
      attempts.map((a) => a.classification),
    ),
    attempts,
  };
}

/** The project a test belongs to: the suite of type 'project' above it. */
function projectOf(test: TestCase): string {
  for (let s: Suite | undefined = test.parent; s; s = s.parent) if (s.type === 'project') return s.title;
  return '';
}

export function totalsOf(tests: TestRecord[]): Totals {
  const count = (o: TestRecord['outcome']) => tests.filter((t) => t.outcome === o).length;
  return {
    tests: tests.length,
    passed: count('passed'),
    failed: count('product'),
    infrastructure: count('infrastructure'),
    flaky: count('flaky'),
    skipped: count('skipped'),
    attempts: tests.reduce((n, t) => n + t.attempts.length, 0),
  };
}

/** Errors outside tests, plus the run itself when it was stopped before its end. */
function runErrors(info: RunInfo): RunErrorRecord[] {
  const errors: RunErrorRecord[] = info.runErrors.map((e) => ({
    ...errorRecord(e, info.baseDir),
    classification: classifyRunError(e),
  }));
  // Stopped from outside (Ctrl-C, SIGTERM): nothing the product did.
  if (info.result.status === 'interrupted')
    errors.push({
      message: 'the run was interrupted before it ended',
      location: null,
      classification: 'infrastructure',
    });
  if (info.result.status === 'timedout')
    errors.push({ message: 'the run reached its global timeout', location: null, classification: 'product' });
  return errors;
}

export function collectSummary(root: Suite, info: RunInfo): Summary {
  const tests = root.allTests().map((t) => testRecord(t, info));
  const projects = [
    ...new Set(root.suites.filter((s) => s.type === 'project' && s.allTests().length > 0).map((s) => s.title)),
  ];
  const device = projects.length === 1 ? deviceOf(root, projects[0]!) : projects.length === 0 ? info.device : null;
  const start = info.result.startTime;
  return {
    schemaVersion: 1,
    device,
    projects,
    release: info.release,
    from: info.from,
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + info.result.duration).toISOString(),
    wallSeconds: Math.round(info.result.duration) / 1000,
    workers: info.workers,
    shard: info.shard,
    status: info.result.status,
    totals: totalsOf(tests),
    errors: runErrors(info),
    tests,
  };
}

/** A device project names its profile in `use.deviceProfile` (playwright.config.ts). */
function deviceOf(root: Suite, project: string): string {
  const p = root.suites.find((s) => s.title === project)?.project();
  const profile = (p?.use as { deviceProfile?: unknown } | undefined)?.deviceProfile;
  return typeof profile === 'string' ? profile : project;
}
