/**
 * Writer thread of an extraction (extract-writers.ts): runs the ops the main thread hands it,
 * in the order given (extract-ops.ts). Creating and writing files is kernel work that costs
 * 30-300 us per file on the test VM; on writer threads it overlaps with fetching and decoding.
 *
 * Messages in: {setup} once, then {batch, ops, data} (data ops as offsets into `data`, which
 * is transferred); out, per batch: {batch, warnings, error?, data} (the buffer handed back).
 */
import type { ApplyOptions, ExtractWarning } from "./extract-fs.ts";
import { OpRunner } from "./extract-ops.ts";
import type { PackedDataOp, WriterOp, WriterReply } from "./extract-writers.ts";
import { collectGarbage } from "../util/collect-garbage.ts";

declare const self: Worker;

/** Transferred buffers are garbage once written; JSC collects them lazily (see gc-pacer.ts). */
const GC_EVERY_BYTES = 32 * 1024 * 1024;

let warnings: ExtractWarning[] = [];
let runner: OpRunner | undefined;

self.onmessage = (event: MessageEvent) => {
  const m = event.data as { setup?: ApplyOptions; batch: number; ops: Array<WriterOp | PackedDataOp>; data?: ArrayBuffer };
  if (m.setup) {
    runner = new OpRunner(m.setup, (w) => warnings.push(w));
    return;
  }
  const r = runner!;
  for (const op of m.ops) r.step(op.t === "data" && "at" in op ? { t: "data", offset: op.offset, bytes: new Uint8Array(m.data!, op.at, op.length) } : (op as WriterOp));
  const reply: WriterReply = { batch: m.batch, warnings, ...(r.failure ? { error: r.failure } : {}), ...(m.data ? { data: m.data } : {}) };
  warnings = [];
  // The batch's buffer goes back to be filled again.
  self.postMessage(reply, m.data ? [m.data] : []);
  if (r.bytesWritten >= GC_EVERY_BYTES) {
    r.bytesWritten = 0;
    collectGarbage();
  }
};
