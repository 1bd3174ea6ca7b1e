/**
 * One backup run (`ironcore-backup backup`): open a writer session, back up each archive
 * through the pipeline, store the client log, then send the signed manifest; on any failure
 * abort the session so nothing becomes visible.
 */
import { StatAhead } from "../archive/stat-ahead.ts";
import { encodeBlob } from "../datastore/blob.ts";
import { createManifest, describeFile, encodeManifest, type ManifestFile } from "../datastore/manifest.ts";
import type { BackupType } from "../datastore/snapshot-path.ts";
import { EncoderPool } from "../pipeline/encoder-pool.ts";
import { CLIENT_LOG_FILE, type ArchiveSpec } from "./archive-spec.ts";
import type { ArchiveResult, BackupContext } from "./backup-context.ts";
import { BackupSession, formatSnapshotName } from "./backup-session.ts";
import { type BackupSummary, renderBackupSummary } from "./backup-summary.ts";
import { ClientLog } from "./client-log.ts";
import type { CryptConfig, CryptIdentity } from "./crypt.ts";
import { backupImage } from "./image-backup.ts";
import { PreviousSnapshotFiles, previousUnusable } from "./previous-snapshot.ts";
import { Progress } from "./progress.ts";
import type { Transport } from "./transport.ts";
import { backupTree } from "./tree-backup.ts";
import { GcPacer } from "./gc-pacer.ts";
import { formatBytes } from "./units.ts";
import { ChunkUploader, type ChunkUploaderOptions } from "./upload-pipeline.ts";

export type ChangeDetection = "metadata" | "data";


export interface BackupOptions {
  store: string;
  ns?: string;
  backupType: BackupType;
  backupId: string;
  /** RFC 3339 UTC; default: the server's clock. */
  backupTime?: string;
  archives: ArchiveSpec[];
  /**
   * The key; a promise while the keyfile is still being unlocked (scrypt takes ~0.2-0.3 s):
   * the session starts meanwhile with `cryptIdentity` (~0.1 s of an unchanged re-backup).
   */
  crypt: CryptConfig | Promise<CryptConfig>;
  /** What the session start needs of a key still being unlocked (from the keyfile, no passphrase). */
  cryptIdentity?: CryptIdentity;
  exclude?: readonly string[];
  changeDetection?: ChangeDetection;
  progress?: Progress;
  /** Encoder threads; default: all cores but one (0 encodes on this thread). */
  encoderThreads?: number;
  upload?: ChunkUploaderOptions;
  signal?: AbortSignal;
  /** Test seam: see TreeBackupOptions.changeWhileRead. */
  changeWhileRead?: string;
  /** Test seam: the wall clock in ns for the racy-stat rule of image change detection (image-stat.ts). */
  now?: () => bigint;
  /** Fixed chunk size for images (image-backup.ts IMAGE_CHUNK_SIZE by default). */
  imageChunkSize?: number;
}

