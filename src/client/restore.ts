/**
 * One restore (`ironcore-backup restore <snapshot> <archive> <target>`): open a reader session,
 * check the snapshot's key, then restore a file tree (all of it, the entries matching
 * patterns, or one file to stdout) or an image (to a file, a block device or stdout). With
 * `--all`, every archive of the snapshot at once into one directory (runRestoreAll).
 */
import { existsSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { IbsError, UsageError } from "../util/errors.ts";
import type { Manifest } from "../datastore/manifest.ts";
import { archiveFiles, archivesInManifest, checkArchiveName } from "./archive-spec.ts";
import { parseSnapshotName, type SnapshotName } from "./backup-session.ts";
import { type DecodeChunk, type FetcherStats, imageFetcher, streamFetchers } from "./chunk-fetcher.ts";
import type { CryptConfig } from "./crypt.ts";
import { DecoderPool } from "./decoder-pool.ts";
import { GcPacer } from "./gc-pacer.ts";
import { type ByteOutput, stdoutOutput } from "./output-stream.ts";
import { Progress, type ProgressState } from "./progress.ts";
import { ReaderSession } from "./reader-session.ts";
import { IMAGE_READY_BYTES, restoreImage } from "./restore-image.ts";
import { restoreOneFile, restoreTree } from "./restore-tree.ts";
import { snapshotCrypt } from "./snapshot-key.ts";
import type { Transport } from "./transport.ts";
import { formatBytes } from "./units.ts";

/**
 * A collection per 16 MiB of decoded chunks, and per 4096 entries scanned (gc-pacer.ts); every
 * fourth one full, the others of young objects only. Measured on the 1 GiB benchmark restore
 * (`restore --all`, tree and image at once), with the smaller caches: full collections every
 * 32 MiB 188-203 MiB peak, every 16 MiB (and the smaller read-ahead and writer window)
 * 168-185 MiB, for about 0.5 s more user CPU (docs/benchmarks.md, peak RSS). The 94 full
 * collections of that restore took 1.0-1.3 s of the main thread; with three in four young-only,
 * 0.37-0.49 s, for ~5 MiB more peak (session 7). Young-only collections alone kept 217 MiB.
 */
const RESTORE_GC = { everyBytes: 16 * 1024 * 1024, fullEvery: 4 };

export interface RestoreSessionOptions {
  store: string;
  ns?: string;
  snapshot: string;
  /** The keyring, or its unlocking still under way: the session opens and fetches its indexes meanwhile. */
  crypt?: CryptConfig | Promise<CryptConfig | undefined>;
  decode?: DecodeChunk;
  /** Threads that decode chunks (decrypt, decompress, check); default all cores but one, 0 = this thread. */
  decoderThreads?: number;
}

export interface RestoreOptions extends RestoreSessionOptions {
  archive: string;
  /** Directory (trees), file or block device (images), or "-" for stdout. */
  target: string;
  patterns?: readonly string[];
  /** One file of a tree archive (to the target, usually "-"). */
  file?: string;
  overwrite?: boolean;
  progress?: Progress;
  /** Chunk requests in flight (default 8). */
  parallel?: number;
  /** Stops the restore at its next safe point (Ctrl-C); the session is closed either way. */
  signal?: AbortSignal;
  /** Where "-" writes (default stdout). */
  stdout?: ByteOutput;
}

export interface RestoreSummary {
  snapshot: string;
  archive: string;
  target: string;
  durationSeconds: number;
  files?: number;
  bytesWritten: number;
  chunksFetched: number;
  bytesFetched: number;
  zeroChunks?: number;
  /** How an image's zero chunks reached the target: holes in a file, zeros on a device or stdout. */
  zeroChunksAs?: "holes" | "zeros";
  warnings: string[];
}

export function parseSnapshotArg(text: string): SnapshotName {
  try {
    return parseSnapshotName(text, "snapshot");
  } catch {
    throw new UsageError(`snapshot '${text}' is not TYPE/ID/TIME`, "e.g. host/web1/2026-11-26T19:00:00Z (see `ironcore-backup snapshot list`)");
  }
}

interface RestoreContext {
  session: ReaderSession;
  crypt: CryptConfig;
  decode?: DecodeChunk;
  /**
   * Decodes without the digest check (decoder threads only), for the payload chunks of a
   * file-tree extraction: its writer threads check every file's SHA-256 before the file is
   * kept (extract-ops.ts), so hashing each chunk as well would hash every byte twice. A
   * tampered chunk then fails the restore naming the file instead of the chunk.
   */
  decodePayload?: DecodeChunk;
  gc: GcPacer;
}

/**
 * Opens the reader session, checks the snapshot's key and starts the decoder threads for `fn`;
 * closes them after. The indexes of `archives` start downloading before the key is awaited.
 */
async function withRestoreSession<T>(t: Transport, o: RestoreSessionOptions, archives: (m: Manifest) => string[], fn: (ctx: RestoreContext) => Promise<T>): Promise<T> {
  const session = await ReaderSession.open(t, { store: o.store, ns: o.ns, snapshot: parseSnapshotArg(o.snapshot) });
  let pool: DecoderPool | undefined;
  try {
    // Indexes need no key: they download while scrypt still runs (the first file ~50 ms sooner).
    const present = new Set(session.manifest.files.map((f) => f.filename));
    session.prefetch(archives(session.manifest).flatMap(archiveFiles).filter((f) => present.has(f)));
    const crypt = snapshotCrypt(session.manifest, session.name, await o.crypt);
    const threads = o.decoderThreads ?? Math.max(1, availableParallelism() - 1);
    pool = !o.decode && threads > 0 ? new DecoderPool(crypt, threads) : undefined;
    const decode = o.decode ?? (pool ? pool.decode.bind(pool) : undefined);
    const decodePayload = pool ? (blob: Uint8Array, digest: string) => pool!.decode(blob, digest, false) : undefined;
    return await fn({ session, crypt, decode, decodePayload, gc: new GcPacer(RESTORE_GC) });
  } finally {
    pool?.close();
    await session.close();
  }
}

function requireArchive(session: ReaderSession, archive: string): void {
  const available = archivesInManifest(session.manifest.files);
  if (!available.some((a) => a.name === archive)) {
    throw new IbsError(
      `snapshot ${session.name} has no archive ${archive}`,
      1,
      available.length ? `it holds: ${available.map((a) => a.name).join(", ")}` : "it holds no archives",
    );
  }
}

async function restoreArchive(ctx: RestoreContext, o: RestoreOptions, progress: Progress): Promise<RestoreSummary> {
  const started = performance.now();
  const kind = checkArchiveName(o.archive);
  const { session, crypt } = ctx;
  requireArchive(session, o.archive);
  const fetchRaw = (d: string) => session.chunk(d);
  const fetchOptions = { parallel: o.parallel, decode: ctx.decode, gc: ctx.gc };
  const out = o.target === "-" ? (o.stdout ?? stdoutOutput()) : undefined;
  const finish = (fetched: FetcherStats, s: Omit<RestoreSummary, "snapshot" | "archive" | "target" | "durationSeconds" | "chunksFetched" | "bytesFetched">): RestoreSummary => ({
    snapshot: session.name,
    archive: o.archive,
    target: o.target,
    durationSeconds: (performance.now() - started) / 1000,
    chunksFetched: fetched.chunks,
    bytesFetched: fetched.wireBytes,
    ...s,
  });
  if (kind === "image") {
    const fetcher = imageFetcher(fetchRaw, crypt, { ...fetchOptions, readyBytes: IMAGE_READY_BYTES });
    const r = await restoreImage(session, o.archive, fetcher, crypt, out ?? o.target, { overwrite: o.overwrite ?? false, progress, signal: o.signal });
    return finish(fetcher.stats, { bytesWritten: r.bytesWritten, zeroChunks: r.zeroChunks, zeroChunksAs: r.target === "file" ? "holes" : "zeros", warnings: [] });
  }
  if (o.file !== undefined) {
    const fetchers = streamFetchers(fetchRaw, crypt, fetchOptions);
    const n = await restoreOneFile(session, o.archive, fetchers, o.file, out ?? fileOutput(o.target, o.overwrite ?? false));
    return finish(fetchers.stats(), { files: 1, bytesWritten: n, warnings: [] });
  }
  if (out) throw new UsageError("a file-tree archive restores into a directory; use --file PATH to write one file to stdout");
  const fetchers = streamFetchers(fetchRaw, crypt, { ...fetchOptions, decodePayload: ctx.decodePayload });
  const r = await restoreTree(session, o.archive, fetchers, o.target, { patterns: o.patterns ?? [], overwrite: o.overwrite ?? false, progress, signal: o.signal, gc: ctx.gc });
  return finish(fetchers.stats(), { files: r.files, bytesWritten: r.bytesWritten, warnings: r.warnings });
}

export async function runRestore(t: Transport, o: RestoreOptions): Promise<RestoreSummary> {
  const kind = checkArchiveName(o.archive);
  if (o.file !== undefined && kind !== "tree") throw new UsageError("--file works on file-tree archives (.ibsar) only");
  if (o.file !== undefined && o.patterns?.length) throw new UsageError("--file and --pattern do not go together");
  return withRestoreSession(t, o, () => [o.archive], (ctx) => restoreArchive(ctx, o, o.progress ?? new Progress("off")));
}

export interface RestoreAllSummary {
  snapshot: string;
  target: string;
  durationSeconds: number;
  bytesWritten: number;
  archives: RestoreSummary[];
  warnings: string[];
}

/** Where `restore --all` puts an archive: a tree in a directory named without `.ibsar`, an image as a file of its name. */
export function restoreAllTarget(target: string, archive: string): string {
  return join(target, archive.endsWith(".ibsar") ? archive.slice(0, -".ibsar".length) : archive);
}

/**
 * Every archive of a snapshot into one directory (`restore SNAPSHOT --all DIR`), at the same
 * time: an image restore is mostly writing, a tree restore mostly creating files and decoding,
 * so together they keep both cores busy. One session, one set of decoder threads.
 */
export async function runRestoreAll(t: Transport, o: RestoreSessionOptions & { target: string; overwrite?: boolean; progress?: Progress; parallel?: number; signal?: AbortSignal }): Promise<RestoreAllSummary> {
  const started = performance.now();
  return withRestoreSession(t, o, (m) => archivesInManifest(m.files).map((a) => a.name), async (ctx) => {
    const archives = archivesInManifest(ctx.session.manifest.files);
    if (archives.length === 0) throw new IbsError(`snapshot ${ctx.session.name} holds no archives`, 1);
    mkdirSync(o.target, { recursive: true });
    const progress = o.progress ?? new Progress("off");
    progress.say(`restoring ${archives.map((a) => a.name).join(", ")} of ${ctx.session.name} into ${o.target}`);
    // Each archive reports into a quiet Progress of its own; the sum is shown as one line.
    const parts = archives.map(() => new Progress("off"));
    progress.track(() => sumProgress(parts.map((p) => p.current()), `${archives.length} archives`));
    // One archive failing stops the others, and all have stopped before the session closes.
    const stop = new AbortController();
    const onAbort = () => stop.abort(o.signal?.reason);
    o.signal?.addEventListener("abort", onAbort);
    try {
      const settled = await Promise.allSettled(
        archives.map((a, i) =>
          restoreArchive(ctx, { ...o, archive: a.name, target: restoreAllTarget(o.target, a.name), signal: stop.signal }, parts[i]!).then(
            (r) => {
              progress.say(`${a.name}: ${formatBytes(r.bytesWritten)} restored to ${r.target}`);
              return r;
            },
            (err) => {
              stop.abort(err);
              throw err;
            },
          ),
        ),
      );
      // The first failure (or the interrupt) is the reason the others stopped: report that one.
      const failed = settled.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
      if (failed) throw stop.signal.reason ?? failed.reason;
      const results = settled.map((r) => (r as PromiseFulfilledResult<RestoreSummary>).value);
      return {
        snapshot: ctx.session.name,
        target: o.target,
        durationSeconds: (performance.now() - started) / 1000,
        bytesWritten: results.reduce((n, r) => n + r.bytesWritten, 0),
        archives: results,
        warnings: results.flatMap((r) => r.warnings.map((w) => `${r.archive}: ${w}`)),
      };
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      progress.stop();
    }
  });
}

function sumProgress(states: Array<ProgressState | undefined>, label: string): ProgressState {
  const s: ProgressState = { label, done: 0, total: 0, fetchedBytes: 0, files: 0 };
  for (const x of states) {
    if (!x) continue;
    s.done += x.done;
    s.total = x.total !== undefined && s.total !== undefined ? s.total + x.total : undefined;
    s.fetchedBytes! += x.fetchedBytes ?? 0;
    s.files += x.files;
  }
  return s;
}

/** `--file PATH <target file>`: one file written to a path instead of stdout. */
function fileOutput(path: string, overwrite: boolean): ByteOutput {
  if (!overwrite && existsSync(path)) throw new IbsError(`restore target ${path} already exists`, 1, "pass --overwrite to replace it");
  const w = Bun.file(path).writer();
  return {
    write: async (b) => {
      w.write(b);
      await w.flush();
    },
    close: async () => {
      await w.end();
    },
  };
}
