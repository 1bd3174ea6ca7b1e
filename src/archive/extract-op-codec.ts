/**
 * The ops of an extraction (extract-writers.ts) packed into one buffer per batch for the
 * writer threads. Structured clone of op objects cost the main thread ~0.26 ms per batch of
 * ~100 ops on the 1 GiB benchmark restore (0.3 s in all), the writer as much again to rebuild
 * them, and both threads the garbage. Here an op is a few fixed fields and length-prefixed
 * bytes, written and read with the archive's ByteWriter/ByteReader (records.ts); the buffer is
 * transferred and comes back for the next batch.
 *
 * Content does not travel here: a data op names a range of the batch's data buffer.
 *
 * Layout (little endian): u8 kind, then per kind
 *   file     target
 *   data     f64 offset, u32 at, u32 length
 *   close    f64 size, 32 bytes sha256, f64 payloadOffset, meta
 *   symlink  bytes target, meta, target
 *   node     u32 mode, i64 dev, meta, target
 *   link     bytes first, target
 *   abort    -
 * target = bytes abs, bytes path, u8 overwrite; meta = u32 uid, u32 gid, u32 mode, i64 mtimeNs,
 * u32 xattr count, (bytes name, bytes value) each; bytes = u32 length, then the bytes.
 */
import type { EntryMeta } from "./extract-fs.ts";
import type { PackedDataOp, WriterOp } from "./extract-writers.ts";
import { ByteReader, ByteWriter } from "./records.ts";

const KIND = { file: 1, data: 2, close: 3, symlink: 4, node: 5, link: 6, abort: 7 } as const;

export class OpEncoder {
  private readonly w: ByteWriter;
  /** Ops encoded since the last take(). */
  count = 0;

  constructor(buffer: ArrayBuffer = new ArrayBuffer(64 * 1024)) {
    this.w = new ByteWriter(buffer);
  }

  /** Encodes an op; data ops must already be packed (their bytes at `at` in the batch's data). */
  add(op: Exclude<WriterOp, { t: "data" }> | PackedDataOp): void {
    const w = this.w;
    this.count++;
    w.u8(KIND[op.t]);
    switch (op.t) {
      case "file":
        this.target(op);
        return;
      case "data":
        w.f64(op.offset).u32(op.at).u32(op.length);
        return;
      case "close":
        if (op.sha256.byteLength !== 32) throw new Error(`close op: SHA-256 of ${op.sha256.byteLength} bytes`);
        w.f64(op.size).bytes(op.sha256).f64(op.payloadOffset);
        this.meta(op.meta);
        return;
      case "symlink":
        this.lengthPrefixed(op.target);
        this.meta(op.meta);
        this.target(op);
        return;
      case "node":
        w.u32(op.mode).i64(op.dev);
        this.meta(op.meta);
        this.target(op);
        return;
      case "link":
        this.lengthPrefixed(op.first);
        this.target(op);
        return;
      case "abort":
        return;
    }
  }

  /** The encoded batch (to transfer) and its length; the encoder starts over on `next`, a buffer back from a writer. */
  take(next?: ArrayBuffer): { buffer: ArrayBuffer; length: number } {
    this.count = 0;
    return this.w.take(next);
  }

  private target(t: { abs: Uint8Array; path: Uint8Array; overwrite: boolean }): void {
    this.lengthPrefixed(t.abs);
    this.lengthPrefixed(t.path);
    this.w.u8(t.overwrite ? 1 : 0);
  }

  private meta(m: EntryMeta): void {
    this.w.u32(m.uid).u32(m.gid).u32(m.mode).i64(m.mtimeNs).u32(m.xattrs.length);
    for (const [name, value] of m.xattrs) {
      this.lengthPrefixed(name);
      this.lengthPrefixed(value);
    }
  }

  private lengthPrefixed(b: Uint8Array): void {
    this.w.u32(b.byteLength).bytes(b);
  }
}

/**
 * Runs `step` on each op of an encoded batch, in order. Byte fields are copies (a runner keeps
 * a file's path across batches, and the buffer goes back to be filled again); a data op's
 * bytes are a view of `data`.
 */
export function decodeOps(buffer: ArrayBuffer, length: number, data: ArrayBuffer | undefined, step: (op: WriterOp) => void): void {
  const r = new ByteReader(new Uint8Array(buffer, 0, length), "extract op batch");
  const bytes = (what: string) => r.copy(r.u32(what), what);
  const meta = (): EntryMeta => {
    const m: EntryMeta = { uid: r.u32("uid"), gid: r.u32("gid"), mode: r.u32("mode"), mtimeNs: r.i64("mtime"), xattrs: [] };
    for (let n = r.u32("xattr count"); n > 0; n--) m.xattrs.push([bytes("xattr name"), bytes("xattr value")]);
    return m;
  };
  const target = () => ({ abs: bytes("target path"), path: bytes("archive path"), overwrite: r.u8("overwrite") === 1 });
  while (r.remaining > 0) {
    const kind = r.u8("op kind");
    switch (kind) {
      case KIND.file:
        step({ t: "file", ...target() });
        break;
      case KIND.data: {
        const offset = r.f64("data offset");
        const at = r.u32("data position");
        step({ t: "data", offset, bytes: new Uint8Array(data!, at, r.u32("data length")) });
        break;
      }
      case KIND.close:
        step({ t: "close", size: r.f64("size"), sha256: r.copy(32, "sha256"), payloadOffset: r.f64("payload offset"), meta: meta() });
        break;
      case KIND.symlink: {
        const linkTarget = bytes("link target");
        step({ t: "symlink", target: linkTarget, meta: meta(), ...target() });
        break;
      }
      case KIND.node: {
        const mode = r.u32("mode");
        const dev = r.i64("device");
        step({ t: "node", mode, dev, meta: meta(), ...target() });
        break;
      }
      case KIND.link: {
        const first = bytes("first link");
        step({ t: "link", first, ...target() });
        break;
      }
      case KIND.abort:
        step({ t: "abort" });
        break;
      default:
        throw new Error(`extract op batch: unknown op kind ${kind} at byte ${r.pos - 1}`);
    }
  }
}
