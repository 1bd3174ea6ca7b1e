/**
 * Writer thread of an extraction (extract-writers.ts): runs the ops the main thread hands it,
 * in the order given (extract-ops.ts). Creating and writing files is kernel work that costs
 * 30-300 us per file on the test VM; on writer threads it overlaps with fetching and decoding.
 *
 * Messages in: {setup} once, then batches (WriterBatch: the ops encoded by extract-op-codec.ts,
 * data ops as ranges of `data`; both buffers transferred); out, per batch: {batch, warnings,
 * error?, ops, data} (the buffers handed back).
 */
import type { ApplyOptions, ExtractWarning } from "./extract-fs.ts";
import { decodeOps } from "./extract-op-codec.ts";
import { OpRunner } from "./extract-ops.ts";
import type { WriterBatch, WriterReply } from "./extract-writers.ts";
import { collectGarbage } from "../util/collect-garbage.ts";

declare const self: Worker;

/** Transferred buffers are garbage once written; JSC collects them lazily (see gc-pacer.ts). */
const GC_EVERY_BYTES = 32 * 1024 * 1024;

let warnings: ExtractWarning[] = [];
let runner: OpRunner | undefined;

self.onmessage = (event: MessageEvent) => {
  const m = event.data as { setup: ApplyOptions } | WriterBatch;
  if ("setup" in m) {
    runner = new OpRunner(m.setup, (w) => warnings.push(w));
    return;
  }
  const r = runner!;
  decodeOps(m.ops, m.opsLength, m.data, (op) => r.step(op));
  const reply: WriterReply = { batch: m.batch, warnings, ...(r.failure ? { error: r.failure } : {}), ops: m.ops, ...(m.data ? { data: m.data } : {}) };
  warnings = [];
  // The batch's buffers go back to be filled again.
  self.postMessage(reply, m.data ? [m.ops, m.data] : [m.ops]);
  if (r.bytesWritten >= GC_EVERY_BYTES) {
    r.bytesWritten = 0;
    collectGarbage();
  }
};
