/**
 * One backup (writer) session: the allow-list of chunks it may reference, the snapshot writer,
 * the locked base snapshot and the task. The rules of docs/protocol.md are enforced here:
 *
 * - a chunk is accepted only after its header, CRC and crypt mode (and, unencrypted, its
 *   SHA-256) are checked, and stored durably before the answer, which is the same whether the
 *   store had it or not: no "has chunk" oracle;
 * - an index may name only chunks this session uploaded or found in an index of the base
 *   snapshot that it downloaded (the allow-list, DESIGN.md section 4);
 * - the manifest goes last and atomically; until then nothing is visible, and an abort (client,
 *   idle timeout, full disk, a mode change, `task abort`) removes what was written.
 */
import { isIndexFilename, parseChunkIndex } from "../datastore/chunk-index.ts";
import { chunkName } from "../datastore/chunk-store.ts";
import { BLOB_MAGIC, BLOB_VERSION, BlobKind, inspectBlob, PLAIN_HEADER_SIZE } from "../datastore/blob.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { CorruptError } from "../datastore/errors.ts";
import { decodeManifest, type Manifest } from "../datastore/manifest.ts";
import { describeSnapshot, MANIFEST_FILENAME, snapshotKey, validateArchiveFilename } from "../datastore/snapshot-path.ts";
import type { SnapshotWriter } from "../datastore/snapshot-writer.ts";
import type { Logger } from "../log/logger.ts";
import { errorMessage } from "../util/errors.ts";
import { DigestSet } from "./digest-set.ts";
import { badRequest, conflict, forbidden, isFatalForWriter, notFound, storeError } from "./errors.ts";
import { readStoredChunk } from "./stored-chunk.ts";
import type { PreviousSnapshot, SessionCrypt } from "./previous.ts";
import type { Session, SessionRegistry } from "./session-registry.ts";
import type { SessionTask } from "./session-task.ts";
import { releaseBuffer } from "../util/release-buffer.ts";

/** Client warnings counted into the task result at most (each is one task log line). */
export const MAX_COUNTED_WARNINGS = 100_000;

export interface WriterSessionInit extends SessionCrypt {
  id: string;
  authId: string;
  store: Datastore;
  writer: SnapshotWriter;
  previous: PreviousSnapshot | null;
  task: SessionTask;
  registry: SessionRegistry;
  log: Logger;
}

export interface FinishResult {
  snapshot: string;
  upid: string;
  /** The task's result: OK or WARNINGS: N. */
  result: string;
}

export class WriterSession implements Session {
  readonly kind = "backup" as const;
  readonly id: string;
  readonly authId: string;
  private state: "open" | "finishing" | "ended" = "open";
  private active = 0;
  private readonly uploaded = new DigestSet();
  private readonly fromPrevious = new DigestSet();
  private readonly reused = new DigestSet();
  private readonly stats = { chunks: 0, chunkBytes: 0, indexes: 0, blobs: 0 };

  constructor(private readonly s: WriterSessionInit) {
    this.id = s.id;
    this.authId = s.authId;
  }

  get upid(): string {
    return this.s.task.upid;
  }

  get snapshotName(): string {
    const r = this.s.writer.ref;
    return `${r.type}/${r.id}/${r.time}`;
  }

  private get what(): string {
    return `backup of ${describeSnapshot(this.s.writer.ref)} to datastore ${this.s.store.name}`;
  }

  // ---- the base snapshot ----------------------------------------------------------------

  /** A file of the base snapshot; downloading an index adds its chunks to the allow-list. */
  previousFile(filename: string): Promise<Uint8Array> {
    return this.op(`file '${filename}' of the previous snapshot`, async () => {
      const prev = this.requirePrevious();
      if (!prev.manifest.files.some((f) => f.filename === filename)) {
        throw notFound(`file '${filename}' is not in the previous snapshot ${describeSnapshot(prev.ref)}`);
      }
      const bytes = await prev.reader.readFile(filename);
      if (isIndexFilename(filename)) {
        const index = parseChunkIndex(filename, bytes, `${snapshotKey(prev.ref)}/${filename}`);
        const added = this.fromPrevious.addIndex(index);
        this.s.task.ctx.log(`downloaded previous index ${filename}: ${index.chunkCount} chunks (${added} new to this session)`);
      }
      return bytes;
    });
  }

  /** A chunk named by a base-snapshot index this session downloaded. */
  previousChunk(digest: string): Promise<Uint8Array> {
    return this.op(chunkName(digest), async () => {
      this.requirePrevious();
      if (!this.fromPrevious.has(digest)) {
        throw forbidden(`${chunkName(digest)} is not referenced by an index of the previous snapshot that this session downloaded`, "chunk_not_allowed");
      }
      return readStoredChunk(this.s.store, digest);
    });
  }

  // ---- uploads ---------------------------------------------------------------------------

