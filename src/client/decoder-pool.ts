/**
 * Decodes fetched chunks (AES-256-GCM, zstd, digest check) on worker threads during restores,
 * so decoding uses the cores the main thread (HTTP, writing files) does not. The pool is given
 * the keyring's keys once; a decode failure comes back as an error naming the chunk.
 *
 * Worker file: compile/build.ts lists it as an extra entry point so the compiled binary has it;
 * inside the binary it lives at client/decoder-worker.ts below the bundle root (see util/worker-url.ts).
 */
import { availableParallelism } from "node:os";
import { IbsError } from "../util/errors.ts";
import type { CryptConfig } from "./crypt.ts";
import { spansItsBuffer } from "../util/release-buffer.ts";
import { workerUrl } from "../util/worker-url.ts";

const WORKER_URL = workerUrl(import.meta.url, "client/decoder-worker.ts");

interface Pending {
  resolve: (data: Uint8Array) => void;
  reject: (err: Error) => void;
}

export class DecoderPool {
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private next = 0;

  constructor(
    crypt: CryptConfig,
    readonly threads = Math.max(1, availableParallelism() - 1),
  ) {
    const k = crypt.keyring;
    const keys = k ? { dataKeys: k.info.dataKeys.map((d) => [d.id, k.dataKey(d.id)!] as [number, Uint8Array]), digestKey: k.digestKey } : { dataKeys: [] };
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_URL);
      w.onmessage = (e: MessageEvent<{ id: number; data?: Uint8Array; error?: string }>) => {
        const p = this.pending.get(e.data.id);
        if (!p) return;
        this.pending.delete(e.data.id);
        if (e.data.error !== undefined) p.reject(new IbsError(e.data.error, 1, "run verify on the snapshot; restore it from a sync copy if verify fails"));
        else p.resolve(e.data.data!);
      };
      w.onerror = (e) => this.failAll(new Error(`decoder thread failed: ${e.message}`));
      w.postMessage({ keys });
      this.workers.push(w);
    }
  }

  /**
   * The chunk's plaintext; `blob` is handed over to the worker (do not use it afterwards).
   * `checkDigest` false skips hashing the plaintext, for callers that hash everything they
   * use of it themselves (a file-tree extraction checks every file's SHA-256).
   */
  decode(blob: Uint8Array, digest: string, checkDigest = true): Promise<Uint8Array> {
    const id = this.nextId++;
    const own = spansItsBuffer(blob) ? blob : blob.slice();
    const worker = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, blob: own, digest, check: checkDigest }, [own.buffer as ArrayBuffer]);
    });
  }

  close(): void {
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.failAll(new Error("decoder pool closed"));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
