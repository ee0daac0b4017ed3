import type { StepTiming, UpdateOutcome } from './types.ts';

/**
 * What the harness reads from the updater's output: its step markers (`[hup] step NAME done (Ns)
 * DETAIL`), which are also the console's, and the fetch step's detail, which says what was
 * downloaded from where.
 */
export function parseSteps(out: string): StepTiming[] {
  const steps: StepTiming[] = [];
  for (const m of out.matchAll(/\[hup\] step (\S+) done \(([\d.]+)s\) ?(.*)$/gm))
    steps.push({ step: m[1]!, seconds: Number(m[2]), detail: m[3] ?? '' });
  return steps;
}

export function parseDownload(out: string): UpdateOutcome['download'] {
  const d = /\[hup\] step fetch done \([\d.]+s\) (delta|full image) \S+ \((\d+) bytes\) from ([^\s;]+)/.exec(out);
  return d ? { kind: d[1] === 'delta' ? 'delta' : 'full', bytes: Number(d[2]), source: d[3]! } : undefined;
}
