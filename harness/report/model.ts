/**
 * The shape of a huplab test report (summary.json, validated by summary.schema.json). The HTML
 * report is rendered from this document and the attachment files it names, so both always agree.
 */

/** How one attempt of a test ended, from the point of view of the release being qualified. */
export type Classification = 'passed' | 'product' | 'infrastructure' | 'skipped';

/** How a test ended over all its attempts. */
export type TestOutcome = 'passed' | 'flaky' | 'product' | 'infrastructure' | 'skipped';

export type AttemptStatus = 'passed' | 'failed' | 'timedOut' | 'skipped' | 'interrupted';

export interface AttachmentRecord {
  name: string;
  contentType: string;
  /** Relative to the report directory when inside it, else absolute; null if it had no content. */
  path: string | null;
}

/** One update of the attempt, from its hup-outcome.json attachment. */
export interface UpdateRecord {
  /** The hup-outcome.json file (same convention as AttachmentRecord.path). */
  path: string | null;
  fault: string | null;
  from: string | null;
  to: string | null;
  /** The verdict; null if the attachment could not be read. */
  ok: boolean | null;
  failedChecks: string[];
  /** Why the attachment could not be read, if it could not. */
  problem?: string;
}

export interface ErrorRecord {
  /** The error message, ANSI escapes removed. */
  message: string;
  /** file:line:column of where it was thrown, if Playwright knows. */
  location: string | null;
}

export interface AttemptRecord {
  /** 0 for the first run, 1 for the first retry, ... */
  retry: number;
  status: AttemptStatus;
  classification: Classification;
  startTime: string;
  durationMs: number;
  workerIndex: number;
  errors: ErrorRecord[];
  attachments: AttachmentRecord[];
  updates: UpdateRecord[];
}

export interface TestRecord {
  id: string;
  /** Project, file, describe blocks and title, as Playwright gives them (the root's '' dropped). */
  titlePath: string[];
  title: string;
  project: string;
  /** Relative to the repository (the Playwright config's folder). */
  file: string;
  line: number;
  fault: string | null;
  expectedStatus: AttemptStatus;
  outcome: TestOutcome;
  attempts: AttemptRecord[];
}

/** An error outside any test (a worker teardown, global setup, an interrupted run). */
export interface RunErrorRecord extends ErrorRecord {
  classification: 'product' | 'infrastructure';
}

export interface Totals {
  tests: number;
  /** Passed on the first attempt (or failed as they were expected to). */
  passed: number;
  /** Product failures: the release under test did not do what it must. */
  failed: number;
  /** Failed only because of the lab (see classify.ts). */
  infrastructure: number;
  /** Passed after a retry; counted as passed by `huplab qualify`'s exit status, but shown. */
  flaky: number;
  skipped: number;
  attempts: number;
}

export interface Summary {
  schemaVersion: 1;
  /** The device profile when the run had one project (`--project <device>`), else null. */
  device: string | null;
  projects: string[];
  release: string | null;
  from: string | null;
  startTime: string;
  endTime: string;
  wallSeconds: number;
  workers: number;
  shard: { current: number; total: number } | null;
  /** Playwright's own verdict on the run. */
  status: 'passed' | 'failed' | 'timedout' | 'interrupted';
  totals: Totals;
  errors: RunErrorRecord[];
  tests: TestRecord[];
}
