/**
 * Encodes chunks into blobs (zstd + AES-256-GCM, docs/formats.md) on worker threads, so the
 * slowest stage of the backup pipeline uses the cores the main thread does not. Callers await
 * each `encode`; at most `threads * 2` chunks are in flight per thread pair, which bounds memory.
 *
 * Worker file: compile/build.ts lists it as an extra entry point so the compiled binary has it.
 */
import { availableParallelism } from "node:os";
import { encodeBlob, type EncodeOptions } from "../datastore/blob.ts";
import { workerUrl } from "../util/worker-url.ts";

const WORKER_URL = workerUrl(import.meta.url, "pipeline/encoder-worker.ts");

/** Input buffers kept for reuse: the chunks in flight plus a few. */
const MAX_FREE_BUFFERS = 4;
const MIN_BUFFER = 1024 * 1024;

interface Pending {
  resolve: (blob: Uint8Array) => void;
  reject: (err: Error) => void;
}

export class EncoderPool {
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private next = 0;
  /** Input buffers handed back by the workers, for the next chunks. */
  private free: Uint8Array[] = [];

  /** `threads` 0 encodes on the calling thread (small jobs, tests, one-core hosts). */
  constructor(
    private options: EncodeOptions,
    readonly threads = Math.max(1, availableParallelism() - 1),
  ) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_URL);
      w.onmessage = (e: MessageEvent<{ id: number; blob?: Uint8Array; error?: string; input?: ArrayBuffer }>) => {
        const p = this.pending.get(e.data.id);
        if (!p) return;
        this.pending.delete(e.data.id);
        if (e.data.error !== undefined) p.reject(new Error(`encode chunk: ${e.data.error}`));
        else p.resolve(e.data.blob!);
        if (e.data.input && this.free.length < MAX_FREE_BUFFERS) this.free.push(new Uint8Array(e.data.input));
      };
      w.onerror = (e) => this.failAll(new Error(`encoder thread failed: ${e.message}`));
      this.workers.push(w);
    }
  }

  /** Encodes `data`; the pool takes a copy, so the caller may reuse its buffer at once. */
  encode(data: Uint8Array): Promise<Uint8Array> {
    if (this.workers.length === 0) return Promise.resolve(encodeBlob(data, this.options));
    const id = this.nextId++;
    // A real copy (transferring the caller's buffer would detach it), into a buffer that came
    // back from a worker when one is big enough: a fresh one per chunk costs a page fault per
    // 4 KiB on VMs (docs/benchmarks.md, "Page faults are expensive").
    const buffer = this.takeBuffer(data.length);
    const copy = buffer.subarray(0, data.length);
    copy.set(data);
    const worker = this.workers[this.next++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, data: copy, options: this.options }, [buffer.buffer as ArrayBuffer]);
    });
  }

  private takeBuffer(size: number): Uint8Array {
    const i = this.free.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    // Rounded up so that a buffer fits most later chunks too (chunk sizes vary around the average).
    return new Uint8Array(Math.max(size, MIN_BUFFER));
  }

  close(): void {
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.failAll(new Error("encoder pool closed"));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
