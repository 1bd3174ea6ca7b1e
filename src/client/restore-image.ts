/**
 * Restores an image archive to a file, a block device or stdout. Zero chunks are recognised by
 * their digest and never fetched: a regular file gets them as holes (the file is sized with
 * ftruncate first, only data chunks are written), a block device or a pipe gets zeros written.
 * The other chunks are fetched many at a time ahead of the writer.
 */
import * as fs from "node:fs";
import { FixedIndex } from "../datastore/fixed-index.ts";
import { IbsError, errorMessage } from "../util/errors.ts";
import { imageFile } from "./archive-spec.ts";
import type { ChunkFetcher } from "./chunk-fetcher.ts";
import type { CryptConfig } from "./crypt.ts";
import { blockDeviceSize } from "./image-source.ts";
import type { ByteOutput } from "./output-stream.ts";
import type { Progress } from "./progress.ts";
import type { ReaderSession } from "./reader-session.ts";
import { releaseBuffer } from "../util/release-buffer.ts";

export interface ImageRestoreResult {
  size: number;
  chunks: number;
  zeroChunks: number;
  bytesWritten: number;
  target: "file" | "block-device" | "stdout";
}

/** Chunks fetched ahead of the writer (each up to 4 MiB, decoded, held until written). */
const READ_AHEAD = 8;
/**
 * A cap on the chunks fetched ahead that the fetcher will hold (chunk-fetcher.ts): the loop
 * below never has more than READ_AHEAD of them, so this only has to be larger than that with
 * the largest chunk size an index may have (16 MiB); with the default 1 MiB chunks READ_AHEAD
 * holds 8 MiB.
 */
export const IMAGE_READY_BYTES = (READ_AHEAD + 1) * 16 * 1024 * 1024;

export async function restoreImage(
  session: ReaderSession,
  name: string,
  fetcher: ChunkFetcher,
  crypt: CryptConfig,
  target: string | ByteOutput,
  opts: { overwrite: boolean; progress: Progress; signal?: AbortSignal },
): Promise<ImageRestoreResult> {
  const idx = FixedIndex.parse(await session.file(imageFile(name)), imageFile(name));
  const isZero = (i: number) => {
    const loc = idx.location(i);
    return loc.digest === crypt.zeroDigest(loc.end - loc.start);
  };
  const out = typeof target === "string" ? openTarget(target, idx.size, opts.overwrite) : undefined;
  const sparse = out?.kind === "file";
  let done = 0;
  let bytesWritten = 0;
  let zeroChunks = 0;
  opts.progress.track(() => ({
    label: name,
    done,
    total: idx.size,
    fetchedBytes: fetcher.stats.wireBytes,
    files: 1,
  }));
  const zeros = new Uint8Array(idx.chunkSize);
  // The fetcher keeps no chunk once read; one that comes again within the read-ahead window
  // (the same data twice in a row, say) is held here until then, so it is fetched once.
  const held = new Map<string, Uint8Array>();
  const comesAgain = (i: number, digest: string) => {
    for (let j = i + 1; j < idx.chunkCount && j <= i + READ_AHEAD; j++) if (idx.digest(j) === digest) return true;
    return false;
  };
  try {
    let ahead = 0;
    for (let i = 0; i < idx.chunkCount; i++) {
      opts.signal?.throwIfAborted();
      for (ahead = Math.max(ahead, i + 1); ahead < idx.chunkCount && ahead <= i + READ_AHEAD; ahead++) {
        if (!isZero(ahead) && !held.has(idx.digest(ahead))) fetcher.prefetch(idx.digest(ahead));
      }
      const loc = idx.location(i);
      const len = loc.end - loc.start;
      let data: Uint8Array;
      if (isZero(i)) {
        zeroChunks++;
        done = loc.end;
        if (sparse) continue; // a hole: the file was sized up front
        data = zeros.subarray(0, len);
      } else {
        data = held.get(loc.digest) ?? (await fetcher.get(loc.digest));
        held.delete(loc.digest);
        if (comesAgain(i, loc.digest)) held.set(loc.digest, data);
        if (data.byteLength !== len) throw new IbsError(`${name}: chunk ${i} has ${data.byteLength} bytes, the index says ${len}`);
      }
      if (out) {
        writeAt(out.fd, data, loc.start);
        // Written and not held for a repeat: freed now (util/release-buffer.ts). Never a zero
        // chunk (a view of the shared zeros buffer), nor on the stdout path, whose writer may
        // still queue the bytes.
        if (!isZero(i) && !held.has(loc.digest)) releaseBuffer(data);
      } else await (target as ByteOutput).write(data);
      bytesWritten += len;
      done = loc.end;
    }
    if (out) {
      // On disk before we say "restored": a block device's writes sit in its page cache too.
      fs.fsyncSync(out.fd);
      fs.closeSync(out.fd);
    } else await (target as ByteOutput).close();
  } catch (err) {
    if (out) fs.closeSync(out.fd);
    throw err;
  } finally {
    opts.progress.stop();
  }
  return { size: idx.size, chunks: idx.chunkCount, zeroChunks, bytesWritten, target: out?.kind ?? "stdout" };
}

function writeAt(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done, position + done);
}

function openTarget(path: string, size: number, overwrite: boolean): { fd: number; kind: "file" | "block-device" } {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(path);
  } catch {
    st = undefined;
  }
  if (st?.isBlockDevice()) {
    const devSize = blockSize(path);
    if (devSize !== undefined && devSize < size) throw new IbsError(`block device ${path} has ${devSize} bytes, the image needs ${size}`, 1, "restore to a device at least as large as the image");
    return { fd: fs.openSync(path, fs.constants.O_WRONLY), kind: "block-device" };
  }
  if (st && !st.isFile()) throw new IbsError(`restore target ${path} exists and is neither a regular file nor a block device`, 2);
  if (st && !overwrite) throw new IbsError(`restore target ${path} already exists`, 1, "pass --overwrite to replace it, or restore to a new path");
  try {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    fs.ftruncateSync(fd, size);
    return { fd, kind: "file" };
  } catch (e) {
    throw new IbsError(`restore target ${path}: ${(e as { code?: string }).code ?? errorMessage(e)}`);
  }
}

function blockSize(path: string): number | undefined {
  try {
    return blockDeviceSize(path, fs.statSync(path, { bigint: true }).rdev);
  } catch {
    return undefined;
  }
}
