/**
 * Change detection: a second archive of an unchanged tree reads no file bytes and takes its
 * payload from the previous payload stream through a test-double pipeline that copies whole
 * "chunks" (padding included), exactly as a real pipeline re-indexes previous chunks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { PAYLOAD_HEADER_SIZE } from "../../../src/archive/format.ts";
import { createPreviousLookup } from "../../../src/archive/previous.ts";
import { extractArchive } from "../../../src/archive/reader.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import type { ReuseSink } from "../../../src/archive/writer.ts";
import { extractAndCompare, incremental } from "./incremental.ts";
import { type MemoryArchive, archive, buildTree, openArchive, rmrf, treeFixture } from "./tree.ts";

async function addManyFiles(root: string): Promise<void> {
  for (let i = 0; i < 50; i++) await fsp.writeFile(join(root, `many-${String(i).padStart(2, "0")}.txt`), `small file ${i}\n`.repeat(i + 1));
}

let work: string;
let src: string;
let first: MemoryArchive;

beforeAll(async () => {
  ({ work, src } = await treeFixture("reuse"));
  await addManyFiles(src);
  first = await archive(src);
});
afterAll(() => rmrf(work));

describe("change detection with a previous archive", () => {
  test("an unchanged tree reads zero file bytes and extracts identically", async () => {
    const second = await incremental(src, first, 4096);
    const c = second.result.counters;
    expect(c.filesRead).toBe(0);
    expect(c.bytesRead).toBe(0);
    expect(c.filesReused).toBe(first.result.counters.files - 1); // every file but the empty one
    expect(c.bytesReused).toBe(first.result.counters.bytesRead);
    expect(c.reuseRefusedFiles).toBe(0);
    // Contiguous files become one run: the whole previous payload range in one request.
    expect(second.requests.length).toBe(1);
    expect(c.reuseRuns).toBe(1);
    expect(c.reusePaddingBytes).toBeGreaterThan(0);
    expect(second.lookup.hits).toBe(c.filesReused);
    const r = await extractAndCompare(second, src, join(work, "out-unchanged"));
    // One GAP region holding every reused payload record (header + bytes) plus the chunk padding.
    // all-hole.img is "reused" without payload (nothing stored), hence files - 1 records.
    const p = await r.checkPayload();
    expect(p).toEqual({ fileRecords: 0, gapRecords: 1, gapBytes: c.reusePaddingBytes + c.bytesReused + PAYLOAD_HEADER_SIZE * (c.filesReused - 1) });
    expect(second.result.warnings.map((w) => w.kind)).toEqual(["dangling-symlink"]);
  });

  test("changed, added and removed files: only changed and new ones are read; a third generation reuses from gaps", async () => {
    const root = join(work, "evolving");
    await fsp.mkdir(root);
    await buildTree(root);
    await addManyFiles(root);
    const gen1 = await archive(root);
    await fsp.writeFile(join(root, "many-10.txt"), "changed content, same name\n");
    await fsp.unlink(join(root, "many-20.txt"));
    await fsp.writeFile(join(root, "many-20b.txt"), "a new file\n");
    await fsp.chmod(join(root, "many-30.txt"), 0o600); // metadata-only change: ctime moves, content re-read
    const gen2 = await incremental(root, gen1, 4096);
    const c2 = gen2.result.counters;
    expect(c2.filesRead).toBe(3);
    expect(c2.bytesRead).toBe(27 + 11 + "small file 30\n".length * 31);
    expect(c2.filesReused).toBe(gen1.result.counters.files - 1 - 1 - 1 - 1); // minus empty, changed, removed, chmod-ed
    // The read files do not split the previous range: they are read after it is placed, so
    // their FILE records follow the one GAP record (payload order differs from archive order).
    expect(c2.reuseRuns).toBe(1);
    const r2 = await extractAndCompare(gen2, root, join(work, "out-gen2"));
    expect(await r2.checkPayload()).toMatchObject({ fileRecords: 3, gapRecords: 1 });
    const changed = (await r2.lookup("many-10.txt"))!.file!;
    const unchangedAfter = (await r2.lookup("many-11.txt"))!.file!;
    expect(changed.payloadOffset).toBeGreaterThan(unchangedAfter.payloadOffset);
    // Without deferral (maxDeferredBytes 0) each read file ends the run: payload in archive order.
    const inOrder = await incremental(root, gen1, 4096, { maxDeferredBytes: 0 });
    expect(inOrder.result.counters.reuseRuns).toBeGreaterThan(1);
    expect(inOrder.result.counters.filesRead).toBe(3);
    await extractAndCompare(inOrder, root, join(work, "out-gen2-in-order"));

    // Third generation from the second: its reused content now sits inside GAP regions.
    await fsp.writeFile(join(root, "many-40.txt"), "third generation change\n");
    const gen3 = await incremental(root, gen2, 4096);
    expect(gen3.result.counters.filesRead).toBe(1);
    const r3 = await extractAndCompare(gen3, root, join(work, "out-gen3"));
    expect((await r3.checkPayload()).fileRecords).toBe(1);
  });

  test("a pipeline that refuses (too much padding) makes the writer read those files instead", async () => {
    // 1 MiB chunks, one file per run, 10 % padding limit: small files cannot be placed cheaply.
    const second = await incremental(src, first, 1 << 20, { maxRunFiles: 1 }, 0.1);
    const c = second.result.counters;
    expect(c.reuseRefusedFiles).toBeGreaterThan(0);
    expect(c.filesRead).toBe(c.reuseRefusedFiles);
    expect(c.filesReused + c.reuseRefusedFiles).toBe(first.result.counters.files - 1);
    await extractAndCompare(second, src, join(work, "out-refused"));
  });

  test("runs are capped at maxRunFiles", async () => {
    const capped = await incremental(src, first, 4096, { maxRunFiles: 5 });
    const files = capped.result.counters.filesReused;
    expect(capped.requests.length).toBe(Math.ceil((files - 1) / 5)); // all-hole.img has no payload to place
    await extractAndCompare(capped, src, join(work, "out-capped"));
  });

  test("a deleted file's hole in the previous payload is joined into the run up to reuseJoinGap", async () => {
    const root = join(work, "holes");
    await fsp.mkdir(root);
    await addManyFiles(root);
    const gen1 = await archive(root);
    await fsp.unlink(join(root, "many-25.txt"));
    const joined = await incremental(root, gen1, 4096);
    expect(joined.requests.length).toBe(1);
    expect(joined.result.counters.filesRead).toBe(0);
    await extractAndCompare(joined, root, join(work, "out-joined"));
    const split = await incremental(root, gen1, 4096, { reuseJoinGap: 0 });
    expect(split.requests.length).toBe(2);
    expect(split.requests[1].previousStart).toBeGreaterThan(split.requests[0].previousEnd);
    await extractAndCompare(split, root, join(work, "out-split"));
  });

  test("a lying pipeline is caught when the content is verified", async () => {
    const prevReader = await openArchive(first);
    const payload = new MemorySink();
    const previous = createPreviousLookup(prevReader);
    // Claims the range starts at 0 of what it appends, but puts one byte of padding first.
    const reuse: ReuseSink = async (req) => ({
      appended: req.previousEnd - req.previousStart + 1,
      rangeStart: 0,
      commit: async () => {
        payload.append(Uint8Array.of(0));
        payload.append(first.payload.slice(req.previousStart, req.previousEnd));
      },
    });
    const bad = await archive(src, { previous, reuse }, payload);
    const r = await openArchive(bad);
    await expect(extractArchive(r, join(work, "out-lying"))).rejects.toThrow(/^[^:]+: payload record at offset \d+: no file header there/);
  });

  test("the previous lookup only matches when size, mtime, ctime and inode all agree", async () => {
    const root = join(work, "inode");
    await fsp.mkdir(root);
    await fsp.writeFile(join(root, "f"), "same bytes");
    const gen1 = await archive(root);
    // Replace the file with an identical copy carrying the old mtime: new inode and ctime.
    const st = await fsp.stat(join(root, "f"));
    await fsp.writeFile(join(root, "f.new"), "same bytes");
    await fsp.utimes(join(root, "f.new"), st.atime, st.mtime);
    await fsp.rename(join(root, "f.new"), join(root, "f"));
    const gen2 = await incremental(root, gen1, 4096);
    expect(gen2.result.counters.filesReused).toBe(0);
    expect(gen2.result.counters.filesRead).toBe(1);
  });
});
