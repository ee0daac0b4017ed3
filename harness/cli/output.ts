import { isHuplabError } from '../../lib/errors.ts';
import { lineNarrator, silentNarrator, type Narrator } from '../../lib/narrator.ts';

/** How a command talks: human lines on stderr, or one JSON document on stdout with --json. */
export interface Output {
  json: boolean;
  narrator: Narrator;
  /** The command's result: pretty lines for people, the object itself for --json. */
  result(data: unknown, human: () => string[]): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    // The narration still goes to stderr with --json, so a script's stdout stays one JSON document
    // while a person watching the job sees it move.
    narrator: process.env.HUPLAB_QUIET ? silentNarrator : lineNarrator(),
    result(data, human) {
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...(data as object) }, null, 2)}\n`);
      else for (const line of human()) process.stdout.write(`${line}\n`);
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
