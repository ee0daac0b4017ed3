/**
 * The hup-outcome.json attachment: one per update a test runs, written by the suites as
 * `{ fault?, outcome: UpdateOutcome, verdict: Verdict }`. UpdateOutcome may gain fields, and a
 * report must never fail because one attachment is odd: parsing checks only what the report
 * uses and says what is wrong otherwise.
 */
import type { UpdateRecord } from './model.ts';
import type { UpdateOutcome, Verdict } from '../update/types.ts';

export interface HupOutcomeDoc {
  fault?: string;
  outcome: UpdateOutcome;
  verdict: Verdict;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks the fields the report reads; the rest is passed through untouched. */
export function parseHupOutcome(text: string): { doc: HupOutcomeDoc } | { problem: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { problem: `not JSON: ${(err as Error).message}` };
  }
  if (!isObject(data)) return { problem: 'not a JSON object' };
  const { outcome, verdict, fault } = data;
  if (fault !== undefined && typeof fault !== 'string') return { problem: '/fault is not a string' };
  if (!isObject(verdict) || typeof verdict.ok !== 'boolean' || !Array.isArray(verdict.checks))
    return { problem: '/verdict must be { ok: boolean, checks: [...] }' };
  if (!verdict.checks.every((c) => isObject(c) && typeof c.what === 'string' && typeof c.ok === 'boolean'))
    return { problem: '/verdict/checks must be { what, ok, detail } objects' };
  if (!isObject(outcome) || !Array.isArray(outcome.steps)) return { problem: '/outcome/steps is missing' };
  if (!outcome.steps.every((s) => isObject(s) && typeof s.step === 'string' && typeof s.seconds === 'number'))
    return { problem: '/outcome/steps must be { step, seconds, detail } objects' };
  return { doc: data as unknown as HupOutcomeDoc };
}

/** The few facts summary.json keeps of an update. */
export function updateRecord(
  path: string | null,
  parsed: ReturnType<typeof parseHupOutcome> | { problem: string },
): UpdateRecord {
  if ('problem' in parsed)
    return { path, fault: null, from: null, to: null, ok: null, failedChecks: [], problem: parsed.problem };
  const { doc } = parsed;
  return {
    path,
    fault: doc.fault ?? null,
    from: doc.outcome.before?.version ?? null,
    to: doc.outcome.to ?? null,
    ok: doc.verdict.ok,
    failedChecks: doc.verdict.checks.filter((c) => !c.ok).map((c) => c.what),
  };
}
