/**
 * Backs up one file tree as an `.ibsar` archive: the archive writer walks the tree and emits
 * the metadata and payload streams, each streamed through its own chunker into the upload
 * pipeline; unchanged files (change detection by metadata against the previous snapshot) are
 * not read: their previous payload chunks are appended by digest (payload-reuse.ts).
 */
import * as fs from "node:fs";
import type { PreviousLookupStats } from "../archive/previous.ts";
import type { StatAhead } from "../archive/stat-ahead.ts";
import { formatPath } from "../archive/paths.ts";
import type { PreviousLookup } from "../archive/reuse.ts";
import { writeArchive } from "../archive/writer.ts";
import type { DynamicIndex } from "../datastore/dynamic-index.ts";
import { metadataFile, payloadFile, type ArchiveSpec } from "./archive-spec.ts";
import type { ArchiveResult, BackupContext } from "./backup-context.ts";
import { DynamicStreamWriter, METADATA_CDC } from "./dynamic-stream.ts";
import { payloadReuseSink } from "./payload-reuse.ts";

export interface TreeBackupOptions {
  exclude: readonly string[];
  previous?: { lookup?: PreviousLookup & { stats: PreviousLookupStats }; payload: DynamicIndex };
  /**
   * Test seam (docs/architecture.md, "Backup client"): the archive path of one file that is
   * appended to just before it is read, to produce a deterministic "changed while read".
   */
  changeWhileRead?: string;
  /** The walk taken ahead of this tree while the session started (stat-ahead.ts), stopped. */
  ahead?: StatAhead;
}

export async function backupTree(ctx: BackupContext, spec: ArchiveSpec, opts: TreeBackupOptions): Promise<ArchiveResult> {
  const meta = new DynamicStreamWriter(ctx.uploader, ctx.crypt, METADATA_CDC);
  const payload = new DynamicStreamWriter(ctx.uploader, ctx.crypt);
  const prev = opts.previous;
  let filesRead = 0;
  let filesChecked = 0;
  const reusedAtStart = ctx.uploader.stats.reusedBytes;
  const stats = ctx.uploader.stats;
  ctx.progress.track(() => ({
    label: spec.name,
    done: payload.position,
    total: prev?.payload.size,
    bytesRead: payload.position - (stats.reusedBytes - reusedAtStart),
    files: Math.max(filesRead, filesChecked),
    dedupHits: stats.knownChunks + stats.reusedChunks,
    newBytes: stats.newBytes,
    uploadedBytes: stats.uploadedBytes,
  }));
  const lookup: PreviousLookup | undefined = prev?.lookup
    ? (path, st) => {
        // Until a file has been read, every fourth lookup counts toward a paced collection: an
        // unchanged file leaves little garbage, and counting each cost an unchanged 1 GiB
        // re-backup ~0.1 s. Once changed files are read, every lookup counts: with data in
        // flight beside the walk's garbage, that took a post-mutation backup's peak from
        // 176-186 to 156-165 MiB at the same speed (docs/benchmarks.md, session 8).
        if ((++filesChecked & 3) === 0 || filesRead > 0) ctx.gc?.noteEntry();
        return prev.lookup!(path, st);
      }
    : undefined;
  const reuse = lookup && prev ? payloadReuseSink(prev.payload, payload, { isKnown: (d) => ctx.uploader.isKnown(d) }) : undefined;
  const result = await writeArchive({
    root: spec.source,
    metadataSink: meta.sink,
    payloadSink: payload.sink,
    exclude: opts.exclude,
    previous: lookup,
    reuse,
    reuseJoin: reuse?.join,
    signal: ctx.signal,
    ahead: opts.ahead,
    // Several MiB per read: the pieces reach the chunker uncopied (dynamic-stream.ts), and
    // fewer of them span a chunk boundary.
    readPieceSize: 4 * 1024 * 1024,
    // DynamicStreamWriter.sink keeps nothing once it resolves: one read buffer for all files.
    sinksCopy: true,
    hooks: {
      onBeforeRead(path, abs) {
        filesRead++;
        ctx.gc?.noteEntry();
        if (opts.changeWhileRead !== undefined && formatPath(path) === opts.changeWhileRead) fs.appendFileSync(abs, "changed while read\n");
      },
    },
  });
  const metaIndex = await meta.finish();
  const payloadIndex = await payload.finish();
  ctx.progress.stop();
  await ctx.session.uploadIndex(metadataFile(spec.name), metaIndex);
  await ctx.session.uploadIndex(payloadFile(spec.name), payloadIndex);
  const c = result.counters;
  return {
    name: spec.name,
    kind: "tree",
    source: spec.source,
    stored: [
      { filename: metadataFile(spec.name), bytes: metaIndex },
      { filename: payloadFile(spec.name), bytes: payloadIndex },
    ],
    size: result.metadataLength + result.payloadLength,
    bytesRead: c.bytesRead,
    files: { total: c.files, read: c.filesRead, reused: c.filesReused, bytesReused: c.bytesReused, entries: c.entries },
    zeroChunks: 0,
    reuse: reuse ? { runs: c.reuseRuns, wasteBytes: c.reusePaddingBytes, refusedFiles: c.reuseRefusedFiles, overBudgetRuns: reuse.stats.overBudget } : undefined,
    warnings: result.warnings.map((w) => ({ archive: spec.name, kind: w.kind, path: w.path ? formatPath(w.path) : undefined, message: w.message })),
  };
}
