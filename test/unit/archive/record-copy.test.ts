/**
 * Unchanged files' metadata records are copied from the previous stream (record-copy.ts)
 * instead of encoded again: the stream written must be byte for byte the one the encoder
 * writes, for plain, sparse, hardlinked and xattr-carrying files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createPreviousLookup } from "../../../src/archive/previous.ts";
import { fileRecordSha256, patchCopiedFileRecord } from "../../../src/archive/record-copy.ts";
import { ENTRY_FIELD, encodeEntryBody, encodeRecord } from "../../../src/archive/records.ts";
import { RECORD_HEADER_SIZE, TAG } from "../../../src/archive/format.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import type { PreviousLookup, ReuseSink } from "../../../src/archive/writer.ts";
import { extractArchive } from "../../../src/archive/reader.ts";
import { type MemoryArchive, archive, diffSnapshots, openArchive, rmrf, snapshot, treeFixture } from "./tree.ts";

/** Reuses every run verbatim (no padding): enough to exercise the metadata side. */
function verbatimReuse(previous: Uint8Array, out: MemorySink): ReuseSink {
  return async (req) => ({
    appended: req.previousEnd - req.previousStart,
    rangeStart: 0,
    commit: async () => out.append(previous.slice(req.previousStart, req.previousEnd)),
  });
}

/**
 * `strip`: hits without their records (the writer encodes every entry). `foreignMode`: records
 * whose mode disagrees with the file's, so the writer refuses the copy and encodes the entry
 * with the digest it takes from the record (hits carry no separate sha256).
 */
async function second(root: string, prev: MemoryArchive, strip: boolean, foreignMode = false) {
  const lookup = createPreviousLookup(await openArchive(prev));
  let copies = 0;
  const previous: PreviousLookup = async (path, st) => {
    const hit = await lookup(path, st);
    if (hit?.record) copies++;
    if (!hit?.record) return hit;
    if (strip) {
      return { ...hit, sha256: hit.sha256 ?? fileRecordSha256(hit.record), record: undefined };
    }
    if (foreignMode) {
      const modeAt = RECORD_HEADER_SIZE + 2 + (hit.record[RECORD_HEADER_SIZE]! | (hit.record[RECORD_HEADER_SIZE + 1]! << 8)) + ENTRY_FIELD.mode;
      hit.record[modeAt] ^= 0o7;
      return { ...hit, sha256: undefined };
    }
    return hit;
  };
  const payload = new MemorySink();
  const a = await archive(root, { previous, reuse: verbatimReuse(prev.payload, payload), archiveId: new Uint8Array(16).fill(7) }, payload);
  return { ...a, copies, hits: lookup.stats.hits };
}

let work: string;
let src: string;
beforeAll(async () => {
  ({ work, src } = await treeFixture("record-copy"));
});
afterAll(() => rmrf(work));

describe("copying unchanged entries' records", () => {
  test("the metadata stream equals the one written by encoding every entry, and a third generation restores the tree", async () => {
    const first = await archive(src);
    const copied = await second(src, first, false);
    const encoded = await second(src, first, true);
    expect(copied.hits).toBeGreaterThan(5);
    expect(copied.copies).toBe(copied.hits);
    expect(Buffer.compare(copied.meta, encoded.meta)).toBe(0);
    expect(Buffer.compare(copied.payload, encoded.payload)).toBe(0);
    const refused = await second(src, first, false, true);
    expect(refused.copies).toBe(copied.hits);
    expect(Buffer.compare(refused.meta, encoded.meta)).toBe(0);
    // A third generation copies from a stream that was itself copied.
    const third = await second(src, copied, false);
    const thirdEncoded = await second(src, copied, true);
    expect(Buffer.compare(third.meta, thirdEncoded.meta)).toBe(0);
    const out = join(work, "out");
    await extractArchive(await openArchive(third), out);
    expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);
  });

  test("a patched record equals the encoded one; other flags, mode, uid or gid refuse the copy", () => {
    const stat = { flags: 1, mode: 0o100640, uid: 1000, gid: 100, ino: 99n, mtimeNs: 1_764_200_000_123_456_789n, ctimeNs: -5n, size: 10 };
    const file = (payloadOffset: number) => ({ kind: "file" as const, payloadOffset, payloadLength: 10, sha256: new Uint8Array(32).fill(3) });
    const name = Buffer.from("name.txt");
    const old = encodeRecord(TAG.file, encodeEntryBody(name, stat, file(4096)));
    const attr = encodeRecord(TAG.xattr, Uint8Array.of(1, 0, 0x61, 0x62));
    const records = new Uint8Array([...old, ...attr]);
    const want = new Uint8Array([...encodeRecord(TAG.file, encodeEntryBody(name, stat, file(2 ** 40 + 5))), ...attr]);
    const patch = (st: typeof stat, offset: number) => patchCopiedFileRecord(records.slice(), st.flags, st.mode, st.uid, st.gid, offset);
    expect(Buffer.compare(patch(stat, 2 ** 40 + 5)!, want)).toBe(0);
    for (const k of ["flags", "mode", "uid", "gid"] as const) {
      expect({ k, copied: patch({ ...stat, [k]: stat[k] + 1 }, 0) }).toEqual({ k, copied: undefined });
    }
  });
});

describe("goodbye tables", () => {
  test("encodeDirEnd writes the same bytes as the generic u64 writer, offsets beyond 2^32 included", () => {
    const { ByteWriter, encodeDirEnd, decodeDirEnd } = require("../../../src/archive/records.ts") as typeof import("../../../src/archive/records.ts");
    const items = [
      { start: 17, dirEnd: 0 },
      { start: 2 ** 32 + 5, dirEnd: 2 ** 40 + 3 },
      { start: 2 ** 53 - 1, dirEnd: 0 },
    ];
    const w = new ByteWriter(64).u64(9).u32(items.length);
    for (const it of items) w.u64(it.start).u64(it.dirEnd);
    const got = encodeDirEnd(9, items);
    expect(Buffer.compare(got, w.finish())).toBe(0);
    expect(decodeDirEnd(got)).toEqual({ dirOffset: 9, items });
    expect(() => encodeDirEnd(-1, [])).toThrow(RangeError);
  });
});
