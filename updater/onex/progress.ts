/**
 * Progress of the resinOS 1.x update at the API, at the field's percentages and in its words
 * (lib/contract/onex.ts ONEX_PROGRESS), through the reporter every updater uses.
 */
import { ONEX_PROGRESS } from '../../lib/contract/onex.ts';
import type { ProgressReporter } from '../common/progress.ts';

export type OnexStage = keyof typeof ONEX_PROGRESS;

/** The API status that goes with each stage. */
const STATUS: Record<OnexStage, string> = {
  preparing: 'updating',
  supervisor: 'updating',
  preparing2: 'updating',
  running: 'updating',
  finalizing: 'updating',
  done: 'rebooting',
  doneNoReboot: 'done',
  alreadyUpdated: 'done',
  failed: 'failed',
};

/** Reports a stage: the failure hard (it must arrive: ten attempts), the others with two. */
export function reportStage(reporter: Pick<ProgressReporter, 'report'>, stage: OnexStage): Promise<boolean> {
  const { percent, message } = ONEX_PROGRESS[stage];
  return reporter.report(percent, message, STATUS[stage], stage === 'failed' ? 10 : 2);
}
