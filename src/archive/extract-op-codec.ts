/**
 * The ops of an extraction (extract-writers.ts) packed into one buffer per batch for the
 * writer threads. Structured clone of op objects cost the main thread ~0.26 ms per batch of
 * ~100 ops on the 1 GiB benchmark restore (0.3 s in all), the writer as much again to rebuild
 * them, and both threads the garbage. Here an op is a few fixed fields and length-prefixed
 * bytes; the buffer is transferred and comes back for the next batch.
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

const KIND = { file: 1, data: 2, close: 3, symlink: 4, node: 5, link: 6, abort: 7 } as const;

export class OpEncoder {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  /** Ops encoded since the last take(). */
  count = 0;

  constructor(buffer: ArrayBuffer = new ArrayBuffer(64 * 1024)) {
    this.buf = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Encodes an op; data ops must already be packed (their bytes at `at` in the batch's data). */
  add(op: Exclude<WriterOp, { t: "data" }> | PackedDataOp): void {
    this.count++;
    this.u8(KIND[op.t]);
    switch (op.t) {
      case "file":
        this.target(op);
        return;
      case "data":
        this.f64(op.offset);
        this.u32(op.at);
        this.u32(op.length);
        return;
      case "close":
        this.f64(op.size);
        if (op.sha256.byteLength !== 32) throw new Error(`close op: SHA-256 of ${op.sha256.byteLength} bytes`);
        this.raw(op.sha256);
        this.f64(op.payloadOffset);
        this.meta(op.meta);
        return;
      case "symlink":
        this.bytes(op.target);
        this.meta(op.meta);
        this.target(op);
        return;
      case "node":
        this.u32(op.mode);
        this.i64(op.dev);
        this.meta(op.meta);
        this.target(op);
        return;
      case "link":
        this.bytes(op.first);
        this.target(op);
        return;
      case "abort":
        return;
    }
  }

  /** The encoded batch (to transfer) and its length; the encoder starts over on `next`, a buffer back from a writer. */
  take(next?: ArrayBuffer): { buffer: ArrayBuffer; length: number } {
    const out = { buffer: this.buf.buffer as ArrayBuffer, length: this.pos };
    this.buf = new Uint8Array(next ?? new ArrayBuffer(this.buf.byteLength));
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
    this.count = 0;
    return out;
  }

  private target(t: { abs: Uint8Array; path: Uint8Array; overwrite: boolean }): void {
    this.bytes(t.abs);
    this.bytes(t.path);
    this.u8(t.overwrite ? 1 : 0);
  }

  private meta(m: EntryMeta): void {
    this.u32(m.uid);
    this.u32(m.gid);
    this.u32(m.mode);
    this.i64(m.mtimeNs);
    this.u32(m.xattrs.length);
    for (const [name, value] of m.xattrs) {
      this.bytes(name);
      this.bytes(value);
    }
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    const grown = new Uint8Array(Math.max(this.buf.byteLength * 2, this.pos + n));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  private u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  private u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  private i64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, v, true);
    this.pos += 8;
  }

  private f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  private raw(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  private bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.raw(b);
  }
}

/**
 * Runs `step` on each op of an encoded batch, in order. Byte fields are copies (a runner keeps
 * a file's path across batches, and the buffer goes back to be filled again); a data op's
 * bytes are a view of `data`.
 */
export function decodeOps(buffer: ArrayBuffer, length: number, data: ArrayBuffer | undefined, step: (op: WriterOp) => void): void {
  const buf = new Uint8Array(buffer, 0, length);
  const view = new DataView(buffer, 0, length);
  let pos = 0;
  const u32 = () => {
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const f64 = () => {
    const v = view.getFloat64(pos, true);
    pos += 8;
    return v;
  };
  const i64 = () => {
    const v = view.getBigInt64(pos, true);
    pos += 8;
    return v;
  };
  const raw = (n: number) => buf.slice(pos, (pos += n));
  const bytes = () => raw(u32());
  const meta = (): EntryMeta => {
    const m: EntryMeta = { uid: u32(), gid: u32(), mode: u32(), mtimeNs: i64(), xattrs: [] };
    for (let n = u32(); n > 0; n--) m.xattrs.push([bytes(), bytes()]);
    return m;
  };
  const target = () => ({ abs: bytes(), path: bytes(), overwrite: buf[pos++] === 1 });
  while (pos < length) {
    const kind = buf[pos++];
    switch (kind) {
      case KIND.file:
        step({ t: "file", ...target() });
        break;
      case KIND.data: {
        const offset = f64();
        const at = u32();
        step({ t: "data", offset, bytes: new Uint8Array(data!, at, u32()) });
        break;
      }
      case KIND.close:
        step({ t: "close", size: f64(), sha256: raw(32), payloadOffset: f64(), meta: meta() });
        break;
      case KIND.symlink: {
        const linkTarget = bytes();
        step({ t: "symlink", target: linkTarget, meta: meta(), ...target() });
        break;
      }
      case KIND.node: {
        const mode = u32();
        const dev = i64();
        step({ t: "node", mode, dev, meta: meta(), ...target() });
        break;
      }
      case KIND.link: {
        const first = bytes();
        step({ t: "link", first, ...target() });
        break;
      }
      case KIND.abort:
        step({ t: "abort" });
        break;
      default:
        throw new Error(`extract op batch: unknown op kind ${kind} at byte ${pos - 1}`);
    }
  }
}
