import { UPDATER_EXIT } from '../../lib/contract/exit-codes.ts';
import { timedDetail } from '../../lib/contract/steps.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { UPDATE_FAILED, updateFailedReason } from '../../lib/contract/update-log.ts';
import type { UpdateLog } from './log.ts';
import type { ProgressReporter } from './progress.ts';

/** One step of an updater: its marker name, its milestone at the API, and what it does. */
export interface UpdateStep<C> {
  name: string;
  /** Percent and message reported as the step starts; none for a step that reports itself. */
  milestone?: readonly [number, string];
  /** Does the step; what it returns is the detail of its done marker. */
  run(ctx: C): Promise<string | void>;
}

/** An updater's steps in the contract's order (`names`), each with its milestone if it has one. */
export function orderedSteps<N extends string, C>(
  names: readonly N[],
  run: Record<N, UpdateStep<C>['run']>,
  milestones: Partial<Record<N, readonly [number, string]>>,
): UpdateStep<C>[] {
  return names.map((name) => {
    const milestone = milestones[name];
    return { name, ...(milestone ? { milestone } : {}), run: run[name] };
  });
}

/** What the runner needs of an updater's context: its log and its reporter, nothing else. */
export interface StepContext {
  log: Pick<UpdateLog, 'marker' | 'line'>;
  progress: Pick<ProgressReporter, 'milestone' | 'report'>;
}

/** How an updater ends after a failed step, once the failure is marked. */
export interface FailurePath<C> {
  /** The log's "OS update failed: ..." line for the reason `why`. */
  failedLine(why: string): string;
  /** Puts back what the run changed on the running system. */
  cleanup(ctx: C): void | Promise<void>;
}

/**
 * Runs the steps in order, each between its start and done markers (the harness times steps and
 * aims faults by them). The first failure is marked on its step, logged, cleaned up after and
 * reported to the API: its reason first ("OS update failed: <why>", two attempts), then the
 * field's "OS update failed", retried hard, as the one report that must arrive and the last one;
 * later steps do not run.
 * Returns the updater's exit status.
 */
export async function runSteps<C extends StepContext>(
  ctx: C,
  steps: readonly UpdateStep<C>[],
  failure: FailurePath<C>,
): Promise<number> {
  const { log } = ctx;
  let current = steps[0]?.name ?? '';
  try {
    for (const step of steps) {
      current = step.name;
      log.marker(step.name, 'start');
      if (step.milestone) await ctx.progress.milestone(...step.milestone);
      const started = Date.now();
      const detail = await step.run(ctx);
      log.marker(step.name, 'done', timedDetail((Date.now() - started) / 1000, detail || ''));
    }
    return UPDATER_EXIT.ok;
  } catch (err) {
    const why = isHuplabError(err) ? err.oneLine() : err instanceof Error ? err.message : String(err);
    log.marker(current, 'failed', why);
    log.line(failure.failedLine(why));
    await failure.cleanup(ctx);
    await ctx.progress.report(100, updateFailedReason(why), 'failed', 2);
    await ctx.progress.report(100, UPDATE_FAILED, 'failed', 10);
    return UPDATER_EXIT.failed;
  }
}
