/**
 * The archive writer's reuse contract (src/archive/reuse.ts, docs/archive-format.md "Change
 * detection and payload reuse") implemented against the previous snapshot's payload index: a
 * run of unchanged files becomes the previous chunks covering it, appended to the new payload
 * index by digest, without reading the files or uploading anything.
 *
 * Padding (bytes of the appended chunks outside the run: neighbours, deleted files) is accepted
 * up to 10 % of what is appended, as PBS does, or up to the run's own length (at most 4 MiB):
 * a large run always pays for its two partial edge chunks, while a small file alone in a big
 * chunk is cheaper to read again than to drag a megabyte along. Refused runs are read like
 * changed files.
 */
import type { ReuseSink } from "../archive/reuse.ts";
import type { DynamicIndex } from "../datastore/dynamic-index.ts";
import type { DynamicStreamWriter } from "./dynamic-stream.ts";

export const MAX_PADDING_RATIO = 0.1;
export const SMALL_RUN_PADDING = 4 * 1024 * 1024;

export interface PayloadReuseOptions {
  /** Digests known to the session; a run whose chunks are not all known is refused. */
  isKnown(digest: string): boolean;
}

export function payloadReuseSink(previous: DynamicIndex, stream: DynamicStreamWriter, opts: PayloadReuseOptions): ReuseSink {
  return async (req) => {
    if (req.previousEnd > previous.size || req.previousStart >= req.previousEnd) return undefined;
    const first = previous.chunkAt(req.previousStart);
    const last = previous.chunkAt(req.previousEnd - 1);
    const appended = last.end - first.start;
    const length = req.previousEnd - req.previousStart;
    const padding = appended - length;
    if (padding > Math.max(MAX_PADDING_RATIO * appended, Math.min(length, SMALL_RUN_PADDING))) return undefined;
    const chunks: Array<{ length: number; digest: string }> = [];
    for (let i = first.index; i <= last.index; i++) {
      const loc = previous.location(i);
      if (!opts.isKnown(loc.digest)) return undefined;
      chunks.push({ length: loc.end - loc.start, digest: loc.digest });
    }
    return {
      appended,
      rangeStart: req.previousStart - first.start,
      async commit() {
        await stream.cut();
        if (stream.position !== req.newOffset) {
          throw new Error(`payload reuse: the stream is at ${stream.position}, the writer expected ${req.newOffset}`);
        }
        stream.appendKnown(chunks);
      },
    };
  };
}