  uploadChunk(digest: string, blob: Uint8Array): Promise<void> {
    return this.op(chunkName(digest), async () => {
      // The header's kind byte is enough to refuse the wrong crypt mode; the full check (CRC of
      // the whole blob, and for unencrypted chunks the digest) is insertChunk's, so each upload
      // is hashed once, not twice (measured: CRC32 was 2 % of the server's CPU per pass).
      const encrypted = peekEncrypted(blob);
      if (encrypted !== undefined && encrypted !== (this.s.cryptMode === "encrypt")) {
        throw badRequest(
          `${chunkName(digest)} is ${encrypted ? "encrypted" : "not encrypted"}, but this session's crypt mode is ${this.s.cryptMode}`,
          "crypt_mode_mismatch",
        );
      }
      await this.s.store.insertChunk(digest, blob); // header, CRC, and for unencrypted chunks digest and size
      this.uploaded.add(digest);
      this.stats.chunks++;
      this.stats.chunkBytes += blob.length;
      this.s.task.ctx.progress(this.stats.chunkBytes, null, "B");
      // The request body is stored and nothing keeps it: freed now, not at the next collection.
      releaseBuffer(blob);
    });
  }

  uploadIndex(filename: string, bytes: Uint8Array): Promise<{ size: number; csum: string }> {
    return this.op(`index '${filename}'`, async () => {
      validateName(filename, "index");
      let index;
      try {
        index = parseChunkIndex(filename, bytes, filename);
      } catch (err) {
        if (err instanceof CorruptError) throw badRequest(err.message, "invalid_index");
        throw err;
      }
      let newlyReused = 0;
      for (let i = 0; i < index.chunkCount; i++) {
        const d = index.digestBytes(i);
        if (this.uploaded.hasBytes(d)) continue;
        if (!this.fromPrevious.hasBytes(d)) {
          const digest = Buffer.from(d).toString("hex");
          throw badRequest(
            `index '${filename}' entry ${i} references chunk ${digest}, which this session neither uploaded nor found in an index of the previous snapshot that it downloaded`,
            "unknown_chunk",
            "upload the chunk in this session, or download the previous snapshot's index that references it first",
          );
        }
        if (!this.reused.hasBytes(d)) {
          this.reused.add(Buffer.from(d).toString("hex"));
          newlyReused++;
        }
      }
      const entry = await this.s.writer.addFile(filename, bytes, this.s.cryptMode);
      this.stats.indexes++;
      this.s.task.ctx.log(`index ${filename}: ${index.chunkCount} chunks, ${index.size} bytes (${newlyReused} chunks reused from the previous snapshot)`);
      return { size: entry.size, csum: entry.csum };
    });
  }

  uploadBlob(filename: string, bytes: Uint8Array): Promise<{ size: number; csum: string }> {
    return this.op(`blob '${filename}'`, async () => {
      validateName(filename, "blob");
      const header = inspectBlob(bytes, filename);
      if (header.encrypted && this.s.cryptMode === "none") {
        throw badRequest(`blob '${filename}' is encrypted, but this session's crypt mode is none`, "crypt_mode_mismatch");
      }
      const entry = await this.s.writer.addFile(filename, bytes);
      this.stats.blobs++;
      return { size: entry.size, csum: entry.csum };
    });
  }

  // ---- the end -----------------------------------------------------------------------------

  /**
   * Checks the client's manifest against what was written and against the session, then
   * commits it last and atomically. A manifest that does not pass leaves the session open (the
   * client may send a corrected one or abort); a commit that fails aborts the session.
   */
  finish(manifestBlob: Uint8Array): Promise<FinishResult> {
    return this.op("the manifest", async () => {
      const manifest = this.checkManifest(manifestBlob);
      const warnings = clientWarnings(manifest);
      this.state = "finishing";
      try {
        await this.s.writer.commit({ manifest });
      } catch (err) {
        const mapped = storeError(err, this.s.store, "the manifest");
        await this.end(`commit failed: ${errorMessage(mapped)}`);
        throw mapped;
      }
      const ctx = this.s.task.ctx;
      ctx.log(
        `committed snapshot ${describeSnapshot(this.s.writer.ref)}: ${this.stats.indexes} indexes, ${this.stats.blobs} blobs; ` +
          `uploaded ${this.stats.chunks} chunks (${this.stats.chunkBytes} bytes), reused ${this.reused.size} chunks of the previous snapshot`,
      );
      if (warnings > 0) {
        const counted = Math.min(warnings, MAX_COUNTED_WARNINGS);
        ctx.warn(`the client reported ${warnings} warnings while reading its data (see the snapshot's client log)`);
        for (let i = 2; i <= counted; i++) ctx.warn(`client warning ${i} of ${warnings}`);
        if (counted < warnings) ctx.log(`only the first ${counted} client warnings are counted in the task result`);
      }
      const result = await this.end();
      return { snapshot: this.snapshotName, upid: this.upid, result };
    });
  }

  /** Client DELETE, `task abort`, a fatal store error. Nothing becomes visible. */
  abort(reason: string): Promise<void> {
    return this.end(reason).then(() => {});
  }

  expire(idleSec: number): Promise<void> {
    return this.abort(`backup session idle for ${idleSec} s (backup.session_timeout ${this.s.registry.timeoutSec} s): aborted, nothing was committed`);
  }

  close(reason: string): Promise<void> {
    return this.abort(reason);
  }

