/**
 * What a whole run means for the release, and the exit status `huplab qualify` gives it:
 * 0 passed (flaky tests count as passed, and are shown), 1 a product failure, 2 only
 * infrastructure failures (the lab must be fixed and the run repeated; the release is not to
 * blame).
 */
import type { Summary } from './model.ts';

export type RunVerdict = 'passed' | 'product' | 'infrastructure';

export function runVerdict(s: Pick<Summary, 'totals' | 'errors'>): RunVerdict {
  if (s.totals.failed > 0 || s.errors.some((e) => e.classification === 'product')) return 'product';
  if (s.totals.infrastructure > 0 || s.errors.some((e) => e.classification === 'infrastructure'))
    return 'infrastructure';
  return 'passed';
}

export const EXIT_STATUS: Record<RunVerdict, number> = { passed: 0, product: 1, infrastructure: 2 };
