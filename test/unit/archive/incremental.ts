/**
 * Incremental archives in memory for the change-detection tests: a test double of the chunk
 * pipeline that re-appends whole "chunks" of the previous payload (padding included), as a real
 * pipeline re-indexes previous chunks, and a check that an extraction equals the source.
 */
import { expect } from "bun:test";
import { createPreviousLookup } from "../../../src/archive/previous.ts";
import { type ArchiveReader, extractArchive } from "../../../src/archive/reader.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import type { ReuseRequest, ReuseSink, WriterOptions } from "../../../src/archive/writer.ts";
import { type MemoryArchive, archive, diffSnapshots, openArchive, snapshot } from "./tree.ts";

/**
 * The previous payload is cut into fixed chunks; a reuse appends every chunk touching the range
 * (so padding before and after), or refuses when the padding exceeds maxPadding of the range.
 */
export function chunkCopyPipeline(previous: Uint8Array, out: MemorySink, chunk: number, maxPadding = Infinity) {
  const requests: ReuseRequest[] = [];
  const reuse: ReuseSink = async (req) => {
    requests.push(req);
    const first = Math.floor(req.previousStart / chunk) * chunk;
    const last = Math.min(Math.ceil(req.previousEnd / chunk) * chunk, previous.byteLength);
    const length = req.previousEnd - req.previousStart;
    if (last - first - length > maxPadding * length) return undefined;
    return {
      appended: last - first,
      rangeStart: req.previousStart - first,
      commit: async () => {
        // The writer flushed everything before this point, GAP header included.
        expect(out.length).toBe(req.newOffset);
        out.append(previous.slice(first, last));
      },
    };
  };
  return { reuse, requests };
}

/** An archive of `root` with change detection against `prev`, through the pipeline double. */
export async function incremental(root: string, prev: MemoryArchive, chunk: number, extra: Partial<WriterOptions> = {}, maxPadding?: number, windowBytes?: number) {
  const prevReader = await openArchive(prev);
  const payload = new MemorySink();
  const pipe = chunkCopyPipeline(prev.payload, payload, chunk, maxPadding);
  const previous = createPreviousLookup(prevReader, { windowBytes });
  const a = await archive(root, { previous, reuse: pipe.reuse, ...extra }, payload);
  return { ...a, requests: pipe.requests, lookup: previous.stats };
}

export async function extractAndCompare(a: MemoryArchive, root: string, out: string): Promise<ArchiveReader> {
  const r = await openArchive(a);
  await extractArchive(r, out);
  expect(diffSnapshots(await snapshot(root), await snapshot(out))).toEqual([]);
  return r;
}
