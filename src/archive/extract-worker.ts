/**
 * Writer thread of an extraction (extract-writers.ts): creates the entries the main thread
 * hands it, in the order given, and checks each file's content against its SHA-256 before
 * setting its metadata. Creating and writing files is kernel work that costs 30-300 us per file
 * on the test VM; on two threads beside the main one it overlaps with fetching and decoding.
 *
 * Messages in: {setup} once, then {batch, ops} (data buffers transferred); out, per batch:
 * {batch, warnings, error?}. After an error every further op is skipped (the main thread stops
 * at its next check); {batch, ops: [{t: "abort"}]} removes a file left half-written.
 */
import * as fs from "node:fs";
import { IbsError, withContext } from "../util/errors.ts";
import { type ApplyOptions, applyMeta, applyMetaToOpenFile, clearPath, create, type ExtractWarning } from "./extract-fs.ts";
import type { WriterFailure, WriterOp, WriterReply } from "./extract-writers.ts";
import { ArchiveFormatError, hex } from "./format.ts";
import { mknod } from "./native.ts";
import { formatPath } from "./paths.ts";

declare const self: Worker;

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
/** Transferred buffers are garbage once written; JSC collects them lazily (see gc-pacer.ts). */
const GC_EVERY_BYTES = 32 * 1024 * 1024;

let options: ApplyOptions = { owners: false, xattrs: false };
let failure: WriterFailure | undefined;
let sinceGc = 0;
let open: { fd: number; abs: Buffer; path: Uint8Array; hasher: Bun.CryptoHasher; end: number } | undefined;
let warnings: ExtractWarning[] = [];
const warn = (w: ExtractWarning) => warnings.push(w);

function removeOpenFile(): void {
  if (!open) return;
  try {
    fs.closeSync(open.fd);
  } catch {
    // already closed or never usable: the unlink is what matters
  }
  fs.rmSync(open.abs, { force: true });
  open = undefined;
}

function run(op: WriterOp): void {
  switch (op.t) {
    case "file": {
      const abs = Buffer.from(op.abs);
      if (op.overwrite) clearPath(op.path, abs);
      let fd = -1;
      create(op.path, abs, () => (fd = fs.openSync(abs, CREATE_FLAGS, 0o600)));
      open = { fd, abs, path: op.path, hasher: new Bun.CryptoHasher("sha256"), end: 0 };
      return;
    }
    case "data": {
      const f = open!;
      f.hasher.update(op.bytes);
      for (let done = 0; done < op.bytes.byteLength; ) {
        done += fs.writeSync(f.fd, op.bytes, done, op.bytes.byteLength - done, op.offset + done);
      }
      f.end = op.offset + op.bytes.byteLength;
      sinceGc += op.bytes.byteLength;
      return;
    }
    case "close": {
      const f = open!;
      const got = f.hasher.digest() as Uint8Array;
      if (Buffer.compare(got, op.sha256) !== 0) {
        throw new ArchiveFormatError(
          `${formatPath(f.path)}: payload record at offset ${op.payloadOffset}: content SHA-256 mismatch (metadata ${hex(op.sha256).slice(0, 16)}…, payload ${hex(got).slice(0, 16)}…)`,
        );
      }
      // Sets the size without writing the holes: a sparse file stays sparse. A dense file
      // already has its size (one syscall less per file: restores are syscall-bound).
      if (f.end !== op.size) fs.ftruncateSync(f.fd, op.size);
      applyMetaToOpenFile(f.path, f.abs, f.fd, op.meta, options, warn);
      fs.closeSync(f.fd);
      open = undefined;
      return;
    }
    case "symlink": {
      const abs = Buffer.from(op.abs);
      if (op.overwrite) clearPath(op.path, abs);
      create(op.path, abs, () => fs.symlinkSync(Buffer.from(op.target), abs));
      applyMeta(op.path, abs, true, op.meta, options, warn);
      return;
    }
    case "node": {
      const abs = Buffer.from(op.abs);
      if (op.overwrite) clearPath(op.path, abs);
      create(op.path, abs, () => mknod(abs, op.mode, op.dev));
      applyMeta(op.path, abs, false, op.meta, options, warn);
      return;
    }
    case "link": {
      const abs = Buffer.from(op.abs);
      if (op.overwrite) clearPath(op.path, abs);
      create(op.path, abs, () => fs.linkSync(Buffer.from(op.first), abs));
      return;
    }
    case "abort":
      removeOpenFile();
      return;
  }
}

function failureOf(err: unknown, op: WriterOp): WriterFailure {
  const where = "path" in op ? op.path : open?.path;
  const e = err instanceof IbsError ? err : withContext(`extract ${where ? formatPath(where) : "?"}`, err);
  return e instanceof IbsError ? { message: e.message, ibs: true, exitCode: e.exitCode, hint: e.hint } : { message: e.message, ibs: false, exitCode: 1 };
}

self.onmessage = (event: MessageEvent) => {
  const m = event.data as { setup?: ApplyOptions; batch: number; ops: WriterOp[] };
  if (m.setup) {
    options = m.setup;
    return;
  }
  for (const op of m.ops) {
    if (failure && op.t !== "abort") continue;
    try {
      run(op);
    } catch (err) {
      failure = failureOf(err, op);
      removeOpenFile();
    }
  }
  const reply: WriterReply = { batch: m.batch, warnings, ...(failure ? { error: failure } : {}) };
  warnings = [];
  self.postMessage(reply);
  if (sinceGc >= GC_EVERY_BYTES) {
    sinceGc = 0;
    Bun.gc(true);
  }
};
