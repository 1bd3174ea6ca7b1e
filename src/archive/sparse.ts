/**
 * Finding the data extents of a sparse file, so the archive stores only data and restore can
 * leave the holes as holes.
 *
 * Only files with fewer allocated bytes than their size are examined (dense files with zeros
 * stay dense on restore). With SEEK_DATA/SEEK_HOLE (native.ts) the filesystem's own holes are
 * used; without it the file is scanned once in 4 KiB blocks and all-zero blocks become holes.
 */
import { readSync } from "node:fs";
import type { Extent } from "./format.ts";
import { nativeSupport, seek } from "./native.ts";

export const ZERO_BLOCK_SIZE = 4096;
const ZERO = new Uint8Array(ZERO_BLOCK_SIZE);

/** Data extents of the open file, or undefined when it is dense (one extent covering everything). */
export function dataExtents(fd: number, size: number, allocatedBytes: number, pieceSize: number): Extent[] | undefined {
  if (size === 0 || allocatedBytes >= size) return undefined;
  let extents: Extent[] | undefined;
  if (nativeSupport.seekData) {
    try {
      extents = seekExtents(fd, size);
    } catch {
      extents = undefined; // e.g. EINVAL on a filesystem without SEEK_DATA: scan instead
    }
  }
  extents ??= scanZeroBlocks(fd, size, pieceSize);
  if (extents.length === 1 && extents[0].offset === 0 && extents[0].length === size) return undefined;
  return extents;
}

function seekExtents(fd: number, size: number): Extent[] {
  const out: Extent[] = [];
  let pos = 0;
  while (pos < size) {
    const data = seek(fd, pos, "data");
    if (data < 0 || data >= size) break;
    let hole = seek(fd, data, "hole");
    if (hole < 0 || hole > size) hole = size;
    if (hole <= data) break;
    push(out, data, hole - data);
    pos = hole;
  }
  return out;
}

function push(out: Extent[], offset: number, length: number): void {
  const last = out[out.length - 1];
  if (last && last.offset + last.length === offset) last.length += length;
  else out.push({ offset, length });
}

function scanZeroBlocks(fd: number, size: number, pieceSize: number): Extent[] {
  const out: Extent[] = [];
  const piece = Math.max(ZERO_BLOCK_SIZE, pieceSize - (pieceSize % ZERO_BLOCK_SIZE));
  const buf = Buffer.alloc(piece);
  for (let pos = 0; pos < size; ) {
    const bytesRead = readSync(fd, buf, 0, Math.min(piece, size - pos), pos);
    if (bytesRead === 0) break; // shrank: the copy reports it
    for (let b = 0; b < bytesRead; b += ZERO_BLOCK_SIZE) {
      const len = Math.min(ZERO_BLOCK_SIZE, bytesRead - b);
      if (Buffer.compare(buf.subarray(b, b + len), ZERO.subarray(0, len)) !== 0) push(out, pos + b, len);
    }
    pos += bytesRead;
  }
  return out;
}
