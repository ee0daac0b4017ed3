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
  /**
   * The failure is the lab's, not the product's: QEMU did not start, a port clash, no usable
   * accelerator, the backend could not listen, a download or host tool failed. Such errors'
   * messages start with INFRASTRUCTURE_PREFIX, so a test report can tell them apart from
   * product failures from the message text alone. Default: true for INFRASTRUCTURE_CODES.
   */
  infrastructure?: boolean;
}

/**
 * The fixed start of an infrastructure error's message. Test reports only see the message text
 * (Playwright serialises an error as "<name>: <message>"), so this prefix is the contract
 * between the code that fails and harness/report/classify.ts. Do not change it lightly.
 */
export const INFRASTRUCTURE_PREFIX = 'infrastructure: ';

/**
 * Codes that are infrastructure failures wherever they are thrown, for code that is not marked
 * call site by call site: the image builder (images/builder/: its sources are part of the image
 * cache key) and device flashing. A failed download or a missing host tool is the lab's problem;
 * a digest mismatch is not listed, since the updater uses that code for a product failure.
 */
export const INFRASTRUCTURE_CODES: ReadonlySet<string> = new Set([
  'debian-download-failed', // images/builder/apt.ts: a .deb could not be fetched
  'debian-package-missing', // images/builder/apt.ts: apt's lists do not know a package (run apt-get update)
  'npm-download-failed', // images/builder/npm-blob.ts: the Node.js runtime could not be fetched
  'grub-failed', // images/builder/grub-efi.ts: grub-mkimage missing or failing on the host
  'flash-failed', // harness/device/provision.ts: copying the image into the lab (disk full)
]);

export class HuplabError extends Error {
  /** Kebab-case identifier of the failure kind, e.g. 'profile-invalid'. */
  readonly code: string;
  readonly hint?: string;
  /** The lab failed, not the product; the message starts with INFRASTRUCTURE_PREFIX. */
  readonly infrastructure: boolean;

  /**
   * Two call shapes are accepted: `(code, message, { hint })` and `(message, { code, hint })`;
   * both read naturally at call sites and both are in use.
   */
  constructor(code: string, message: string, options?: HuplabErrorOptions);
  constructor(message: string, options: HuplabErrorOptions & { code: string });
  constructor(a: string, b: string | (HuplabErrorOptions & { code: string }), c: HuplabErrorOptions = {}) {
    const [code, message, options] = typeof b === 'string' ? [a, b, c] : [b.code, a, b];
    const infrastructure = options.infrastructure ?? INFRASTRUCTURE_CODES.has(code);
    const text =
      infrastructure && !message.startsWith(INFRASTRUCTURE_PREFIX) ? `${INFRASTRUCTURE_PREFIX}${message}` : message;
    super(text, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HuplabError';
    this.code = code;
    this.infrastructure = infrastructure;
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

const PREFIXED = new RegExp(`^(?:[A-Za-z_$][\\w$.]*: )?${INFRASTRUCTURE_PREFIX}`);

/**
 * True if an error message (as an Error's message, or as a report shows it: "HuplabError: ...")
 * marks an infrastructure failure: its first line starts with INFRASTRUCTURE_PREFIX, after an
 * optional error name.
 */
export function hasInfrastructurePrefix(message: string): boolean {
  return PREFIXED.test(message);
}

/** True for an infrastructure error, or an error caused (through `cause`) by one. */
export function isInfrastructureError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if ((isHuplabError(e) && e.infrastructure) || hasInfrastructurePrefix(e.message)) return true;
  }
  return false;
}
