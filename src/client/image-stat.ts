/**
 * Change detection for disk images given as regular files: the snapshot records the image
 * file's stat (size, mtime and ctime in ns, inode, path) in a small blob beside its index,
 * `NAME.img.stat.blob` (docs/formats.md, "Image stat record"). A later backup whose image file
 * still has that stat reuses the previous fixed index without reading a byte, as restic and
 * borg skip an unchanged file. Block devices have no trustworthy mtime: they are always read
 * (like PBS without a dirty bitmap), and `--change-detection data` reads every image.
 *
 * The record is a blob like the client log: sealed with the backup's key when encrypted (it
 * names a path) and listed in the signed manifest, so a server cannot forge it into making a
 * client skip changed data.
 *
 * Racy stat: a write in the same timestamp tick as the one that produced the recorded mtime
 * would leave size, mtime and ctime unchanged. Git's answer is used: a stat is only recorded
 * when mtime and ctime are older than the moment the stat was taken by a safety margin, so an
 * image modified just before (or while) it was read is read again next time.
 */
import type { BigIntStats } from "node:fs";
import { resolve } from "node:path";
import { encodeBlob, type EncodeOptions } from "../datastore/blob.ts";

export const IMAGE_STAT_VERSION = 1;
/** mtime/ctime must be at least this much older than the stat itself to be trusted next time. */
export const RACY_MARGIN_NS = 2_000_000_000n;

export interface ImageStat {
  version: number;
  /** Absolute path of the image file as given (resolved against the working directory). */
  path: string;
  size: number;
  /** Nanoseconds since the epoch and the inode number, as decimal strings (they exceed 2^53). */
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  /** Chunk size of the index this stat belongs to. */
  chunkSize: number;
}

/** "disk0.img" -> disk0.img.stat.blob. */
export function imageStatFile(name: string): string {
  return `${name}.stat.blob`;
}

export function imageStat(path: string, st: BigIntStats, chunkSize: number): ImageStat {
  return {
    version: IMAGE_STAT_VERSION,
    path: resolve(path),
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    ino: st.ino.toString(),
    chunkSize,
  };
}

/** Whether two stats describe the same unchanged file (and index layout). */
export function sameImage(a: ImageStat, b: ImageStat): boolean {
  return (
    a.version === b.version &&
    a.path === b.path &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.chunkSize === b.chunkSize
  );
}

/** True when mtime or ctime is too close to `statTakenNs` to tell a later write in the same tick apart. */
export function isRacy(st: BigIntStats, statTakenNs: bigint): boolean {
  return statTakenNs - st.mtimeNs < RACY_MARGIN_NS || statTakenNs - st.ctimeNs < RACY_MARGIN_NS;
}

/** The wall clock in ns, the clock file timestamps come from. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export function encodeImageStat(stat: ImageStat, options: EncodeOptions): Uint8Array {
  return encodeBlob(new TextEncoder().encode(JSON.stringify(stat)), options);
}

/** Parses a decoded record; undefined (read the image) when it is not one this version understands. */
export function parseImageStat(plain: Uint8Array): ImageStat | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return undefined;
  }
  const s = v as Partial<ImageStat> | null;
  if (
    !s ||
    s.version !== IMAGE_STAT_VERSION ||
    typeof s.path !== "string" ||
    !Number.isSafeInteger(s.size) ||
    typeof s.mtimeNs !== "string" ||
    typeof s.ctimeNs !== "string" ||
    typeof s.ino !== "string" ||
    !Number.isSafeInteger(s.chunkSize)
  ) {
    return undefined;
  }
  return s as ImageStat;
}
