/** Damaged or mismatched streams give errors naming the path or offset, never wrong data. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { PAYLOAD_HEADER_SIZE, RECORD_HEADER_SIZE, TRAILER_RECORD_SIZE } from "../../../src/archive/format.ts";
import { type ArchiveReader, extractArchive } from "../../../src/archive/reader.ts";
import { decodeRecordHeader, encodeRecord } from "../../../src/archive/records.ts";
import { type MemoryArchive, archive, openArchive, rmrf, tempDir } from "./tree.ts";

let work: string;
let arc: MemoryArchive;
let reader: ArchiveReader;

beforeAll(async () => {
  work = await tempDir("corrupt");
  const src = join(work, "src");
  await fsp.mkdir(join(src, "etc"), { recursive: true });
  await fsp.writeFile(join(src, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  await fsp.writeFile(join(src, "big.bin"), Buffer.alloc(3 * (1 << 20) + 5, 7));
  await fsp.writeFile(join(src, "z-last"), "last");
  arc = await archive(src);
  reader = await openArchive(arc);
});
afterAll(() => rmrf(work));

const flip = (bytes: Uint8Array, at: number) => {
  const copy = bytes.slice();
  copy[at] ^= 0x40;
  return copy;
};

async function drain(r: ArchiveReader): Promise<number> {
  let n = 0;
  for await (const _ of r.entries()) n++;
  return n;
}

/** Rewrites one metadata record's body and fixes its CRC, as a deliberate (not random) change would. */
function rewrite(meta: Uint8Array, offset: number, change: (body: Uint8Array) => void): Uint8Array {
  const h = decodeRecordHeader(meta.subarray(offset, offset + RECORD_HEADER_SIZE));
  const body = meta.slice(offset + RECORD_HEADER_SIZE, offset + RECORD_HEADER_SIZE + h.length);
  change(body);
  const out = meta.slice();
  out.set(encodeRecord(h.tag, body), offset);
  return out;
}

describe("payload corruption", () => {
  test("a flipped content byte fails extraction naming the file and its payload offset; nothing is left behind", async () => {
    const e = (await reader.lookup("etc/passwd"))!;
    const bad = { meta: arc.meta, payload: flip(arc.payload, e.file!.payloadOffset + PAYLOAD_HEADER_SIZE + 3) };
    const out = join(work, "out-flip");
    const err = (await extractArchive(await openArchive(bad), out).catch((x) => x)) as Error;
    expect(err).toBeInstanceOf(Error);
    const stored = Buffer.from(e.file!.sha256).toString("hex").slice(0, 16);
    expect(err.message).toMatch(
      new RegExp(`^etc/passwd: payload record at offset ${e.file!.payloadOffset}: content SHA-256 mismatch \\(metadata ${stored}…, payload [0-9a-f]{16}…\\)$`),
    );
    expect(existsSync(join(out, "etc/passwd"))).toBe(false);
  });

  test("streaming a damaged file throws before its last piece is handed out", async () => {
    const e = (await reader.lookup("big.bin"))!;
    const bad = await openArchive({ meta: arc.meta, payload: flip(arc.payload, e.file!.payloadOffset + PAYLOAD_HEADER_SIZE + 10) });
    let pieces = 0;
    let bytes = 0;
    const run = async () => {
      for await (const p of bad.fileContent(e)) {
        pieces++;
        bytes += p.byteLength;
      }
    };
    await expect(run()).rejects.toThrow(/big\.bin: payload record at offset \d+: content SHA-256 mismatch/);
    expect(pieces).toBe(3); // of 4
    expect(bytes).toBeLessThan(e.size);
  });

  test("a damaged payload header is reported, not read past", async () => {
    const e = (await reader.lookup("z-last"))!;
    const bad = await openArchive({ meta: arc.meta, payload: flip(arc.payload, e.file!.payloadOffset + 2) });
    const run = async () => {
      for await (const _ of bad.fileData(e));
    };
    await expect(run()).rejects.toThrow(`z-last: payload record at offset ${e.file!.payloadOffset}: no file header there`);
  });

  test("a truncated payload stream is refused at open", async () => {
    await expect(openArchive({ meta: arc.meta, payload: arc.payload.subarray(0, arc.payload.byteLength - 100) })).rejects.toThrow(
      `payload stream is ${arc.payload.byteLength - 100} bytes but the metadata trailer says ${arc.payload.byteLength}`,
    );
  });

  test("a payload stream from another archive is refused at open", async () => {
    const src = join(work, "src");
    const other = await archive(src);
    await expect(openArchive({ meta: arc.meta, payload: other.payload })).rejects.toThrow(/payload stream offset 0: payload stream belongs to archive [0-9a-f]{32}, metadata to [0-9a-f]{32}/);
  });

  test("the payload walk finds a damaged record header", async () => {
    const e = (await reader.lookup("big.bin"))!;
    const bad = await openArchive({ meta: arc.meta, payload: flip(arc.payload, e.file!.payloadOffset + 9) });
    await expect(bad.checkPayload()).rejects.toThrow(/payload stream offset \d+: /);
  });
});

