import { escapeRegExp } from './regex.ts';

/**
 * The step marker: `[hup] step NAME start|done|failed DETAIL`, printed on the console and in the
 * log by the updaters and the rollback services, and `[takeover] step ...` by takeover stage 2.
 * A done marker's detail starts with the step's duration, `(1.5s)` (stage 2: whole seconds).
 */
export const STEP_PHASES = ['start', 'done', 'failed'] as const;
export type StepPhase = (typeof STEP_PHASES)[number];

/** Who prints the marker: the Node programs (updaters, rollback services) or takeover stage 2. */
export type StepSource = 'hup' | 'takeover';

/** `[hup] step ` : what every step marker of `source` starts with. */
export function stepPrefix(source: StepSource = 'hup'): string {
  return `[${source}] step `;
}

export function stepLine(step: string, phase: StepPhase, detail = '', source: StepSource = 'hup'): string {
  return `${stepPrefix(source)}${step} ${phase}${detail ? ` ${detail}` : ''}`;
}

/** A done marker's detail: the duration (one decimal), then what the step says it did. */
export function timedDetail(seconds: number, detail = ''): string {
  return `(${seconds.toFixed(1)}s)${detail ? ` ${detail}` : ''}`;
}

export interface StepMarker {
  step: string;
  phase: StepPhase;
  /** The duration a done marker carries; undefined on the others and on an untimed done. */
  seconds: number | undefined;
  detail: string;
}

function sourceRe(source: StepSource | 'any'): string {
  return source === 'any' ? '\\[(?:hup|takeover)\\] step ' : escapeRegExp(stepPrefix(source));
}

/** Every step marker of `source` in `text`, in order. */
export function parseStepLines(text: string, source: StepSource = 'hup'): StepMarker[] {
  const re = new RegExp(`${sourceRe(source)}(\\S+) (start|done|failed)(?: \\(([\\d.]+)s\\))? ?(.*)$`, 'gm');
  return [...text.matchAll(re)].map((m) => ({
    step: m[1]!,
    phase: m[2] as StepPhase,
    seconds: m[3] === undefined ? undefined : Number(m[3]),
    detail: m[4] ?? '',
  }));
}

/** The timed done markers of the Node programs in `text`: what each step took and said. */
export function parseStepTimings(text: string): Array<{ step: string; seconds: number; detail: string }> {
  const re = stepRe({ phase: 'done', after: ' \\(([\\d.]+)s\\) ?(.*)$', flags: 'gm' });
  return [...text.matchAll(re)].map((m) => ({ step: m[1]!, seconds: Number(m[2]), detail: m[3] ?? '' }));
}

/** The first failed marker in `text`: which step, and why (the rest of its line). */
export function findFailedStep(
  text: string,
  source: StepSource | 'any' = 'hup',
): { step: string; why: string } | undefined {
  const m = new RegExp(`${sourceRe(source)}(\\S+) failed (.*)$`, 'm').exec(text);
  return m ? { step: m[1]!, why: m[2]! } : undefined;
}

/**
 * A pattern for step markers, for what the parsers above do not cover (waiting for one step,
 * a failure whose detail says something). The step is a literal name, or a pattern
 * (`stepPattern`, regex source) or any name, captured; several phases are captured too;
 * `after` (regex source) follows the phase.
 */
export function stepRe(o: {
  source?: StepSource | 'any';
  step?: string;
  stepPattern?: string;
  phase?: StepPhase | readonly StepPhase[];
  after?: string;
  flags?: string;
}): RegExp {
  const step = o.step !== undefined ? escapeRegExp(o.step) : (o.stepPattern ?? '(\\S+)');
  const phase = o.phase === undefined ? STEP_PHASES : o.phase;
  const phaseRe = typeof phase === 'string' ? phase : `(${phase.join('|')})`;
  return new RegExp(`${sourceRe(o.source ?? 'hup')}${step} ${phaseRe}${o.after ?? ''}`, o.flags);
}
