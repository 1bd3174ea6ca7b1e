/**
 * A full garbage collection that frees dead buffers now but keeps their pages for reuse.
 *
 * Our threads allocate a fresh buffer for nearly every chunk (fetched bodies, decrypted and
 * decompressed data, encoded blobs), and JSC frees them only when it collects, so the client
 * paces full collections by work done (gc-pacer.ts, the worker threads). `Bun.gc(true)` also
 * makes Bun's allocator hand every free page back to the kernel at once, so the next chunks
 * fault those pages in again, 4 KiB at a time: ~580,000 faults in the 1 GiB benchmark restore.
 * bun:jsc's `gcAndSweep()` runs the full collection and sweeps at once (dead ArrayBuffers are
 * freed before it returns, which `fullGC()` leaves to a later incremental sweep) without that
 * purge; the allocator reuses the freed pages and returns idle ones on its own schedule.
 * Measured on the benchmark restore (docs/benchmarks.md, session 4): 575-595k -> 250-300k
 * faults, ~1 s less CPU, peak RSS +15-25 MiB; `fullGC()` alone: ~215k faults but +55 MiB.
 *
 * Use Bun.gc(true) only where returning memory to the kernel is the point (scrypt's scratch
 * memory, connection.ts).
 */
import { gcAndSweep } from "bun:jsc";

export function collectGarbage(): void {
  gcAndSweep();
}
