/**
 * What a failed fetch() says: its own message is only "fetch failed"; the reason (ECONNRESET,
 * ECONNREFUSED, a timeout) is its cause, which a one-line error must name.
 */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const text = e instanceof Error ? e.message : String(err);
  const cause = e?.cause ? (e.cause.code ?? e.cause.message ?? String(e.cause)) : undefined;
  return cause && cause !== text ? `${text} (${cause})` : text;
}
