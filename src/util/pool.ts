/**
 * Runs `work` on every item, at most `width` at a time, taking items in order. The first failure
 * rejects; workers already running finish their current item and go on with the rest.
 */
export async function inPool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = items.values();
  const worker = async (): Promise<void> => {
    for (let r = queue.next(); !r.done; r = queue.next()) await work(r.value);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