  abandon(reason: string): Promise<void> {
    return this.abort(`${reason}: aborted, nothing was committed`);
  }

  // ---- internals -------------------------------------------------------------------------

  /** Ends the session once: with `error` the writer is aborted and the task fails with it. */
  private async end(error?: string): Promise<string> {
    if (this.state === "ended") return "";
    this.state = "ended";
    this.s.registry.remove(this.id);
    if (error !== undefined) {
      try {
        await this.s.writer.abort();
      } catch (err) {
        this.s.log.error("aborting a backup writer failed", { snapshot: this.snapshotName, datastore: this.s.store.name, err: errorMessage(err) });
      }
      this.s.task.ctx.log(`aborted: ${error}`);
    }
    this.s.previous?.reader.release();
    const result = await this.s.task.end(error === undefined ? undefined : new Error(error));
    this.s.log.info("backup session ended", { upid: this.upid, datastore: this.s.store.name, snapshot: this.snapshotName, result });
    this.closeStoreWhenIdle();
    return result;
  }

  /** Runs one request: the session must be open; store errors map to client errors; fatal ones end the session. */
  private async op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.state !== "open") {
      throw conflict(`${this.what}: the session is ${this.state === "finishing" ? "committing its manifest" : "over"}; no more requests`, "session_closed");
    }
    this.active++;
    try {
      return await fn();
    } catch (err) {
      const mapped = storeError(err, this.s.store, what);
      if (this.state === "open" && isFatalForWriter(mapped)) await this.end(errorMessage(mapped));
      throw mapped;
    } finally {
      this.active--;
      this.closeStoreWhenIdle();
    }
  }

  private storeClosed = false;

  private closeStoreWhenIdle(): void {
    if (this.state !== "ended" || this.active > 0 || this.storeClosed) return;
    this.storeClosed = true;
    this.s.store.close();
  }

  private requirePrevious(): PreviousSnapshot {
    if (!this.s.previous) throw notFound(`${this.what} has no previous snapshot`, "no_previous");
    return this.s.previous;
  }

  private checkManifest(blob: Uint8Array): Manifest {
    const name = `manifest of ${describeSnapshot(this.s.writer.ref)}`;
    let manifest: Manifest;
    try {
      manifest = decodeManifest(blob, name);
    } catch (err) {
      throw badRequest(errorMessage(err), "invalid_manifest");
    }
    const encrypt = this.s.cryptMode === "encrypt";
    for (const f of manifest.files) {
      if (isIndexFilename(f.filename) && f.crypt_mode !== this.s.cryptMode) {
        throw badRequest(`${name}: lists index '${f.filename}' as '${f.crypt_mode}', but this session's crypt mode is ${this.s.cryptMode}`, "invalid_manifest");
      }
    }
    if (encrypt && manifest.key_fingerprint !== this.s.keyFingerprint) {
      throw badRequest(
        `${name}: names key fingerprint ${manifest.key_fingerprint ?? "(none)"}, but the session was opened with ${this.s.keyFingerprint}`,
        "invalid_manifest",
      );
    }
    if (!encrypt && manifest.files.some((f) => f.crypt_mode === "encrypt")) {
      throw badRequest(`${name}: lists encrypted files, but this session's crypt mode is none`, "invalid_manifest");
    }
    clientWarnings(manifest); // refuse a malformed count before anything is committed
    return manifest;
  }
}

/**
 * Whether a blob's header says it is encrypted, when the header is well-formed (magic, version,
 * a known kind); undefined otherwise, and inspectBlob then names what is wrong.
 */
function peekEncrypted(blob: Uint8Array): boolean | undefined {
  if (blob.length < PLAIN_HEADER_SIZE) return undefined;
  for (let i = 0; i < 4; i++) if (blob[i] !== BLOB_MAGIC[i]) return undefined;
  if (blob[4] !== BLOB_VERSION || blob[5]! > BlobKind.EncryptedZstd) return undefined;
  return blob[5]! >= BlobKind.Encrypted;
}

function validateName(filename: string, kind: "index" | "blob"): void {
  try {
    validateArchiveFilename(filename);
  } catch (err) {
    throw badRequest(errorMessage(err), "invalid_name");
  }
  if (kind === "index" && !isIndexFilename(filename)) throw badRequest(`'${filename}' is not an index file name (.fidx or .didx)`, "invalid_name");
  if (kind === "blob" && (!filename.endsWith(".blob") || filename === MANIFEST_FILENAME)) {
    throw badRequest(`'${filename}' is not a blob file name (.blob; ${MANIFEST_FILENAME} is sent with finish)`, "invalid_name");
  }
}

/** `unprotected.warnings`: how many warnings the client logged (docs/protocol.md). */
function clientWarnings(manifest: Manifest): number {
  const w = manifest.unprotected.warnings;
  if (w === undefined) return 0;
  if (typeof w !== "number" || !Number.isSafeInteger(w) || w < 0) {
    throw badRequest(`manifest field 'unprotected.warnings' must be a whole number of warnings, not ${JSON.stringify(w)}`, "invalid_manifest");
  }
  return w;
}
