/**
 * Synthetic Playwright reporter objects (TestCase, TestResult, Suite, FullConfig) for the report
 * tests: only what the huplab reporter reads, with Playwright's own outcome() rule.
 */
import type { FullConfig, FullResult, Suite, TestCase, TestError, TestResult } from '@playwright/test/reporter';
import { HuplabError } from '../../lib/errors.ts';

export type Status = TestResult['status'];
type Attachment = TestResult['attachments'][number];

export interface FakeAttempt {
  status: Status;
  errors?: TestError[];
  attachments?: Attachment[];
  durationMs?: number;
}

/** An error as Playwright serialises a thrown Error: "<name>: <message>" (util.js filterStackTrace). */
export function thrown(err: Error, file = '/repo/suites/x.spec.ts'): TestError {
  const message = `${err.name}: ${err.message}`;
  return { message, stack: `${message}\n    at ${file}:10:5`, location: { file, line: 10, column: 5 } };
}

export const productError = () =>
  thrown(
    new Error(
      '\x1b[2mexpect(\x1b[22m\x1b[31mreceived\x1b[39m\x1b[2m).\x1b[22mtoEqual\x1b[2m(\x1b[22m\x1b[32mexpected\x1b[39m\x1b[2m)\x1b[22m\n\n- Expected  - 1\n+ Received  + 3',
    ),
  );
export const infraError = () =>
  thrown(
    new HuplabError('qemu-start-failed', 'QEMU failed to start t1-0: Could not access KVM kernel module', {
      infrastructure: true,
    }),
  );

/** Playwright's TestCase.outcome(): interrupted and skipped attempts do not count. */
function outcome(results: TestResult[], expected: Status): ReturnType<TestCase['outcome']> {
  const ran = results.filter((r) => r.status !== 'skipped' && r.status !== 'interrupted');
  if (ran.length === 0) return 'skipped';
  const failures = ran.filter((r) => r.status !== expected);
  if (failures.length === 0) return 'expected';
  if (failures.length === ran.length) return 'unexpected';
  return 'flaky';
}

let ids = 0;
const started = new Date('2026-11-23T10:00:00.000Z');

export interface FakeTest {
  title: string;
  describe?: string;
  file?: string;
  attempts: FakeAttempt[];
  annotations?: TestCase['annotations'];
  expectedStatus?: Status;
}

export function fakeRun(
  project: string,
  tests: FakeTest[],
  rootDir = '/repo',
): { root: Suite; config: FullConfig; result: FullResult } {
  const root = { type: 'root', title: '', suites: [] as Suite[], tests: [], parent: undefined } as unknown as Suite;
  const projectSuite = {
    type: 'project',
    title: project,
    suites: [],
    tests: [],
    parent: root,
    project: () => ({ name: project, use: { deviceProfile: project } }),
  } as unknown as Suite;
  (root.suites as Suite[]).push(projectSuite);
  const cases: TestCase[] = tests.map((t) => {
    const file = `${rootDir}/suites/${t.file ?? 'hup.spec.ts'}`;
    const fileSuite = { type: 'file', title: t.file ?? 'hup.spec.ts', parent: projectSuite } as unknown as Suite;
    const expected = t.expectedStatus ?? 'passed';
    const results: TestResult[] = t.attempts.map(
      (a, retry) =>
        ({
          retry,
          status: a.status,
          duration: a.durationMs ?? 1000 * (retry + 1),
          startTime: new Date(started.getTime() + retry * 60_000),
          errors: a.errors ?? [],
          error: a.errors?.[0],
          attachments: a.attachments ?? [],
          workerIndex: retry % 2,
          parallelIndex: 0,
          annotations: [],
          stdout: [],
          stderr: [],
          steps: [],
        }) as unknown as TestResult,
    );
    const id = `id${String(++ids).padStart(4, '0')}`;
    const titlePath = ['', project, t.file ?? 'hup.spec.ts', ...(t.describe ? [t.describe] : []), t.title];
    return {
      type: 'test',
      id,
      title: t.title,
      titlePath: () => titlePath,
      location: { file, line: 12, column: 3 },
      parent: fileSuite,
      expectedStatus: expected,
      annotations: t.annotations ?? [],
      results,
      retries: 1,
      tags: [],
      timeout: 0,
      repeatEachIndex: 0,
      outcome: () => outcome(results, expected),
      ok: () => outcome(results, expected) !== 'unexpected',
    } as unknown as TestCase;
  });
  (projectSuite as unknown as { allTests: () => TestCase[] }).allTests = () => cases;
  (root as unknown as { allTests: () => TestCase[] }).allTests = () => cases;
  const config = {
    configFile: `${rootDir}/playwright.config.ts`,
    rootDir: `${rootDir}/suites`,
    workers: 2,
    shard: null,
    projects: [],
  } as unknown as FullConfig;
  const duration = 300_000;
  return {
    root,
    config,
    result: {
      status: cases.some((c) => c.outcome() === 'unexpected') ? 'failed' : 'passed',
      startTime: started,
      duration,
    },
  };
}

/** A hup-outcome.json document as the suites attach it, with steps of the measured HUP. */
export function hupOutcome(opts: { ok?: boolean; fault?: string; failedStep?: string } = {}) {
  const facts = (version: string, root: string) => ({
    version,
    root,
    bootEnv: { resin_root_part: root.slice(-1), upgrade_available: '0', bootcount: '0' },
  });
  const steps = [
    ['checks', 0.7],
    ['stop-supervisor', 0.3],
    ['fetch', 0.9],
    ['write-root', 12.4],
    ['boot-files', 0.5],
    ['breadcrumbs', 0.1],
    ['supervisor-update', 0.1],
    ['bootloader-switch', 0.6],
    ['reboot', 0.1],
  ].map(([step, seconds]) => ({ step: step as string, seconds: seconds as number, detail: `${step} <done> & fine` }));
  const ok = opts.ok ?? true;
  return {
    ...(opts.fault ? { fault: opts.fault } : {}),
    outcome: {
      to: '2.102.0',
      exitCode: 0,
      before: facts('2.101.0', 'resin-rootA'),
      after: facts(ok ? '2.102.0' : '2.101.0', ok ? 'resin-rootB' : 'resin-rootA'),
      steps,
      ...(opts.failedStep ? { failedStep: opts.failedStep, failure: 'no space left <on> /mnt/data' } : {}),
      rebooted: true,
      committed: ok,
      rollback: { health: !ok, altboot: false, healthFailed: false },
      breadcrumbs: [],
      download: { source: 'http://10.0.2.2:8001', kind: 'delta', bytes: 9375 },
      progress: [],
      logs: [],
      records: { before: 10, after: 40, intact: true, continuous: true, maxGapSeconds: 24.9 },
      seconds: { update: 20.6, toCommit: 55 },
      updaterOutput: '[hup] step checks start\n\x1b[32m[hup] step checks done (0.7s)\x1b[0m <ok>\n',
      timeline: [
        { at: 0.4, line: '[hup] step checks start' },
        { at: 21.2, line: '[huplab] shutting down <reboot>' },
        { at: 40.5, line: '[huplab] os ready: 2.102.0' },
      ],
      someFutureField: { anything: true },
    },
    verdict: {
      ok,
      checks: [
        { what: 'updater exited 0', ok: true, detail: 'exit 0' },
        { what: 'device rebooted into the new OS', ok, detail: `version 2.101.0 -> ${ok ? '2.102.0' : '2.101.0'}` },
      ],
    },
  };
}
