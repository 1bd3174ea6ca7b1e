/**
 * Restores a file-tree archive (or the entries matching patterns, or one file) from a reader
 * session: both indexes, then the archive reader over chunk-fetching streams, then extraction
 * (src/archive/extract.ts restores content, holes, modes, owners, times, xattrs, links).
 */
import { extractArchive, ArchiveReader } from "../archive/reader.ts";
import { formatPath } from "../archive/paths.ts";
import { DynamicIndex } from "../datastore/dynamic-index.ts";
import { IbsError } from "../util/errors.ts";
import { metadataFile, payloadFile } from "./archive-spec.ts";
import type { StreamFetchers } from "./chunk-fetcher.ts";
import { IndexedStream } from "./indexed-stream.ts";
import type { GcPacer } from "./gc-pacer.ts";
import type { ByteOutput } from "./output-stream.ts";
import type { Progress } from "./progress.ts";
import type { ReaderSession } from "./reader-session.ts";
import { planPayloadReads } from "./restore-plan.ts";

export interface TreeRestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  specials: number;
  bytesWritten: number;
  warnings: string[];
}

/** `release`: the caller copies every piece of content before it reads the next (indexed-stream.ts `passedChunks`). */
export async function openTreeArchive(session: ReaderSession, name: string, fetchers: StreamFetchers, opts: { release?: boolean } = {}): Promise<{ reader: ArchiveReader; meta: IndexedStream; payload: IndexedStream }> {
  const metaIdx = DynamicIndex.parse(await session.file(metadataFile(name)), metadataFile(name));
  const payloadIdx = DynamicIndex.parse(await session.file(payloadFile(name)), payloadFile(name));
  const meta = new IndexedStream(metaIdx, fetchers.meta, { readAheadBytes: 8 * 1024 * 1024 });
  meta.setPlan(Array.from({ length: metaIdx.chunkCount }, (_, i) => i));
  // 8 MiB ahead keeps the 8 requests of 1 MiB chunks busy; 12 bought no speed (docs/benchmarks.md,
  // peak RSS). The payload is read once along its plan: chunks leave the cache after their last use.
  const payload = new IndexedStream(payloadIdx, fetchers.data, { readAheadBytes: 8 * 1024 * 1024, passedChunks: opts.release ? "release" : "drop" });
  payload.setPlan([]); // no read-ahead until the plan is known
  const reader = await ArchiveReader.open(meta, payload);
  return { reader, meta, payload };
}

export async function restoreTree(
  session: ReaderSession,
  name: string,
  fetchers: StreamFetchers,
  target: string,
  opts: { patterns: readonly string[]; overwrite: boolean; progress: Progress; signal?: AbortSignal; gc?: GcPacer },
): Promise<TreeRestoreResult> {
  // Extraction hands every piece to its writer (a copy) before it reads the next.
  const { reader, payload } = await openTreeArchive(session, name, fetchers, { release: true });
  const fetcher = fetchers.data;
  // Both passes over the metadata leave garbage per entry: collections paced by entries too.
  const gc = opts.gc;
  const onEntry = gc && (() => gc.noteEntry());
  payload.setPlan(await planPayloadReads(reader, payload, opts.patterns, onEntry));
  const counters = { dirs: 0, files: 0, symlinks: 0, hardlinks: 0, specials: 0, bytesWritten: 0 };
  opts.progress.track(() => ({
    label: name,
    done: counters.bytesWritten,
    // The payload stream's size is the content's within a few bytes per file; a selection restores less.
    total: opts.patterns.length > 0 ? undefined : payload.size,
    fetchedBytes: fetcher.stats.wireBytes,
    files: counters.files,
  }));
  const r = await extractArchive(reader, target, { patterns: opts.patterns, overwrite: opts.overwrite, signal: opts.signal, counters, onEntry });
  opts.progress.stop();
  const warnings = r.warnings.map((w) => w.message);
  for (const p of r.unmatchedPatterns) warnings.push(`pattern '${p}' matched nothing in ${name}`);
  return { ...r.counters, warnings };
}

/** One file's content to an output (stdout): `restore ... --file PATH -`. */
export async function restoreOneFile(session: ReaderSession, name: string, fetchers: StreamFetchers, path: string, out: ByteOutput): Promise<number> {
  const { reader, payload } = await openTreeArchive(session, name, fetchers);
  const entry = await reader.lookup(path);
  if (!entry) throw new IbsError(`${name} in snapshot ${session.name} has no entry ${path}`, 1, "list the archive with `ironcore-backup snapshot files` or restore with --pattern");
  const target = await reader.resolveHardlink(entry);
  if (!target.file) throw new IbsError(`${formatPath(entry.path)} in ${name} is a ${target.kind}, not a regular file`, 2, "restore directories into a target directory, with --pattern to select");
  if (target.file.payloadLength > 0) {
    payload.setPlan(payload.chunksCovering(target.file.payloadOffset, target.file.payloadOffset + 16 + target.file.payloadLength));
  }
  let n = 0;
  for await (const piece of reader.fileContent(entry)) {
    await out.write(piece);
    n += piece.byteLength;
  }
  await out.close();
  return n;
}
