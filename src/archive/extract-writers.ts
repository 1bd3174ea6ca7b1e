/**
 * The writer threads of an extraction (extract-worker.ts). The main thread scans the archive,
 * fetches and slices content and creates directories; each file, symlink, device or hardlink is
 * handed to one writer, whose ops run in the order sent. Ops are sent in batches (a message per
 * file would cost more than small files take to write) and the content in flight is bounded.
 *
 * With `threads` 0 the ops run on the calling thread, as they are sent (no copies, no messages).
 *
 * Ordering: a file's ops all go to one writer; a hardlink goes to the writer that created its
 * target; directories are created by the main thread before any op below them is sent, and get
 * their metadata only after every writer has drained (extract.ts).
 *
 * Worker file: compile/build.ts lists it as an extra entry point (see util/worker-url.ts).
 */
import { IbsError } from "../util/errors.ts";
import type { ApplyOptions, EntryMeta, ExtractWarning } from "./extract-fs.ts";
import { OpRunner } from "./extract-ops.ts";
import { workerUrl } from "../util/worker-url.ts";
import { OpEncoder } from "./extract-op-codec.ts";

const WORKER_URL = workerUrl(import.meta.url, "archive/extract-worker.ts");

type Target = { abs: Uint8Array; path: Uint8Array; overwrite: boolean };
export type WriterOp =
  | ({ t: "file" } & Target)
  | { t: "data"; offset: number; bytes: Uint8Array }
  | { t: "close"; size: number; sha256: Uint8Array; payloadOffset: number; meta: EntryMeta }
  | ({ t: "symlink"; target: Uint8Array; meta: EntryMeta } & Target)
  | ({ t: "node"; mode: number; dev: bigint; meta: EntryMeta } & Target)
  | ({ t: "link"; first: Uint8Array } & Target)
  | { t: "abort" };

export interface WriterFailure {
  message: string;
  /** An IbsError (a user-facing failure with exit code and hint) rather than an unexpected one. */
  ibs: boolean;
  exitCode: number;
  hint?: string;
}

/** A data op as it travels: its bytes are `length` bytes at `at` in the batch's buffer. */
export type PackedDataOp = { t: "data"; offset: number; at: number; length: number };

/** A batch as it travels to a writer: its ops encoded (extract-op-codec.ts), its content packed in `data`. */
export interface WriterBatch {
  batch: number;
  ops: ArrayBuffer;
  opsLength: number;
  data?: ArrayBuffer;
}

export interface WriterReply {
  batch: number;
  /** The batch's buffers, handed back for reuse. */
  ops: ArrayBuffer;
  data?: ArrayBuffer;
  warnings: ExtractWarning[];
  error?: WriterFailure;
}

/** Ops per message: enough to amortize a postMessage over many small files. */
const BATCH_OPS = 256;
const BATCH_BYTES = 2 * 1024 * 1024;
/**
 * Content sent but not yet written, across writers: bounds memory when the disk is slower.
 * Two batches: 8 MiB bought no speed on the benchmark restore and cost RSS (docs/benchmarks.md).
 */
const MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024;
/** Enough for the window plus the batches being filled. */
const MAX_FREE_BUFFERS = MAX_IN_FLIGHT_BYTES / BATCH_BYTES + 2;

interface Writer {
  worker: Worker;
  ops: OpEncoder;
  /** The batch's content, packed; data ops of the batch are views into it. */
  data: Uint8Array | undefined;
  bytes: number;
  /** Content bytes of each batch sent and not yet acknowledged, by batch id. */
  sent: Map<number, number>;
}

export class ExtractWriters {
  private readonly writers: Writer[] = [];
  private nextBatch = 0;
  private nextWriter = 0;
  private inFlight = 0;
  private failure: WriterFailure | undefined;
  private waiters: Array<() => void> = [];
  private flushScheduled = false;
  /** Batch buffers back from the writers, for the next batches. */
  private readonly free: Uint8Array[] = [];
  private readonly freeOps: ArrayBuffer[] = [];
  /** threads 0: the ops run here. */
  private readonly inline: OpRunner | undefined;

