import { parseFetchDownload, parseStepTimings } from '../../lib/contract/index.ts';
import type { StepTiming, UpdateOutcome } from './types.ts';

/**
 * What the harness reads from the updater's output: its step markers, which are also the
 * console's, and the fetch step's detail, which says what was downloaded from where. The formats
 * are the contract's (lib/contract/steps.ts, download-detail.ts); these name them for the outcome.
 */
export function parseSteps(out: string): StepTiming[] {
  return parseStepTimings(out);
}

export function parseDownload(out: string): UpdateOutcome['download'] {
  return parseFetchDownload(out);
}
