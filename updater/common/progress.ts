import { renameSync, writeFileSync } from 'node:fs';
import type { DeviceConfig } from './config.ts';
import { STATE_FILES, statePath } from '../../lib/contract/state-files.ts';
import { downloadProgressMessage } from '../../lib/contract/update-log.ts';
import { fetchFailure } from '../../lib/fetch-failure.ts';

/**
 * Reports update progress to the API (percent + message, as the dashboard's progress bar needs).
 * A failed report is retried a few times and never fails the update, except the final
 * "OS update failed", which is retried until the API has it or the attempts run out.
 */
export class ProgressReporter {
  constructor(
    private readonly config: DeviceConfig,
    private readonly log: (m: string) => void,
  ) {}

  async report(percent: number, message: string, status = 'updating', attempts = 3): Promise<boolean> {
    if (!this.config.apiEndpoint) return false;
    const url = `${this.config.apiEndpoint.replace(/\/$/, '')}/v1/devices/${this.config.uuid}/progress`;
    const key = this.config.deviceApiKey ?? this.config.apiKey;
    for (let i = 0; i < attempts; i++) {
      try {
        const r = await fetch(url, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify({ percent, message, status }),
          signal: AbortSignal.timeout(10_000),
        });
        if (r.ok) return true;
        this.log(`progress report answered ${r.status}`);
      } catch (err) {
        this.log(`progress report failed (attempt ${i + 1} of ${attempts}): ${fetchFailure(err)}`);
      }
      await new Promise((res) => setTimeout(res, 1000 * (i + 1)));
    }
    return false;
  }

  /**
   * A step's milestone: two attempts, so that one dropped connection (seen once on the Jetson
   * under TCG) does not lose it, while a dead API costs the step only a second.
   */
  milestone(percent: number, message: string): Promise<boolean> {
    return this.report(percent, message, 'updating', 2);
  }
}

export interface DownloadProgressOptions {
  /** What downloads: the full image or a delta (the message says which). */
  kind: 'delta' | 'full';
  /** The part of the overall bar the download fills: [from, to], percent. */
  band: readonly [number, number];
  /** At most one report per this many ms (default 2 s)... */
  minIntervalMs?: number;
  /** ...unless the bar moved this many points since the last one (default 5). */
  minPoints?: number;
  now?: () => number;
}

/**
 * Progress of a download at the API, as bytes arrive: the bar moves through the download's band
 * and the message says how much has arrived ("Downloading the new OS: 12.3 of 56.8 MB").
 * Throttled: a report when `minIntervalMs` passed or the bar moved `minPoints` since the last
 * one, one report in flight at a time, never a step back (a download started over on the
 * fallback registry keeps the bar where it was). Reports are sent with one attempt and never
 * hold the download up; `finish()` sends the last state and waits for the report in flight.
 */
export class DownloadProgress {
  private readonly minIntervalMs: number;
  private readonly minPoints: number;
  private readonly now: () => number;
  private lastAt: number;
  private lastPercent: number;
  private lastSent: { bytes: number; total: number | undefined } | undefined;
  private current: { bytes: number; total: number | undefined } | undefined;
  private inFlight: Promise<unknown> | undefined;
  /** The reports sent, in order (percent and message): for the step's log and the tests. */
  readonly sent: Array<{ percent: number; message: string }> = [];

  constructor(
    private readonly reporter: Pick<ProgressReporter, 'report'>,
    private readonly opts: DownloadProgressOptions,
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 2_000;
    this.minPoints = opts.minPoints ?? 5;
    this.now = opts.now ?? Date.now;
    this.lastAt = this.now();
    this.lastPercent = opts.band[0];
  }

  /** The bar's position for `bytes` of `total`: within the band, never below the last report. */
  percentFor(bytes: number, total: number | undefined): number {
    const [from, to] = this.opts.band;
    const share = total && total > 0 ? Math.min(1, Math.max(0, bytes / total)) : 0;
    return Math.max(this.lastPercent, Math.floor(from + (to - from) * share));
  }

  /** Called with every chunk (as downloadVerified's onProgress): reports when due. */
  update(bytes: number, total: number | undefined): void {
    this.current = { bytes, total };
    if (this.inFlight) return;
    const percent = this.percentFor(bytes, total);
    const due = this.now() - this.lastAt >= this.minIntervalMs || percent - this.lastPercent >= this.minPoints;
    if (due && bytes !== this.lastSent?.bytes) this.send(percent, bytes, total);
  }

  /** Sends the last state if it was not reported yet, and waits for the report in flight. */
  async finish(): Promise<void> {
    await this.inFlight;
    const c = this.current;
    if (c && (c.bytes !== this.lastSent?.bytes || c.total !== this.lastSent?.total))
      this.send(this.percentFor(c.bytes, c.total), c.bytes, c.total);
    await this.inFlight;
  }

  private send(percent: number, bytes: number, total: number | undefined): void {
    const message = downloadProgressMessage(this.opts.kind, bytes, total);
    this.lastAt = this.now();
    this.lastPercent = percent;
    this.lastSent = { bytes, total };
    this.sent.push({ percent, message });
    this.inFlight = this.reporter
      .report(percent, message, 'updating', 1)
      .catch(() => false)
      .finally(() => {
        this.inFlight = undefined;
      });
  }
}

/**
 * A report that cannot be sent now (early boot: no network yet) is kept on the state partition
 * and sent by the report-pending service once the network is up.
 */
export const PENDING_REPORT = statePath(STATE_FILES.pendingReport);

export function savePendingReport(percent: number, message: string, status: string): void {
  writeFileSync(`${PENDING_REPORT}.tmp`, JSON.stringify({ percent, message, status }));
  renameSync(`${PENDING_REPORT}.tmp`, PENDING_REPORT);
}