  constructor(
    options: ApplyOptions,
    private readonly onWarning: (w: ExtractWarning) => void,
    readonly threads = 1,
  ) {
    if (threads === 0) this.inline = new OpRunner(options, onWarning);
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_URL);
      const w: Writer = { worker, ops: new OpEncoder(), data: undefined, bytes: 0, sent: new Map() };
      worker.onmessage = (e: MessageEvent<WriterReply>) => this.reply(w, e.data);
      worker.onerror = (e) => this.fail({ message: `extract writer thread failed: ${e.message}`, ibs: false, exitCode: 1 });
      worker.postMessage({ setup: options });
      this.writers.push(w);
    }
  }

  /** The writer for the next file or other entry (round robin); pass it to the ops of that entry. */
  pick(): number {
    if (this.inline) return 0;
    const i = this.nextWriter;
    this.nextWriter = (i + 1) % this.writers.length;
    return i;
  }

  /** Queues an op; content is copied into the batch's buffer. Waits while too much is in flight. */
  async send(writer: number, op: WriterOp): Promise<void> {
    this.check();
    if (this.inline) {
      this.inline.step(op);
      this.failure = this.inline.failure;
      return this.check();
    }
    const w = this.writers[writer]!;
    if (op.t === "data") {
      // Copied into the batch's buffer: the piece is a view of a decoded chunk other files share.
      const n = op.bytes.byteLength;
      if (w.data && w.bytes + n > w.data.byteLength) this.flush(w);
      w.data ??= this.buffer(n);
      w.data.set(op.bytes, w.bytes);
      w.ops.add({ t: "data", offset: op.offset, at: w.bytes, length: n });
      w.bytes += n;
      this.inFlight += n;
    } else w.ops.add(op);
    if (w.ops.count >= BATCH_OPS || w.bytes >= BATCH_BYTES) this.flush(w);
    else this.scheduleFlush();
    if (this.inFlight <= MAX_IN_FLIGHT_BYTES) return;
    for (const x of this.writers) this.flush(x);
    while (this.inFlight > MAX_IN_FLIGHT_BYTES && !this.failure) await this.nextReply();
  }

  /** Sends everything queued and waits until every writer has run it; throws a writer's failure. */
  async drain(): Promise<void> {
    for (const w of this.writers) this.flush(w);
    while (!this.failure && this.writers.some((w) => w.sent.size > 0)) await this.nextReply();
    this.check();
  }

  /**
   * After a failure elsewhere: writers drop what is queued and remove a file left half-written;
   * waits for that, then ends the threads. Safe to call more than once.
   */
  async abort(): Promise<void> {
    this.inline?.step({ t: "abort" });
    for (const w of this.writers) {
      w.ops.take();
      w.ops.add({ t: "abort" });
      w.data = undefined;
      w.bytes = 0;
      this.flush(w);
    }
    while (this.writers.some((w) => w.sent.size > 0)) await this.nextReply();
    this.close();
  }

  close(): void {
    for (const w of this.writers) w.worker.terminate();
    this.writers.length = 0;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Throws the first writer failure, as the error the main thread would have raised itself. */
  check(): void {
    const f = this.failure;
    if (!f) return;
    throw f.ibs ? new IbsError(f.message, f.exitCode, f.hint) : new Error(f.message);
  }

  private flush(w: Writer): void {
    if (w.ops.count === 0) return;
    const batch = this.nextBatch++;
    w.sent.set(batch, w.bytes);
    // Both buffers are transferred and come back with the reply.
    const data = w.data?.buffer as ArrayBuffer | undefined;
    const ops = w.ops.take(this.freeOps.pop());
    const message: WriterBatch = { batch, ops: ops.buffer, opsLength: ops.length, data };
    w.worker.postMessage(message, data ? [ops.buffer, data] : [ops.buffer]);
    w.data = undefined;
    w.bytes = 0;
  }

  /**
   * A batch buffer: one that came back from a writer, else a new one. Reusing them matters on
   * VMs: a fresh buffer per piece cost a page fault per 4 KiB written (~0.3 s per GiB here).
   */
  private buffer(atLeast: number): Uint8Array {
    const size = Math.max(atLeast, BATCH_BYTES);
    const b = this.free.pop();
    return b && b.byteLength >= size ? b : new Uint8Array(size);
  }

  /** Small batches still go out when the main thread next waits (for a fetch, say). */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      for (const w of this.writers) this.flush(w);
    });
  }

  private reply(w: Writer, r: WriterReply): void {
    if (r.data && this.free.length < MAX_FREE_BUFFERS) this.free.push(new Uint8Array(r.data));
    if (this.freeOps.length < MAX_FREE_BUFFERS) this.freeOps.push(r.ops);
    this.inFlight -= w.sent.get(r.batch) ?? 0;
    w.sent.delete(r.batch);
    for (const warning of r.warnings) this.onWarning(warning);
    if (r.error && !this.failure) this.failure = r.error;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private fail(f: WriterFailure): void {
    if (!this.failure) this.failure = f;
    for (const w of this.writers) w.sent.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }

  private nextReply(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
