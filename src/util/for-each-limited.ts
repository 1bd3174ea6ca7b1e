/**
 * Bounded concurrency for async work over a list or an async iterable: used by the datastore
 * (parallel deletes) and maintenance (verify), so it lives below both.
 */
/**
 * Runs `fn` over the items with at most `limit` in flight, pulling items lazily so an async
 * iterable of any length is consumed with bounded memory. Stops pulling once `stop()` is true.
 */
export async function forEachLimited<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  const iterator = Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : toAsync((items as Iterable<T>)[Symbol.iterator]());
  let failure: unknown = null;
  let done = false;
  // One shared pull: async iterators must not be advanced concurrently.
  let pulling: Promise<IteratorResult<T>> = Promise.resolve({ done: false, value: undefined as T });
  const next = () => (pulling = pulling.then(() => iterator.next()));
  const worker = async () => {
    while (!done && failure === null && !stop()) {
      const r = await next();
      if (r.done) {
        done = true;
        return;
      }
      try {
        await fn(r.value);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (!done) await iterator.return?.();
  if (failure !== null) throw failure;
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: async () => it.next() };
}
