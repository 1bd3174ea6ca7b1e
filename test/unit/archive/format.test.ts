import { describe, expect, test } from "bun:test";
import { MAGIC, TAG, devMajor, devMinor, makeDev } from "../../../src/archive/format.ts";
import { ArchiveReader, memorySource } from "../../../src/archive/reader.ts";
import {
  concat,
  encodeDirEnd,
  encodeEntryBody,
  encodeHeader,
  encodePayloadStart,
  encodePayloadTail,
  encodeRecord,
  encodeTrailer,
  encodeXattr,
  recordCrc,
  recordCrcAt,
  recordCrcOf,
} from "../../../src/archive/records.ts";

const sha256 = (s: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(s).digest() as Uint8Array;

describe("format constants", () => {
  test("magics are the first 8 bytes of SHA-256 of their version strings", () => {
    const expected: Record<keyof typeof MAGIC, string> = {
      metadata: "IBS archive metadata stream v1",
      trailer: "IBS archive metadata trailer v1",
      payloadStart: "IBS archive payload start v1",
      payloadFile: "IBS archive payload file v1",
      payloadGap: "IBS archive payload gap v1",
      payloadTail: "IBS archive payload tail v1",
    };
    for (const [k, s] of Object.entries(expected)) expect([...MAGIC[k as keyof typeof MAGIC]]).toEqual([...sha256(s).subarray(0, 8)]);
  });

  test("device numbers survive the glibc dev_t encoding, large ones included", () => {
    for (const [ma, mi] of [
      [1, 3],
      [8, 17],
      [259, 65536],
      [4095, 255],
      [4096, 1 << 20],
    ]) {
      const d = makeDev(ma, mi);
      expect([devMajor(d), devMinor(d)]).toEqual([ma, mi]);
    }
    expect(makeDev(1, 3)).toBe(0x103n);
  });
});

/** Builds a metadata stream by hand, so records a newer writer might emit can be tested. */
function handBuilt(extra: { unknownStructure?: boolean } = {}) {
  const id = new Uint8Array(16).fill(5);
  const parts: Uint8Array[] = [];
  let pos = 0;
  const put = (tag: number, body: Uint8Array) => {
    const at = pos;
    const rec = encodeRecord(tag, body);
    parts.push(rec);
    pos += rec.byteLength;
    return at;
  };
  const st = { flags: 0, mode: 0o040755, uid: 0, gid: 0, ino: 1n, mtimeNs: 5n, ctimeNs: 6n, size: 0 };
  put(TAG.header, encodeHeader(id));
  const root = put(TAG.dir, encodeEntryBody(new Uint8Array(0), st, { kind: "dir" }));
  put(0x02ff, new Uint8Array([1, 2, 3])); // unknown attribute of the root
  const a = put(TAG.file, encodeEntryBody(Buffer.from("a"), { ...st, mode: 0o100644 }, { kind: "file", payloadOffset: 0, payloadLength: 0, sha256: sha256("") }));
  put(TAG.xattr, encodeXattr(Buffer.from("user.k"), Buffer.from("v")));
  const bEntry = put(0x01ff, concat([Uint8Array.of(1, 0), Buffer.from("b"), new Uint8Array(10)])); // unknown entry kind
  put(0x02fe, new Uint8Array(0)); // its unknown attribute
  if (extra.unknownStructure) put(0x00ff, new Uint8Array(4));
  const end = put(TAG.dirEnd, encodeDirEnd(root, [{ start: a, dirEnd: 0 }, { start: bEntry, dirEnd: 0 }]));
  const payload = concat([encodePayloadStart(id), encodePayloadTail({ fileRecords: 0, gapRecords: 0, gapBytes: 0 })]);
  const digest = sha256(concat(parts));
  put(TAG.trailer, encodeTrailer({ rootOffset: root, rootEndOffset: end, entryCount: 3, payloadLength: payload.byteLength, sha256: digest }));
  return { meta: concat(parts), payload };
}

describe("record CRC", () => {
  test("over the tag and length bytes, then the body: the same from the parts, in place, and as encoded", () => {
    let seed = 99;
    const byte = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 300; n++) {
      const body = Uint8Array.from({ length: n % 37 === 0 ? 0 : byte() * 3 }, byte);
      const tag = (byte() << 24) | (byte() << 16) | (byte() << 8) | byte();
      const framed = encodeRecord(tag >>> 0, body);
      const whole = Bun.hash.crc32(Uint8Array.from([...framed.subarray(0, 8), ...body])) >>> 0;
      expect(recordCrc(tag >>> 0, body)).toBe(whole);
      expect(new DataView(framed.buffer).getUint32(8, true)).toBe(whole);
      expect(recordCrcOf(framed, body)).toBe(whole);
      // In place, inside a larger buffer at an odd offset.
      const at = 1 + (n % 5);
      const buf = new Uint8Array(at + framed.byteLength + 3).fill(0xee);
      buf.set(framed, at);
      expect(recordCrcAt(buf, at, framed.byteLength)).toBe(whole);
    }
  });
});

describe("forward compatibility", () => {
  test("unknown attribute and entry kinds are skipped; known ones still read and verify", async () => {
    const { meta, payload } = handBuilt();
    const r = await ArchiveReader.open(memorySource(meta), memorySource(payload));
    const scan = r.scan();
    const seen: string[] = [];
    for (let ev = await scan.next(); ev; ev = await scan.next()) seen.push(`${ev.type}:${Buffer.from(ev.entry.path).toString()}`);
    expect(seen).toEqual(["entry:", "entry:a", "end:"]);
    expect(scan.unknownEntries).toBe(1);
    const a = await r.lookup("a");
    expect(a?.xattrs.map(([k, v]) => `${Buffer.from(k)}=${Buffer.from(v)}`)).toEqual(["user.k=v"]);
    expect(await r.lookup("b")).toBeUndefined();
    expect((await r.readDir(await r.root())).map((e) => Buffer.from(e.name).toString())).toEqual(["a"]);
  });

  test("an unknown structure record is fatal and named", async () => {
    const { meta, payload } = handBuilt({ unknownStructure: true });
    const r = await ArchiveReader.open(memorySource(meta), memorySource(payload));
    const all = async () => {
      for await (const _ of r.entries());
    };
    await expect(all()).rejects.toThrow(/metadata stream offset \d+: unknown structure record tag 0xff/);
  });
});
