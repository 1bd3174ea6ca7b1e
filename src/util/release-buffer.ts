/**
 * Frees a buffer's memory now instead of at the next garbage collection.
 *
 * Chunk data flows through fresh buffers (fetched bodies, AES-GCM and zstd output: Bun's APIs
 * write into no buffer of ours), and JSC frees a dead one only when it collects, so between
 * paced collections tens of MiB of dead chunks wait, and the allocator, handed them late, gives
 * their pages back to the kernel and faults new ones in (docs/benchmarks.md, session 5).
 * `ArrayBuffer.prototype.transfer(0)` detaches the buffer and frees its memory at once:
 * 400 buffers of 1 MiB in a loop took 4 instead of 30 MiB and 1,650 instead of 8,200 faults.
 *
 * Only for a view that spans its whole buffer, held by nobody else: every other view of that
 * buffer becomes empty. A view into a larger buffer (a pooled Node Buffer, a subarray) is left
 * alone, since others may share it.
 */
export function releaseBuffer(view: Uint8Array): void {
  if (!spansItsBuffer(view) || view.byteLength === 0) return;
  free(view.buffer);
}

/**
 * Frees the output of a cipher's `update` (createCipheriv, createDecipheriv) once used up. Bun
 * allocates each one fresh and one byte longer than the view it returns, so releaseBuffer,
 * which frees only views that span their buffer, left every AES-GCM intermediate of encoding
 * and decoding to the collector.
 */
export function releaseCipherOutput(view: Uint8Array): void {
  if (view.byteOffset !== 0 || view.buffer.byteLength > view.byteLength + 1) return;
  free(view.buffer);
}

function free(buffer: ArrayBufferLike): void {
  if (!(buffer instanceof ArrayBuffer)) return; // a SharedArrayBuffer belongs to more than us
  // transfer() is ES2024 (Bun has it); without it the buffer is simply left to the collector.
  (buffer as ArrayBuffer & { transfer?(length: number): ArrayBuffer }).transfer?.(0);
}

/** Whether a view covers its whole buffer: the buffer can then be transferred or freed as the view's own. */
export function spansItsBuffer(view: Uint8Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}
