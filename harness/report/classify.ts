/**
 * Product or infrastructure? A failed attempt is the lab's fault, not the release's, only when
 * the error says so explicitly; nothing here guesses from prose. The rules, in order:
 *
 * 1. The attempt ended as expected: 'passed'. Skipped: 'skipped'.
 * 2. Interrupted (Ctrl-C, the run stopped by maxFailures): 'infrastructure': the test never got
 *    to show anything about the product.
 * 3. The attempt's first error (the one that failed it; later ones are usually its consequences,
 *    in teardown) is an infrastructure error:
 *    - its message starts with INFRASTRUCTURE_PREFIX ("infrastructure: ", lib/errors.ts), after
 *      Playwright's "<ErrorName>: ". HuplabError adds it for errors created with
 *      { infrastructure: true } (QEMU start, port clash, QMP connect, accelerator, firmware, the
 *      backend's listen: harness/qemu, harness/backend) and for the codes in
 *      INFRASTRUCTURE_CODES (image builder downloads and host tools, flashing);
 *    - or its `cause` chain holds such an error;
 *    - or it is Node's own ENOSPC error ("ENOSPC: no space left on device, ..."), which only
 *      the host's file system throws in the harness: the device's full /data reaches the
 *      harness as updater output, never as a Node system error.
 * 4. Anything else, timeouts included: 'product'.
 */
import { hasInfrastructurePrefix } from '../../lib/errors.ts';
import type { TestError, TestResult } from '@playwright/test/reporter';
import type { Classification, TestOutcome } from './model.ts';
import { stripAnsi } from './text.ts';

const HOST_DISK_FULL = /^(?:Error: )?ENOSPC: /;

/** Rule 3 on one error as Playwright reports it. */
export function isInfrastructureFailure(error: TestError | undefined, depth = 0): boolean {
  if (!error || depth > 10) return false;
  const text = stripAnsi(error.message ?? error.value ?? '');
  if (hasInfrastructurePrefix(text) || HOST_DISK_FULL.test(text)) return true;
  return isInfrastructureFailure(error.cause, depth + 1);
}

export function classifyAttempt(
  result: Pick<TestResult, 'status' | 'errors' | 'error'>,
  expectedStatus: TestResult['status'],
): Classification {
  if (result.status === 'skipped') return 'skipped';
  if (result.status === expectedStatus) return 'passed';
  if (result.status === 'interrupted') return 'infrastructure';
  return isInfrastructureFailure(result.errors[0] ?? result.error) ? 'infrastructure' : 'product';
}

/**
 * A test's outcome over its attempts, from Playwright's own (expected/unexpected/flaky/skipped).
 * A test that failed every attempt is a product failure if any attempt failed for the product:
 * a retry that then hit a lab problem must not hide it.
 */
export function classifyTest(
  playwrightOutcome: 'skipped' | 'expected' | 'unexpected' | 'flaky',
  attempts: Classification[],
): TestOutcome {
  switch (playwrightOutcome) {
    case 'skipped':
      return 'skipped';
    case 'expected':
      return 'passed';
    case 'flaky':
      return 'flaky';
    case 'unexpected':
      return attempts.includes('product') || !attempts.includes('infrastructure') ? 'product' : 'infrastructure';
  }
}

/** An error outside any test (onError): the same rule 3. */
export function classifyRunError(error: TestError): 'product' | 'infrastructure' {
  return isInfrastructureFailure(error) ? 'infrastructure' : 'product';
}
