/**
 * The archive writer's reuse contract (src/archive/reuse.ts, docs/archive-format.md "Change
 * detection and payload reuse") implemented against the previous snapshot's payload index: a
 * run of unchanged files becomes the previous chunks covering it, appended to the new payload
 * index by digest, without reading the files or uploading anything.
 *
 * Waste is what the appended chunks hold besides the run's own FILE records: the partial edge
 * chunks and the holes inside the range (deleted files, old copies of changed files, padding
 * an earlier backup carried). Two rules decide, instead of PBS's single 10 % per run:
 *
 * - a run whose waste is at most 10 % of what it appends is placed (cheap: PBS's rule);
 * - a costlier run (typically a few files between two changed ones, whose edge chunks are
 *   mostly neighbours) is placed while the waste of all costly runs placed so far stays within
 *   a budget of 10 % of the previous payload stream (at least 4 MiB, so small trees always
 *   reuse); past it, its files are read and chunked afresh, which also undoes fragmentation
 *   earlier reuse left behind.
 *
 * With PBS's rule alone the short runs are refused, and each re-reads a chunk's worth of
 * unchanged neighbours (measured: 25,840 of 36,856 files re-read after 2 % of them changed).
 * With a budget alone, runs are judged in archive order: costly early runs spent it and big
 * cheap runs later were refused (measured: 21,000 files re-read of an unchanged tree).
 *
 * `join` tells the writer when a next file should extend a run instead of starting a new
 * one: whenever no whole chunk lies between them. Splitting there would append the chunk
 * they share twice (or the two touching ones each in part), joining only carries the bytes
 * in between, which is never more.
 */
import type { ReuseSink } from "../archive/reuse.ts";
import type { DynamicIndex } from "../datastore/dynamic-index.ts";
import type { DynamicStreamWriter } from "./dynamic-stream.ts";

export const WASTE_BUDGET_RATIO = 0.1;
export const MIN_WASTE_BUDGET = 4 * 1024 * 1024;

export interface PayloadReuseOptions {
  /** Digests known to the session; a run whose chunks are not all known is refused. */
  isKnown(digest: string): boolean;
  /** Waste allowed over the whole archive, in bytes (default: see WASTE_BUDGET_RATIO). */
  wasteBudget?: number;
}

/** A run may waste this share of what it appends and still count as cheap. */
export const CHEAP_WASTE_RATIO = 0.1;

export interface PayloadReuseStats {
  /** Bytes of appended chunks that are not reused file records (edges and holes), all runs. */
  waste: number;
  /** Waste of the costly runs, which the budget bounds. */
  budgeted: number;
  budget: number;
  /** Costly runs refused because their waste did not fit the budget. */
  overBudget: number;
}

export interface PayloadReuse extends ReuseSink {
  stats: PayloadReuseStats;
  /** For WriterOptions.reuseJoin: no whole previous chunk lies between runEnd and nextStart. */
  join(runEnd: number, nextStart: number): boolean;
}

export function payloadReuseSink(previous: DynamicIndex, stream: DynamicStreamWriter, opts: PayloadReuseOptions): PayloadReuse {
  const stats: PayloadReuseStats = {
    waste: 0,
    budgeted: 0,
    budget: opts.wasteBudget ?? Math.max(WASTE_BUDGET_RATIO * previous.size, MIN_WASTE_BUDGET),
    overBudget: 0,
  };
  const sink: ReuseSink = async (req) => {
    if (req.previousEnd > previous.size || req.previousStart >= req.previousEnd) return undefined;
    const first = previous.chunkAt(req.previousStart);
    const last = previous.chunkAt(req.previousEnd - 1);
    const appended = last.end - first.start;
    const waste = appended - Math.min(req.fileBytes, req.previousEnd - req.previousStart);
    const cheap = waste <= CHEAP_WASTE_RATIO * appended;
    if (!cheap && stats.budgeted + waste > stats.budget) {
      stats.overBudget++;
      return undefined;
    }
    const chunks: Array<{ length: number; digest: string }> = [];
    for (let i = first.index; i <= last.index; i++) {
      const loc = previous.location(i);
      if (!opts.isKnown(loc.digest)) return undefined;
      chunks.push({ length: loc.end - loc.start, digest: loc.digest });
    }
    stats.waste += waste;
    if (!cheap) stats.budgeted += waste;
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
  const join = (runEnd: number, nextStart: number): boolean => {
    if (nextStart < runEnd || nextStart >= previous.size || runEnd <= 0) return false;
    return chunkIndexAt(previous, nextStart) <= chunkIndexAt(previous, runEnd - 1) + 1;
  };
  return Object.assign(sink, { stats, join });
}

/** Index of the chunk holding byte `offset` (chunkAt without building a location: asked per file). */
function chunkIndexAt(index: DynamicIndex, offset: number): number {
  let lo = 0;
  let hi = index.chunkCount - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index.endOffset(mid) <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