describe("metadata corruption", () => {
  test("a flipped byte in a record fails its CRC, naming the offset", async () => {
    const e = (await reader.lookup("etc/passwd"))!;
    const bad = await openArchive({ meta: flip(arc.meta, e.offset + RECORD_HEADER_SIZE + 4), payload: arc.payload });
    await expect(drain(bad)).rejects.toThrow(new RegExp(`^metadata stream offset ${e.offset}: record \\(tag 0x102\\): CRC32 mismatch \\(stored 0x[0-9a-f]+, computed 0x[0-9a-f]+\\)$`));
    await expect(bad.lookup("etc/passwd")).rejects.toThrow(`metadata stream offset ${e.offset}:`);
  });

  test("a consistent-looking change (CRC recomputed) is caught by the stream checksum", async () => {
    const e = (await reader.lookup("etc/passwd"))!;
    // mtime lives after name length (2), name, flags, mode, uid, gid (4 each) and inode (8).
    const meta = rewrite(arc.meta, e.offset, (body) => {
      body[2 + 6 + 16 + 8] ^= 1;
    });
    await expect(drain(await openArchive({ meta, payload: arc.payload }))).rejects.toThrow(/metadata stream offset \d+: metadata stream SHA-256 does not match the trailer/);
  });

  test("an invalid name is refused even with a valid CRC", async () => {
    const e = (await reader.lookup("z-last"))!;
    const meta = rewrite(arc.meta, e.offset, (body) => {
      body[3] = 0x2f; // "z/last"
    });
    await expect(drain(await openArchive({ meta, payload: arc.payload }))).rejects.toThrow(`metadata stream offset ${e.offset}: in /: invalid entry name contains '/'`);
  });

  test("a truncated metadata stream is refused at open", async () => {
    await expect(openArchive({ meta: arc.meta.subarray(0, arc.meta.byteLength - 10), payload: arc.payload })).rejects.toThrow(/metadata stream offset \d+: /);
  });

  test("a stream from a newer format version is refused with advice", async () => {
    const meta = rewrite(arc.meta, 0, (body) => {
      body[8] = 2;
    });
    await expect(openArchive({ meta, payload: arc.payload })).rejects.toThrow("metadata stream offset 0: archive format version 2 is newer than this reader (1); upgrade ironcore-backup");
  });

  test("a goodbye table that disagrees with the entries is refused", async () => {
    const root = await reader.root();
    const meta = rewrite(arc.meta, root.dirEndOffset!, (body) => {
      body[12] ^= 1; // first child's offset
    });
    await expect(drain(await openArchive({ meta, payload: arc.payload }))).rejects.toThrow(/goodbye table of \/ does not match the 3 entries in it/);
    expect(arc.meta.byteLength - TRAILER_RECORD_SIZE).toBeGreaterThan(root.dirEndOffset!);
  });
});
