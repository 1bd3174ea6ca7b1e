/**
 * Backs up one disk image into a fixed index of 1 MiB chunks (IMAGE_CHUNK_SIZE). Each chunk's digest is compared
 * with what the session knows (the previous snapshot's index of the same image, chunks already
 * uploaded): reading is unavoidable for block devices, uploading is not. All-zero chunks are
 * never hashed (their digest is computed once) and are uploaded at most once per session.
 *
 * An image given as a regular file whose stat matches the previous snapshot's record
 * (image-stat.ts) is not read at all: the previous index is written again, chunk for chunk.
 */
import * as fs from "node:fs";
import { FixedIndexWriter } from "../datastore/fixed-index.ts";
import { FixedChunker } from "../pipeline/chunker-fixed.ts";
import { imageFile, type ArchiveSpec } from "./archive-spec.ts";
import type { ArchiveResult, BackupContext } from "./backup-context.ts";
import { encodeImageStat, imageStat, imageStatFile, isRacy, nowNs, sameImage } from "./image-stat.ts";
import { imagePieces, openImage, type ImageSource } from "./image-source.ts";
import type { PreviousImage } from "./previous-snapshot.ts";

/**
 * Images are cut into 1 MiB chunks, not PBS's 4 MiB: scattered small writes then cost a 1 MiB
 * chunk each instead of 4 (measured with the benchmark's "next day", 17 MiB rewritten in
 * 4-256 KiB runs over 339 MiB of data: about 110 MiB of new chunks instead of about 300), which
 * is the granularity restic and borg dedup images at and the average of the trees' CDC chunks.
 * A 1 TB disk is then about a million chunks, as a 1 TB tree is. The index records the size,
 * so restores read either.
 */
export const IMAGE_CHUNK_SIZE = 1024 * 1024;

export interface ImageBackupOptions {
  /** The previous snapshot's index (and stat record) of this archive. */
  previous?: PreviousImage;
  /** false (`--change-detection data`): read the image even when its stat is unchanged. */
  changeDetection?: boolean;
  /** The wall clock in ns (test seam; default nowNs). */
  now?: () => bigint;
  /** Fixed chunk size (a power of two, 64 KiB-16 MiB); default IMAGE_CHUNK_SIZE. */
  chunkSize?: number;
}

export async function backupImage(ctx: BackupContext, spec: ArchiveSpec, opts: ImageBackupOptions = {}): Promise<ArchiveResult> {
  const src = openImage(spec.source);
  try {
    const chunkSize = opts.chunkSize ?? IMAGE_CHUNK_SIZE;
    const statBefore = src.kind === "file" ? imageStat(src.path, src.stat, chunkSize) : undefined;
    const statTaken = (opts.now ?? nowNs)();
    const prev = opts.previous;
    const unchanged =
      (opts.changeDetection ?? true) &&
      statBefore !== undefined &&
      prev?.stat !== undefined &&
      sameImage(prev.stat, statBefore) &&
      prev.index.size === src.size &&
      prev.index.chunkSize === chunkSize;
    const r = unchanged ? reusePrevious(ctx, prev!, src, chunkSize) : await readImage(ctx, spec, src, chunkSize);
    const stored = [{ filename: imageFile(spec.name), bytes: r.index }];
    // Record the stat for the next backup only when the file did not change while it was read
    // and is not racily new (image-stat.ts); otherwise the next backup reads it again.
    const after = src.kind === "file" ? fs.fstatSync(src.fd, { bigint: true }) : undefined;
    if (statBefore && after && sameImage(statBefore, imageStat(src.path, after, chunkSize)) && !isRacy(after, statTaken)) {
      const blob = encodeImageStat(statBefore, ctx.crypt.encodeOptions);
      stored.push({ filename: imageStatFile(spec.name), bytes: blob });
    }
    await ctx.session.uploadIndex(imageFile(spec.name), r.index);
    for (const s of stored.slice(1)) await ctx.session.uploadBlob(s.filename, s.bytes);
    return {
      name: spec.name,
      kind: "image",
      source: spec.source,
      stored,
      size: src.size,
      bytesRead: r.bytesRead,
      files: { total: 1, read: unchanged ? 0 : 1, reused: unchanged ? 1 : 0, bytesReused: unchanged ? src.size : 0, entries: 1 },
      zeroChunks: r.zeroChunks,
      warnings: [],
    };
  } finally {
    fs.closeSync(src.fd);
  }
}

interface ImageIndexResult {
  index: Uint8Array;
  bytesRead: number;
  zeroChunks: number;
}

/** The unchanged image: the previous index's digests again (all known to the session), nothing read. */
function reusePrevious(ctx: BackupContext, prev: PreviousImage, src: ImageSource, chunkSize: number): ImageIndexResult {
  const index = new FixedIndexWriter({ size: src.size, chunkSize });
  let zeroChunks = 0;
  for (let i = 0; i < prev.index.chunkCount; i++) {
    const length = Math.min(chunkSize, src.size - i * chunkSize);
    const digest = prev.index.digest(i);
    if (digest === ctx.crypt.zeroDigest(length)) {
      zeroChunks++;
      ctx.uploader.stats.zeroChunks++;
    }
    index.set(i, digest);
    ctx.uploader.noteReused(length);
  }
  return { index: index.finish(), bytesRead: 0, zeroChunks };
}

async function readImage(ctx: BackupContext, spec: ArchiveSpec, src: ImageSource, chunkSize: number): Promise<ImageIndexResult> {
  const index = new FixedIndexWriter({ size: src.size, chunkSize });
  const chunker = new FixedChunker(chunkSize);
  const stats = ctx.uploader.stats;
  let done = 0;
  let bytesRead = 0;
  let zeroChunks = 0;
  ctx.progress.track(() => ({
    label: spec.name,
    done,
    total: src.size,
    bytesRead,
    files: 1,
    dedupHits: stats.knownChunks,
    newBytes: stats.newBytes,
    uploadedBytes: stats.uploadedBytes,
  }));
  const handle = async (chunks: ReturnType<FixedChunker["push"]>) => {
    for (const c of chunks) {
      const digest = c.zero ? ctx.crypt.zeroDigest(c.data.byteLength) : ctx.crypt.digest(c.data);
      if (c.zero) {
        zeroChunks++;
        stats.zeroChunks++;
      }
      index.set(c.offset / chunkSize, digest);
      await ctx.uploader.add(c.data, digest);
      done = c.offset + c.data.byteLength;
    }
  };
  // One chunk per read: a hole is then skipped chunk by chunk, and the buffer is reused.
  for (const piece of imagePieces(src, chunkSize)) {
    ctx.signal?.throwIfAborted();
    if (!piece.hole) bytesRead += piece.data.byteLength;
    await handle(chunker.push(piece.data, piece.hole));
  }
  await handle(chunker.finish());
  await ctx.uploader.drain();
  ctx.progress.stop();
  return { index: index.finish(), bytesRead, zeroChunks };
}
