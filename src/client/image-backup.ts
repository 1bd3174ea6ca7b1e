/**
 * Backs up one disk image into a fixed index of 4 MiB chunks. Each chunk's digest is compared
 * with what the session knows (the previous snapshot's index of the same image, chunks already
 * uploaded): reading is unavoidable for images, uploading is not. All-zero chunks are never
 * hashed (their digest is computed once) and are uploaded at most once per session.
 */
import * as fs from "node:fs";
import { FixedIndexWriter } from "../datastore/fixed-index.ts";
import { FIXED_CHUNK_SIZE_DEFAULT, FixedChunker } from "../pipeline/chunker-fixed.ts";
import { imageFile, type ArchiveSpec } from "./archive-spec.ts";
import type { ArchiveResult, BackupContext } from "./backup-context.ts";
import { imagePieces, openImage } from "./image-source.ts";

/** One chunk per read: a hole is then skipped chunk by chunk, and the buffer is reused for each read. */
export const IMAGE_PIECE_SIZE = FIXED_CHUNK_SIZE_DEFAULT;

export async function backupImage(ctx: BackupContext, spec: ArchiveSpec): Promise<ArchiveResult> {
  const src = openImage(spec.source);
  try {
    const chunkSize = FIXED_CHUNK_SIZE_DEFAULT;
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
    for (const piece of imagePieces(src, IMAGE_PIECE_SIZE)) {
      ctx.signal?.throwIfAborted();
      if (!piece.hole) bytesRead += piece.data.byteLength;
      await handle(chunker.push(piece.data));
    }
    await handle(chunker.finish());
    await ctx.uploader.drain();
    ctx.progress.stop();
    const bytes = index.finish();
    await ctx.session.uploadIndex(imageFile(spec.name), bytes);
    return {
      name: spec.name,
      kind: "image",
      source: spec.source,
      stored: [{ filename: imageFile(spec.name), bytes }],
      size: src.size,
      bytesRead,
      files: { total: 1, read: 1, reused: 0, bytesReused: 0, entries: 1 },
      zeroChunks,
      warnings: [],
    };
  } finally {
    fs.closeSync(src.fd);
  }
}
