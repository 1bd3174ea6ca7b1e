/**
 * Runs the ops of an extraction (extract-writers.ts) in order: create, write, check the content
 * SHA-256, set metadata, close. One runner per writer thread (extract-worker.ts), or on the
 * calling thread when the extraction runs without writer threads. After a failure every
 * further op is skipped until `abort` (which removes a file left half-written).
 */
import * as fs from "node:fs";
import { IbsError, withContext } from "../util/errors.ts";
import { type ApplyOptions, applyMeta, applyMetaToOpenFile, clearPath, create, type ExtractWarning } from "./extract-fs.ts";
import type { WriterFailure, WriterOp } from "./extract-writers.ts";
import { ArchiveFormatError, hex } from "./format.ts";
import { mknod } from "./native.ts";
import { formatPath } from "./paths.ts";

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export class OpRunner {
  failure: WriterFailure | undefined;
  /** Content bytes written since the caller last reset it (the worker paces its GC by it). */
  bytesWritten = 0;
  private open: { fd: number; abs: Buffer; path: Uint8Array; hasher: Bun.CryptoHasher; end: number } | undefined;

  constructor(
    private readonly options: ApplyOptions,
    private readonly warn: (w: ExtractWarning) => void,
  ) {}

  /** Runs one op; a failure is kept (not thrown) and makes the runner skip what follows. */
  step(op: WriterOp): void {
    if (this.failure && op.t !== "abort") return;
    try {
      this.run(op);
    } catch (err) {
      this.failure = failureOf(err, "path" in op ? op.path : this.open?.path);
      this.removeOpenFile();
    }
  }

  private removeOpenFile(): void {
    const f = this.open;
    if (!f) return;
    try {
      fs.closeSync(f.fd);
    } catch {
      // already closed or never usable: the unlink is what matters
    }
    fs.rmSync(f.abs, { force: true });
    this.open = undefined;
  }

  private run(op: WriterOp): void {
    switch (op.t) {
      case "file": {
        const abs = Buffer.from(op.abs);
        if (op.overwrite) clearPath(op.path, abs);
        let fd = -1;
        create(op.path, abs, () => (fd = fs.openSync(abs, CREATE_FLAGS, 0o600)));
        this.open = { fd, abs, path: op.path, hasher: new Bun.CryptoHasher("sha256"), end: 0 };
        return;
      }
      case "data": {
        const f = this.open!;
        f.hasher.update(op.bytes);
        for (let done = 0; done < op.bytes.byteLength; ) {
          done += fs.writeSync(f.fd, op.bytes, done, op.bytes.byteLength - done, op.offset + done);
        }
        f.end = op.offset + op.bytes.byteLength;
        this.bytesWritten += op.bytes.byteLength;
        return;
      }
      case "close": {
        const f = this.open!;
        const got = f.hasher.digest() as Uint8Array;
        if (Buffer.compare(got, op.sha256) !== 0) {
          throw new ArchiveFormatError(
            `${formatPath(f.path)}: payload record at offset ${op.payloadOffset}: content SHA-256 mismatch (metadata ${hex(op.sha256).slice(0, 16)}…, payload ${hex(got).slice(0, 16)}…)`,
          );
        }
        // Sets the size without writing the holes: a sparse file stays sparse. A dense file
        // already has its size (one syscall less per file: restores are syscall-bound).
        if (f.end !== op.size) fs.ftruncateSync(f.fd, op.size);
        applyMetaToOpenFile(f.path, f.abs, f.fd, op.meta, this.options, this.warn);
        fs.closeSync(f.fd);
        this.open = undefined;
        return;
      }
      case "symlink": {
        const abs = Buffer.from(op.abs);
        if (op.overwrite) clearPath(op.path, abs);
        create(op.path, abs, () => fs.symlinkSync(Buffer.from(op.target), abs));
        applyMeta(op.path, abs, true, op.meta, this.options, this.warn);
        return;
      }
      case "node": {
        const abs = Buffer.from(op.abs);
        if (op.overwrite) clearPath(op.path, abs);
        create(op.path, abs, () => mknod(abs, op.mode, op.dev));
        applyMeta(op.path, abs, false, op.meta, this.options, this.warn);
        return;
      }
      case "link": {
        const abs = Buffer.from(op.abs);
        if (op.overwrite) clearPath(op.path, abs);
        create(op.path, abs, () => fs.linkSync(Buffer.from(op.first), abs));
        return;
      }
      case "abort":
        this.removeOpenFile();
        return;
    }
  }
}

function failureOf(err: unknown, where: Uint8Array | undefined): WriterFailure {
  const e = err instanceof IbsError ? err : withContext(`extract ${where ? formatPath(where) : "?"}`, err);
  return e instanceof IbsError ? { message: e.message, ibs: true, exitCode: e.exitCode, hint: e.hint } : { message: e.message, ibs: false, exitCode: 1 };
}
