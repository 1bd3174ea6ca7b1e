/**
 * Works out, from the metadata stream alone, which payload chunks a restore will read and in
 * which order, so the fetcher can keep many of exactly those in flight ahead of the extractor.
 * The selection mirrors extract.ts: an entry is restored when it or a parent directory matches
 * a pattern (all entries without patterns); a hardlink whose first name is not restored
 * carries that content itself.
 */
import { FLAG, PAYLOAD_HEADER_SIZE } from "../archive/format.ts";
import { PatternSet } from "../archive/glob.ts";
import type { ArchiveReader } from "../archive/reader.ts";
import type { IndexedStream } from "./indexed-stream.ts";

interface Range {
  start: number;
  end: number;
}

/**
 * `onEntry` is told about every entry scanned (gc-pacer.ts): the scan leaves garbage per entry
 * (measured: a 37,000-entry plan took the restore's RSS from ~80 to 200 MiB within 0.3 s before
 * the first collection paced by chunk bytes).
 */
export async function planPayloadReads(reader: ArchiveReader, payload: IndexedStream, patterns: readonly string[], onEntry?: () => void): Promise<number[]> {
  // Without patterns every entry is restored, but still in archive order, which is not payload
  // order: files read after a reused run sit behind it (docs/archive-format.md), and chunks that
  // hold only padding are never needed. One pass over the metadata gives the exact order.
  const all = patterns.length === 0;
  const select = new PatternSet(patterns);
  const ranges: Range[] = [];
  const linkTargets = new Map<number, { range?: Range; selected: boolean }>();
  const selectedStack: boolean[] = [];
  const scan = reader.scan();
  for (let ev = await scan.next(); ev; ev = await scan.next()) {
    onEntry?.();
    const e = ev.entry;
    if (ev.type === "end") {
      selectedStack.pop();
      continue;
    }
    if (selectedStack.length === 0) {
      selectedStack.push(all); // the root
      continue;
    }
    const parentSelected = selectedStack[selectedStack.length - 1]!;
    const selected = parentSelected || select.matches(e.path, e.kind === "dir");
    if (e.kind === "dir") {
      selectedStack.push(selected);
      if (!selected && !select.couldMatchBelow(e.path)) {
        await scan.skipSubtree();
      }
      continue;
    }
    const f = e.file;
    const range = f && f.payloadLength > 0 ? { start: f.payloadOffset, end: f.payloadOffset + PAYLOAD_HEADER_SIZE + f.payloadLength } : undefined;
    if (e.flags & FLAG.hardlinkTarget) linkTargets.set(e.offset, { range, selected });
    if (!selected) continue;
    if (range) ranges.push(range);
    if (e.kind === "hardlink") {
      const t = linkTargets.get(e.hardlink!.targetOffset);
      if (t && !t.selected && t.range) {
        ranges.push(t.range);
        t.selected = true; // later links to it are created as links to this one
      }
    }
  }
  const plan: number[] = [];
  for (const r of ranges) {
    for (const i of payload.chunksCovering(r.start, r.end)) if (plan[plan.length - 1] !== i) plan.push(i);
  }
  return plan;
}
