/**
 * Reads a disk image (regular file or block device) in chunk-aligned pieces. Holes of a sparse
 * file are found with SEEK_DATA and handed out as shared zero bytes without a read, so a mostly
 * empty 5 GiB image costs a few syscalls, not 5 GiB of reads. Block devices have no holes to
 * ask for: they are read in full and the fixed chunker spots the zero chunks.
 */
import * as fs from "node:fs";
import { devMajor, devMinor } from "../archive/format.ts";
import { nativeSupport, seek } from "../archive/native.ts";
import { IbsError, errorMessage } from "../util/errors.ts";

export interface ImageSource {
  path: string;
  fd: number;
  size: number;
  kind: "file" | "block-device";
  /** fstat at open (change detection compares it with the previous snapshot's record). */
  stat: fs.BigIntStats;
}

export function openImage(path: string): ImageSource {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  } catch (e) {
    throw new IbsError(`image ${path}: cannot open it (${(e as { code?: string }).code ?? errorMessage(e)})`, 1, "give a readable regular file or block device");
  }
  const st = fs.fstatSync(fd, { bigint: true });
  if (st.isFile()) return { path, fd, size: Number(st.size), kind: "file", stat: st };
  if (st.isBlockDevice()) return { path, fd, size: blockDeviceSize(path, st.rdev), kind: "block-device", stat: st };
  fs.closeSync(fd);
  throw new IbsError(`image ${path} is neither a regular file nor a block device`, 2, "back up directories as NAME.ibsar:<dir>");
}

/** Size in bytes from sysfs (`/sys/dev/block/MAJ:MIN/size` counts 512-byte sectors). */
export function blockDeviceSize(path: string, rdev: bigint): number {
  const sys = `/sys/dev/block/${devMajor(rdev)}:${devMinor(rdev)}/size`;
  try {
    return Number(fs.readFileSync(sys, "utf8").trim()) * 512;
  } catch (e) {
    throw new IbsError(`image ${path}: cannot read the device size from ${sys} (${errorMessage(e)})`);
  }
}

const ZERO_PIECE = new Uint8Array(16 * 1024 * 1024);

export interface ImagePiece {
  offset: number;
  data: Uint8Array;
  /** The piece is a hole: `data` is shared zero bytes that were not read. */
  hole: boolean;
}

/**
 * Pieces of `pieceSize` (a multiple of the chunk size) in order. A data piece's buffer is
 * reused for the next piece: consume it (the upload pipeline copies) before asking for more.
 */
export function* imagePieces(src: ImageSource, pieceSize: number): Generator<ImagePiece> {
  if (pieceSize > ZERO_PIECE.byteLength) throw new RangeError(`image piece size ${pieceSize} above ${ZERO_PIECE.byteLength}`);
  const buf = Buffer.allocUnsafe(pieceSize);
  const holes = src.kind === "file" && nativeSupport.seekData;
  let nextData = 0;
  for (let offset = 0; offset < src.size; offset += pieceSize) {
    const len = Math.min(pieceSize, src.size - offset);
    if (holes && nextData < offset + len) nextData = findData(src, offset);
    if (holes && nextData >= offset + len) {
      yield { offset, data: ZERO_PIECE.subarray(0, len), hole: true };
      continue;
    }
    let got = 0;
    while (got < len) {
      const n = fs.readSync(src.fd, buf, got, len - got, offset + got);
      if (n === 0) throw new IbsError(`image ${src.path}: ended at ${offset + got} bytes while reading, expected ${src.size} (did it shrink?)`);
      got += n;
    }
    yield { offset, data: buf.subarray(0, len), hole: false };
  }
}

/** Next data offset at or after `from`; the end of the file when only holes follow. */
function findData(src: ImageSource, from: number): number {
  try {
    const d = seek(src.fd, from, "data");
    return d < 0 ? src.size : d;
  } catch {
    return from; // a filesystem without SEEK_DATA: read everything
  }
}
