/**
 * The huplab Playwright reporter: after the run, summary.json (every attempt of every test,
 * classified product or infrastructure) and report.html (self-contained) in one folder.
 *
 *   reporter: [['./harness/report/reporter.ts', { outputDir: 'reports' }]]
 *
 * Options (or environment): outputDir (HUPLAB_REPORT_DIR, default reports/), release
 * (HUPLAB_NEXT_RELEASE), from (HUPLAB_BASE_RELEASE), device (HUPLAB_DEVICE; by default the one
 * project that ran), maxLogBytes (per inlined log, default 1 MB).
 */
import { defaultSuiteReleases, suiteReleasesFor } from '../update/suite-releases.ts';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FullConfig, FullResult, Reporter, Suite, TestError } from '@playwright/test/reporter';
import { ATTACHMENTS_DIR, collectSummary } from './collect.ts';
import { DEFAULT_MAX_LOG_BYTES, REPORT_FILE, renderReport } from './html.ts';
import type { Summary } from './model.ts';
import { writeAtomically, writeSummary } from './summary-json.ts';

export interface HuplabReporterOptions {
  outputDir?: string;
  release?: string;
  from?: string;
  /** The device profile, when the run itself does not tell (no test ran). */
  device?: string;
  maxLogBytes?: number;
  /** Print where the report is at the end (default true). */
  announce?: boolean;
}

export default class HuplabReporter implements Reporter {
  private config?: FullConfig;
  private root?: Suite;
  private readonly runErrors: TestError[] = [];
  /** The last summary written, for callers that drive the reporter themselves (tests). */
  summary?: Summary;

  constructor(private readonly options: HuplabReporterOptions = {}) {}

  /** Relative paths are the config folder's, as Playwright's own reporters take theirs. */
  get baseDir(): string {
    return this.config?.configFile ? dirname(this.config.configFile) : process.cwd();
  }

  get reportDir(): string {
    return resolve(this.baseDir, this.options.outputDir ?? process.env.HUPLAB_REPORT_DIR ?? 'reports');
  }

  printsToStdio(): boolean {
    return false;
  }

  onBegin(config: FullConfig, suite: Suite): void {
    this.config = config;
    this.root = suite;
    // Attachment bodies of an earlier run into the same folder (reports/ of `npm test`) would
    // otherwise pile up; the folder is this reporter's alone.
    try {
      rmSync(join(this.reportDir, ATTACHMENTS_DIR), { recursive: true, force: true });
    } catch {
      /* an unusable folder is reported once, at the end */
    }
  }

  onError(error: TestError): void {
    this.runErrors.push(error);
  }

  onEnd(result: FullResult): void {
    if (!this.config || !this.root) return;
    // A report that cannot be written must not take the run's own result down with it: say so
    // and leave (`huplab qualify` then reports the missing summary).
    try {
      this.write(result);
    } catch (err) {
      process.stderr.write(
        `huplab report: could not be written to ${this.reportDir}: ${(err as Error).stack ?? err}\n`,
      );
    }
  }

  /**
   * The device profile of the run when it is one (a single device project ran tests), so that the
   * report names that profile's releases rather than generic-amd64's.
   */
  private runProfile(): string | undefined {
    const profiles = new Set<string>();
    for (const project of this.root?.suites ?? []) {
      const profile = (project.project()?.use as { deviceProfile?: string } | undefined)?.deviceProfile;
      if (profile && project.allTests().length > 0) profiles.add(profile);
    }
    return profiles.size === 1 ? [...profiles][0] : undefined;
  }

  private write(result: FullResult): void {
    const reportDir = this.reportDir;
    const profile = this.runProfile();
    const releases = profile ? suiteReleasesFor(profile) : defaultSuiteReleases();
    const summary = collectSummary(this.root!, {
      reportDir,
      baseDir: this.baseDir,
      release: this.options.release ?? releases.next,
      from: this.options.from ?? releases.base,
      device: this.options.device ?? process.env.HUPLAB_DEVICE ?? profile ?? null,
      workers: this.config!.workers,
      shard: this.config!.shard,
      result,
      runErrors: this.runErrors,
    });
    writeSummary(reportDir, summary);
    this.summary = summary;
    const html = renderReport(summary, { reportDir, maxLogBytes: this.options.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES });
    writeAtomically(join(reportDir, REPORT_FILE), html);
    if (this.options.announce !== false) process.stdout.write(`huplab report: ${join(reportDir, REPORT_FILE)}\n`);
  }
}
