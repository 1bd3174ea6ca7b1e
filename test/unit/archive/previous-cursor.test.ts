/**
 * The change-detection cursor over a previous metadata stream (previous-cursor.ts): the same
 * answers whatever its window size (records and entries split across fills everywhere), and a
 * damaged record is an error naming its offset, never a silent hit or a copied bad record.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { ArchiveFormatError, TAG } from "../../../src/archive/format.ts";
import { setXattr } from "../../../src/archive/native.ts";
import { createPreviousLookup } from "../../../src/archive/previous.ts";
import { ArchiveReader } from "../../../src/archive/reader.ts";
import { decodeRecordHeader, FILE_FIELD, recordCrcAt } from "../../../src/archive/records.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import { memorySource, type RandomAccess } from "../../../src/archive/source.ts";
import type { ReuseSink } from "../../../src/archive/writer.ts";
import { type MemoryArchive, archive, openArchive, rmrf, treeFixture } from "./tree.ts";

function verbatimReuse(previous: Uint8Array, out: MemorySink): ReuseSink {
  return async (req) => ({
    appended: req.previousEnd - req.previousStart,
    rangeStart: 0,
    commit: async () => out.append(previous.slice(req.previousStart, req.previousEnd)),
  });
}

/** A source whose readSome stops every `piece` bytes, as a chunked stream stops at chunk ends. */
function choppy(meta: Uint8Array, piece: number): RandomAccess {
  const src = memorySource(meta);
  return { ...src, readSome: async (offset, length) => meta.subarray(offset, Math.min(offset + length, meta.byteLength, (Math.floor(offset / piece) + 1) * piece)) };
}

async function second(root: string, prev: MemoryArchive, windowBytes?: number, readSomePiece?: number) {
  const reader = readSomePiece === undefined ? await openArchive(prev) : await ArchiveReader.open(choppy(prev.meta, readSomePiece), memorySource(prev.payload));
  const lookup = createPreviousLookup(reader, { windowBytes });
  const payload = new MemorySink();
  const a = await archive(root, { previous: lookup, reuse: verbatimReuse(prev.payload, payload), archiveId: new Uint8Array(16).fill(5) }, payload);
  return { ...a, stats: { ...lookup.stats } };
}

/** Offset of the first FILE record (one with content fields) in a metadata stream. */
function firstFileRecord(meta: Uint8Array): number {
  let at = 0;
  for (;;) {
    const h = decodeRecordHeader(meta.subarray(at));
    if (h.tag === TAG.file && h.length > 2 + FILE_FIELD.end) return at;
    at += 12 + h.length;
  }
}

/** The error of a backup of the tree whose previous archive has this (damaged) metadata stream (a plain Error if none). */
async function secondWithPrevious(meta: Uint8Array): Promise<Error> {
  const lookup = createPreviousLookup(await openArchive({ meta, payload: first.payload }));
  const payload = new MemorySink();
  return archive(src, { previous: lookup, reuse: verbatimReuse(first.payload, payload) }, payload).then(
    () => new Error("the backup succeeded"),
    (e) => e,
  );
}

let work: string;
let src: string;
let first: MemoryArchive;
beforeAll(async () => {
  ({ work, src } = await treeFixture("previous-cursor"));
  // Long names and a long xattr: records larger than the small windows below.
  fs.writeFileSync(join(src, "n".repeat(200)), "long name\n");
  fs.writeFileSync(join(src, "with-xattr"), "x\n");
  setXattr(Buffer.from(join(src, "with-xattr")), Buffer.from("user.big"), Buffer.from("v".repeat(3000)));
  first = await archive(src);
});
afterAll(() => rmrf(work));

describe("previous metadata cursor", () => {
  test("every window size gives the same hits and the same new archive", async () => {
    const reference = await second(src, first);
    expect(reference.stats.hits).toBeGreaterThan(10);
    expect(reference.stats.misses).toBe(0);
    for (const windowBytes of [1, 13, 100, 4096]) {
      const got = await second(src, first, windowBytes);
      expect({ windowBytes, stats: got.stats }).toEqual({ windowBytes, stats: reference.stats });
      expect(Buffer.compare(got.meta, reference.meta)).toBe(0);
    }
    // Through readSome, stopping at "chunk" ends: records split across fills, the window refilled in place.
    for (const piece of [7, 64, 1000]) {
      const got = await second(src, first, 100, piece);
      expect({ piece, stats: got.stats }).toEqual({ piece, stats: reference.stats });
      expect(Buffer.compare(got.meta, reference.meta)).toBe(0);
    }
  });

  test("a payload offset beyond 2^53 (CRC intact) fails the lookup naming the file, never a hit", async () => {
    const meta = first.meta.slice();
    const at = firstFileRecord(meta);
    const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
    const body = at + 12;
    const nameLength = view.getUint16(body, true);
    const name = Buffer.from(meta.subarray(body + 2, body + 2 + nameLength)).toString();
    view.setUint32(body + 2 + nameLength + FILE_FIELD.payloadOffset, 0, true);
    view.setUint32(body + 2 + nameLength + FILE_FIELD.payloadOffset + 4, 2 ** 21, true);
    view.setUint32(at + 8, recordCrcAt(meta, at, 12 + view.getUint32(at + 4, true)), true);
    const err = await secondWithPrevious(meta);
    expect(err).toBeInstanceOf(ArchiveFormatError);
    expect(String(err.message)).toContain(name);
    expect(String(err.message)).toContain(`payload offset ${2n ** 53n} is beyond 2^53`);
  });

  test("a damaged file record fails the lookup with a CRC error naming its offset", async () => {
    // Flip a byte of the first FILE record's body.
    const meta = first.meta.slice();
    const at = firstFileRecord(meta);
    meta[at + 12 + 20] ^= 0x10;
    const err = await secondWithPrevious(meta);
    expect(err).toBeInstanceOf(ArchiveFormatError);
    expect(String(err.message)).toContain(`metadata stream offset ${at}`);
    expect(String(err.message)).toContain("CRC32 mismatch");
  });
});
