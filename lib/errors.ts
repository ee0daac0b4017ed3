/**
 * The one error type that reaches a user. Everything the harness or the updater reports to a
 * person (CLI, test report, device log) is expected to be a single line that says what is wrong
 * and how to fix it, and a stable `code` lets callers and tests branch on the kind of failure
 * without matching on prose.
 */
export interface HuplabErrorOptions {
  /** How to fix it, shown in parentheses after the message. */
  hint?: string;
  cause?: unknown;
}

export class HuplabError extends Error {
  /** Kebab-case identifier of the failure kind, e.g. 'profile-invalid'. */
  readonly code: string;
  readonly hint?: string;

  /**
   * Two call shapes are accepted: `(code, message, { hint })` and `(message, { code, hint })`;
   * both read naturally at call sites and both are in use.
   */
  constructor(code: string, message: string, options?: HuplabErrorOptions);
  constructor(message: string, options: HuplabErrorOptions & { code: string });
  constructor(a: string, b: string | (HuplabErrorOptions & { code: string }), c: HuplabErrorOptions = {}) {
    const [code, message, options] = typeof b === 'string' ? [a, b, c] : [b.code, a, b];
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HuplabError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
  }

  oneLine(): string {
    const text = this.hint ? `${this.message} (${this.hint})` : this.message;
    // A message built from external text (a file name, a tool's stderr) may carry newlines;
    // the promise of this method is one line, so fold them.
    return text.replace(/\s*\r?\n\s*/g, ' ');
  }
}

export function isHuplabError(err: unknown, code?: string): err is HuplabError {
  return err instanceof HuplabError && (code === undefined || err.code === code);
}
