import { renameSync, writeFileSync } from 'node:fs';
import type { DeviceConfig } from './config.ts';
import { STATE_FILES, statePath } from '../../lib/contract/state-files.ts';

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
        // fetch's own message is only "fetch failed"; the reason (ECONNRESET, a timeout) is the cause.
        const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
        const why = cause
          ? `${(err as Error).message} (${cause.code ?? cause.message ?? String(cause)})`
          : (err as Error).message;
        this.log(`progress report failed (attempt ${i + 1} of ${attempts}): ${why}`);
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

/**
 * A report that cannot be sent now (early boot: no network yet) is kept on the state partition
 * and sent by the report-pending service once the network is up.
 */
export const PENDING_REPORT = statePath(STATE_FILES.pendingReport);

export function savePendingReport(percent: number, message: string, status: string): void {
  writeFileSync(`${PENDING_REPORT}.tmp`, JSON.stringify({ percent, message, status }));
  renameSync(`${PENDING_REPORT}.tmp`, PENDING_REPORT);
}
