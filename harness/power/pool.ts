/**
 * Runs `fn` over `items` on at most `workers` at once, results in the items' order. The first
 * error stops the scheduling of further items and is thrown at once (the caller powers off
 * whatever the items still running had started); items already running are not waited for.
 */
export async function runPool<T, R>(
  items: readonly T[],
  workers: number,
  fn: (item: T, index: number, worker: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(workers) || workers < 1)
    throw new RangeError(`workers must be a whole number >= 1, not ${workers}`);
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lane = async (worker: number): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i, worker);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.max(1, items.length)) }, (_, w) => lane(w)));
  return results;
}
