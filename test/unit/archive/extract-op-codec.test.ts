import { expect, test } from "bun:test";
import { decodeOps, OpEncoder } from "../../../src/archive/extract-op-codec.ts";
import type { EntryMeta } from "../../../src/archive/extract-fs.ts";
import type { WriterOp } from "../../../src/archive/extract-writers.ts";

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const meta = (xattrs: EntryMeta["xattrs"] = []): EntryMeta => ({ uid: 1000, gid: 4_000_000_000, mode: 0o104755, mtimeNs: -1_234_567_890_123_456_789n, xattrs });
const target = (name: string) => ({ abs: bytes(`/restore/${name}`), path: bytes(name), overwrite: name.endsWith("!") });

test("every kind of op comes back as it was encoded, in order, data as a view of the batch's content", () => {
  const data = new Uint8Array(64).map((_, i) => i);
  const sha = new Uint8Array(32).map((_, i) => 255 - i);
  const ops: WriterOp[] = [
    { t: "file", ...target("dir/a file\nwith newline") },
    { t: "data", offset: 2 ** 40 + 3, bytes: data.subarray(8, 24) },
    { t: "close", size: 2 ** 40 + 19, sha256: sha, payloadOffset: 2 ** 45, meta: meta([[bytes("user.a"), new Uint8Array([0, 1, 2])], [bytes("security.capability"), new Uint8Array(0)]]) },
    { t: "symlink", target: bytes("../target"), meta: meta(), ...target("link!") },
    { t: "node", mode: 0o020600, dev: (259n << 32n) | 7n, meta: meta(), ...target("dev/null") },
    { t: "link", first: bytes("/restore/dir/a"), ...target(new Uint8Array([0xff, 0xfe, 0x2f]).toString()) },
    { t: "abort" },
  ];
  const enc = new OpEncoder(new ArrayBuffer(16)); // grows as it goes
  for (const op of ops) enc.add(op.t === "data" ? { t: "data", offset: op.offset, at: op.bytes.byteOffset, length: op.bytes.byteLength } : op);
  expect(enc.count).toBe(ops.length);
  const { buffer, length } = enc.take();
  expect(enc.count).toBe(0);
  const got: WriterOp[] = [];
  decodeOps(buffer, length, data.buffer, (op) => got.push(op));
  const plain = (x: unknown): unknown => (x instanceof Uint8Array ? Array.from(x) : Array.isArray(x) ? x.map(plain) : x && typeof x === "object" ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)])) : x);
  expect(plain(got)).toEqual(plain(ops));
  expect((got[1] as { bytes: Uint8Array }).bytes.buffer).toBe(data.buffer);
});

test("byte fields are copies that outlive the batch buffer, which goes back to be filled again", () => {
  const enc = new OpEncoder();
  enc.add({ t: "file", ...target("keep/me") });
  const { buffer, length } = enc.take();
  let path: Uint8Array | undefined;
  decodeOps(buffer, length, undefined, (op) => op.t === "file" && (path = op.path));
  new Uint8Array(buffer).fill(0);
  expect(Buffer.from(path!).toString()).toBe("keep/me");
  expect(path!.buffer.byteLength).toBe(7);
});

test("an unknown op kind is an error naming where it is, not a silent skip", () => {
  expect(() => decodeOps(new Uint8Array([7, 42]).buffer, 2, undefined, () => {})).toThrow("unknown op kind 42 at byte 1");
});
