import { isHuplabError } from '../../lib/errors.ts';
import { lineNarrator, silentNarrator, type Narrator } from '../../lib/narrator.ts';

/** How a command talks: human lines on stderr, or one JSON document on stdout with --json. */
export interface Output {
  json: boolean;
  narrator: Narrator;
  /**
   * The command's result: pretty lines for people, the object itself for --json. A result that
   * ends the command with a non-zero status (a failed verdict) passes `failure`: the JSON document
   * then says `ok: false` with the error, and stderr gets the error line.
   */
  result(data: unknown, human: () => string[], failure?: ResultFailure): void;
}

/** Why a command that produced its result still fails (exit status 1). */
export interface ResultFailure {
  code: string;
  message: string;
}

/**
 * The one JSON document of a command: `ok` is true only for a result that exits 0, so a script
 * can trust `ok` as it trusts the exit status.
 */
export function resultDocument(data: unknown, failure?: ResultFailure): Record<string, unknown> {
  return failure
    ? { ok: false, error: { code: failure.code, message: failure.message }, ...(data as object) }
    : { ok: true, ...(data as object) };
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    // The narration still goes to stderr with --json, so a script's stdout stays one JSON document
    // while a person watching the job sees it move.
    narrator: process.env.HUPLAB_QUIET ? silentNarrator : lineNarrator(),
    result(data, human, failure) {
      if (json) process.stdout.write(`${JSON.stringify(resultDocument(data, failure), null, 2)}\n`);
      else for (const line of human()) process.stdout.write(`${line}\n`);
      if (failure) process.stderr.write(`huplab: error: ${failure.message}\n`);
    },
  };
}

/** Prints an error as one line (or a JSON error document) and returns the exit status. */
export function reportError(err: unknown, json: boolean): number {
  const known = isHuplabError(err);
  const message = known ? err.oneLine() : err instanceof Error ? err.message : String(err);
  const code = known ? err.code : 'internal-error';
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: { code, message } }, null, 2)}\n`);
  process.stderr.write(`huplab: error: ${message}\n`);
  // Console timeouts carry the last console lines below the one-line message; show them.
  if (known && err.message.includes('\n')) process.stderr.write(`${err.message.split('\n').slice(1).join('\n')}\n`);
  if (!known && process.env.HUPLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return known ? 1 : 70;
}

/**
 * The failure of a run whose verdict is not ok (`hup`, `demo`): the failed checks, in one line.
 * Undefined for a passing verdict.
 */
export function verdictFailure(verdict: {
  ok: boolean;
  checks?: { ok: boolean; what: string }[];
}): ResultFailure | undefined {
  if (verdict.ok) return undefined;
  const failed = (verdict.checks ?? []).filter((c) => !c.ok).map((c) => c.what);
  return {
    code: 'verdict-failed',
    message: `the outcome does not match the scenario${failed.length ? `: failed ${failed.join(', ')}` : ''} (see the checks above and the console log)`,
  };
}