export async function runBackup(t: Transport, o: BackupOptions): Promise<BackupSummary> {
  const started = performance.now();
  const progress = o.progress ?? new Progress("off");
  const changeDetection = o.changeDetection ?? "metadata";
  const log = new ClientLog();
  const identity = o.crypt instanceof Promise ? o.cryptIdentity : { mode: o.crypt.mode, fingerprint: o.crypt.fingerprint };
  if (!identity) throw new Error("runBackup: a key still being unlocked needs its cryptIdentity");
  // This thread is idle until the session has started and the key is unlocked: the first
  // tree's walk gets ahead meanwhile (stat-ahead.ts), until its writer starts.
  const firstTree = o.archives.find((a) => a.kind === "tree");
  const ahead = firstTree ? StatAhead.start(firstTree.source, { exclude: o.exclude }) : undefined;
  // The session starts while the key may still be unlocking; when both fail, the key's error
  // is the one to show (a wrong passphrase says more than what the server made of the key).
  const [sessionStart, unlocked] = await Promise.allSettled([
    BackupSession.start(t, {
      store: o.store,
      ns: o.ns,
      backupType: o.backupType,
      backupId: o.backupId,
      backupTime: o.backupTime,
      cryptMode: identity.mode,
      keyFingerprint: identity.fingerprint,
    }),
    Promise.resolve(o.crypt).then((c) => {
      if (c.mode !== identity.mode || c.fingerprint !== identity.fingerprint) {
        throw new Error(`the unlocked key (${c.fingerprint ?? "none"}) is not the key the session was started with (${identity.fingerprint ?? "none"})`);
      }
      return c;
    }),
  ]);
  if (unlocked.status === "rejected" || sessionStart.status === "rejected") await ahead?.stop();
  if (unlocked.status === "rejected") {
    if (sessionStart.status === "fulfilled") await sessionStart.value.abort();
    throw unlocked.reason;
  }
  if (sessionStart.status === "rejected") throw sessionStart.reason;
  const session = sessionStart.value;
  const crypt = unlocked.value;
  const snapshot = formatSnapshotName(session.snapshot);
  const pool = new EncoderPool(crypt.encodeOptions, o.encoderThreads);
  const gc = new GcPacer();
  const uploader = new ChunkUploader(pool, (d, b) => session.uploadChunk(d, b), { gc, ...o.upload });
  const ctx: BackupContext = { session, crypt, uploader, progress, signal: o.signal, gc };
  try {
    log.info(`backup of ${snapshot} to datastore ${o.store}${o.ns ? ` namespace ${o.ns}` : ""}, task ${session.upid ?? "-"}`);
    log.info(crypt.mode === "encrypt" ? `encrypted with key ${crypt.fingerprint}` : "not encrypted (--crypt-mode none)");
    progress.say(`backing up ${snapshot}${session.upid ? ` (task ${session.upid})` : ""}`);
    let previous: PreviousSnapshotFiles | undefined;
    if (session.previous) {
      const why = previousUnusable(session.previous, crypt);
      if (why) {
        log.info(`previous snapshot ${session.previous.time} not used (${why}): every file is read and every chunk uploaded`);
        progress.say(`previous snapshot ${session.previous.time} not used: ${why}`);
      } else {
        previous = new PreviousSnapshotFiles(session, session.previous.manifest, crypt, uploader);
        log.info(`previous snapshot ${session.previous.time}; change detection: ${changeDetection}`);
      }
    } else {
      log.info("no previous snapshot in this group: full backup");
    }

    const results: ArchiveResult[] = [];
    for (const spec of o.archives) {
      o.signal?.throwIfAborted();
      log.info(`archive ${spec.name} from ${spec.source}`);
      let r: ArchiveResult;
      if (spec.kind === "tree") {
        const prev = previous ? await previous.tree(spec.name, changeDetection === "metadata") : undefined;
        if (spec === firstTree) await ahead?.stop();
        r = await backupTree(ctx, spec, { exclude: o.exclude ?? [], previous: prev, changeWhileRead: o.changeWhileRead, ahead: spec === firstTree ? ahead : undefined });
      } else {
        const prev = previous ? await previous.image(spec.name, changeDetection === "metadata") : undefined;
        r = await backupImage(ctx, spec, { previous: prev, changeDetection: changeDetection === "metadata", now: o.now, chunkSize: o.imageChunkSize });
      }
      for (const w of r.warnings) {
        log.warn(`${w.archive}: ${w.message}`);
        progress.say(`warning: ${w.archive}: ${w.message}`);
      }
      const what = r.kind === "tree" ? `${r.files.total} files (${r.files.reused} unchanged)` : `${r.zeroChunks} zero chunks${r.files.reused ? ", unchanged since the previous snapshot (not read)" : ""}`;
      const line = `${spec.name}: ${formatBytes(r.size)}, ${formatBytes(r.bytesRead)} read, ${what}`;
      log.info(line);
      progress.say(line);
      results.push(r);
    }

    const summary = summarize(o, crypt, session, snapshot, results, uploader, changeDetection, started, previous !== undefined);
    log.info(`memory: ${gc.stats.collections} paced garbage collections (${gc.stats.ms.toFixed(0)} ms)`);
    log.info(renderBackupSummary(summary).split("\n").join("\n  "));
    const files: ManifestFile[] = [];
    const cryptMode = crypt.mode;
    for (const r of results) for (const f of r.stored) files.push(describeFile(f.filename, f.bytes, cryptMode));
    const logBlob = encodeBlob(new TextEncoder().encode(log.text()), crypt.encodeOptions);
    await session.uploadBlob(CLIENT_LOG_FILE, logBlob);
    files.push(describeFile(CLIENT_LOG_FILE, logBlob, cryptMode));
    const manifest = createManifest(
      {
        snapshot: session.snapshot,
        files,
        keyFingerprint: crypt.fingerprint,
        unprotected: summary.warnings > 0 ? { warnings: summary.warnings } : {},
      },
      crypt.signKey,
    );
    o.signal?.throwIfAborted();
    summary.snapshot = await session.finish(encodeManifest(manifest));
    summary.durationSeconds = (performance.now() - started) / 1000;
    return summary;
  } catch (err) {
    progress.stop();
    await ahead?.stop();
    await session.abort();
    throw err;
  } finally {
    pool.close();
  }
}

function summarize(
  o: BackupOptions,
  crypt: CryptConfig,
  session: BackupSession,
  snapshot: string,
  results: ArchiveResult[],
  uploader: ChunkUploader,
  changeDetection: ChangeDetection,
  started: number,
  usedPrevious: boolean,
): BackupSummary {
  const s = uploader.stats;
  const sum = (f: (r: ArchiveResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const warningList = results.flatMap((r) => r.warnings);
  return {
    snapshot,
    store: o.store,
    ns: o.ns ?? "",
    upid: session.upid,
    previous: usedPrevious ? session.previous!.time : null,
    changeDetection,
    cryptMode: crypt.mode,
    keyFingerprint: crypt.fingerprint,
    durationSeconds: (performance.now() - started) / 1000,
    files: sum((r) => (r.kind === "tree" ? r.files.total : 0)),
    filesRead: sum((r) => (r.kind === "tree" ? r.files.read : 0)),
    filesUnchanged: sum((r) => (r.kind === "tree" ? r.files.reused : 0)),
    totalBytes: sum((r) => r.size),
    bytesRead: sum((r) => r.bytesRead),
    bytesNew: s.newBytes,
    bytesUploaded: s.uploadedBytes,
    chunks: s.chunks,
    chunksNew: s.newChunks,
    chunksReused: s.knownChunks + s.reusedChunks,
    chunksKnown: s.knownChunks,
    chunksUnread: s.reusedChunks,
    zeroChunks: s.zeroChunks,
    warnings: warningList.length,
    warningList,
    archives: results.map((r) => ({
      name: r.name,
      kind: r.kind,
      source: r.source,
      size: r.size,
      bytesRead: r.bytesRead,
      files: r.files.total,
      filesRead: r.files.read,
      filesUnchanged: r.files.reused,
      zeroChunks: r.zeroChunks,
      warnings: r.warnings.length,
      ...(r.reuse ? { reuse: r.reuse } : {}),
    })),
  };
}
