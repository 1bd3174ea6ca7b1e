/**
 * Writes one snapshot. Files go straight to their final keys in the snapshot's directory; the
 * snapshot becomes visible only when commit() writes `index.json.blob`, last, with a
 * conditional create, after every listed file is durable and every chunk the indexes reference
 * is present. Until then listings skip the directory (no manifest = not a snapshot), and the
 * leftovers of a writer that died are removed by the next writer of the group or by recovery.
 *
 * commit() and abort() both end the writer and release its locks; a failed commit aborts.
 *
 * GC safety: the writer's epoch (catalog `writers` row, registered by SnapshotStore.begin)
 * lives until commit or abort, and commit claims every chunk the indexes reference before the
 * manifest is written. A claim touches the chunk atomically, so GC cannot remove it any more;
 * a chunk GC condemned before the claim makes the commit fail instead of losing data.
 */
import type { Backend } from "./backends/backend.ts";
import { inspectBlob } from "./blob.ts";
import type { Catalog, IndexFileInfo } from "./catalog/catalog.ts";
import { type ChunkIndex, isIndexFilename, parseChunkIndex } from "./chunk-index.ts";
import type { ChunkStore } from "./chunk-store.ts";
import { sha256Hex, shortDigest } from "./digest.ts";
import type { AccessGuard } from "./access.ts";
import { DatastoreError } from "./errors.ts";
import type { FileLock } from "./lock.ts";
import type { ChunkClaimer } from "./store-context.ts";
import { createManifest, type CryptMode, describeFile, encodeManifest, type Manifest, type ManifestFile, type Unprotected, verifyManifestSignature } from "./manifest.ts";
import { describeSnapshot, MANIFEST_FILENAME, type SnapshotRef, snapshotKey, validateArchiveFilename } from "./snapshot-path.ts";

export interface CommitOptions {
  /** A manifest the client built (and signed); it must describe exactly the files written. */
  manifest?: Manifest;
  /** Otherwise the manifest is built here: key fingerprint and HMAC key for encrypted snapshots. */
  keyFingerprint?: string;
  signKey?: Uint8Array;
  /** Server-side fields merged into `unprotected` (upload stats, notes). */
  unprotected?: Unprotected;
  /** Check that every chunk the indexes reference is stored (default true). */
  checkChunks?: boolean;
}

interface WrittenFile {
  entry: ManifestFile;
  /** Crypt mode the server could establish itself (blobs); indexes take the client's word. */
  knownMode: CryptMode | null;
  index?: ChunkIndex;
}

export interface WriterContext {
  backend: Backend;
  chunks: ChunkStore;
  catalog?: Catalog;
  guard: AccessGuard;
  locks: FileLock[];
  /** Claims chunks for the commit check (Datastore.hasChunks); see the file comment. */
  claimChunks?: ChunkClaimer;
  /** Catalog `writers` row of this session, removed when the writer ends. */
  writerEpoch?: number;
}

export class SnapshotWriter {
  private readonly files = new Map<string, WrittenFile>();
  private state: "open" | "committed" | "aborted" = "open";
  private readonly prefix: string;

  constructor(
    readonly ref: SnapshotRef,
    private readonly ctx: WriterContext,
  ) {
    this.prefix = `${snapshotKey(ref)}/`;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /**
   * Stores an index (.fidx/.didx) or blob (.blob) durably. Indexes must parse; blobs must pass
   * header and CRC checks. `cryptMode` defaults to what a blob's header says, or "none".
   */
  async addFile(filename: string, bytes: Uint8Array, cryptMode?: CryptMode): Promise<ManifestFile> {
    this.assertOpen("add a file to");
    this.ctx.guard.assert("write", `write to ${describeSnapshot(this.ref)}`);
    validateArchiveFilename(filename);
    if (this.files.has(filename)) throw new DatastoreError(`snapshot ${describeSnapshot(this.ref)}: file '${filename}' was already added`);
    const path = this.prefix + filename;
    let index: ChunkIndex | undefined;
    let knownMode: CryptMode | null = null;
    if (isIndexFilename(filename)) {
      index = parseChunkIndex(filename, bytes, path);
    } else {
      const header = inspectBlob(bytes, path);
      knownMode = header.encrypted ? "encrypt" : cryptMode === "sign-only" ? "sign-only" : "none";
      if (cryptMode && cryptMode !== knownMode) {
        throw new DatastoreError(`${path}: declared crypt mode '${cryptMode}' but the blob is ${header.encrypted ? "encrypted" : "not encrypted"}`);
      }
    }
    const entry = describeFile(filename, bytes, knownMode ?? cryptMode ?? "none");
    await this.ctx.backend.put(path, bytes);
    this.files.set(filename, { entry, knownMode, index });
    return entry;
  }

  /** Makes the snapshot visible. Returns the manifest written. */
  async commit(options: CommitOptions = {}): Promise<Manifest> {
    this.assertOpen("commit");
    const what = describeSnapshot(this.ref);
    let manifestWritten = false;
    try {
      this.ctx.guard.assert("write", `commit ${what}`);
      if (this.files.size === 0) throw new DatastoreError(`snapshot ${what}: no files were added; nothing to commit`);
      const manifest = options.manifest ? this.checkClientManifest(options.manifest, options) : this.buildManifest(options);
      if (options.checkChunks !== false) await this.checkChunksPresent();
      const bytes = encodeManifest(manifest);
      // Conditional create: one PUT on S3, link() locally. "exists" means someone else
      // committed this time already, which the group lock should have made impossible.
      if ((await this.ctx.backend.putIfAbsent(this.prefix + MANIFEST_FILENAME, bytes)) === "exists") {
        throw new DatastoreError(`snapshot ${what} was committed by someone else meanwhile`);
      }
      manifestWritten = true;
      this.state = "committed";
      this.ctx.catalog?.putSnapshot({
        ref: this.ref,
        manifest,
        manifestCsum: sha256Hex(bytes),
        protected: false,
        indexes: this.indexInfo(),
      });
      this.ctx.catalog?.endOp("snapshot", snapshotKey(this.ref));
      return manifest;
    } catch (err) {
      if (!manifestWritten) await this.abort();
      throw err;
    } finally {
      this.releaseLocks();
    }
  }

  /** Removes what was written and releases the locks. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    try {
      const keys: string[] = [];
      for await (const entry of this.ctx.backend.list(this.prefix)) keys.push(entry.key);
      await this.ctx.backend.delete(keys);
      this.ctx.catalog?.endOp("snapshot", snapshotKey(this.ref));
    } finally {
      this.releaseLocks();
    }
  }

  private buildManifest(options: CommitOptions): Manifest {
    return createManifest(
      {
        snapshot: this.ref,
        files: [...this.files.values()].map((f) => f.entry),
        keyFingerprint: options.keyFingerprint,
        unprotected: options.unprotected,
      },
      options.signKey,
    );
  }

  private checkClientManifest(manifest: Manifest, options: CommitOptions): Manifest {
    const what = `manifest of ${describeSnapshot(this.ref)}`;
    const fail = (why: string) => new DatastoreError(`${what}: ${why}`, "the client sent a manifest that does not match the uploaded files; retry the backup");
    if (manifest.backup_type !== this.ref.type || manifest.backup_id !== this.ref.id || manifest.backup_time !== this.ref.time) {
      throw fail(`names ${manifest.backup_type}/${manifest.backup_id}/${manifest.backup_time}`);
    }
    const listed = new Set(manifest.files.map((f) => f.filename));
    for (const name of this.files.keys()) if (!listed.has(name)) throw fail(`does not list uploaded file '${name}'`);
    for (const f of manifest.files) {
      const written = this.files.get(f.filename);
      if (!written) throw fail(`lists '${f.filename}', which was not uploaded`);
      if (written.entry.size !== f.size || written.entry.csum !== f.csum) throw fail(`size or checksum of '${f.filename}' differs from the uploaded file`);
      if (written.knownMode && written.knownMode !== f.crypt_mode) throw fail(`says '${f.filename}' is '${f.crypt_mode}', the stored blob is '${written.knownMode}'`);
    }
    if (manifest.files.some((f) => f.crypt_mode !== "none") && (!manifest.signature || !manifest.key_fingerprint)) {
      throw fail("lists encrypted or signed files but carries no signature or key fingerprint");
    }
    if (options.signKey) verifyManifestSignature(manifest, options.signKey, what);
    return { ...manifest, unprotected: { ...manifest.unprotected, ...options.unprotected } };
  }

  private async checkChunksPresent(): Promise<void> {
    const seen = new Set<string>();
    const batch: { digest: string; filename: string }[] = [];
    const flush = async () => {
      const answers = await this.claim(batch.map((b) => b.digest));
      const missing = answers.indexOf(false);
      if (missing >= 0) {
        const { digest, filename } = batch[missing]!;
        throw new DatastoreError(
          `snapshot ${describeSnapshot(this.ref)}: index '${filename}' references chunk ${shortDigest(digest)} which is not in the datastore; not committing`,
          "upload the missing chunks, or run the backup again",
        );
      }
      batch.length = 0;
    };
    for (const [filename, file] of this.files) {
      if (!file.index) continue;
      for (const digest of file.index.digests()) {
        if (seen.has(digest)) continue;
        seen.add(digest);
        batch.push({ digest, filename });
        if (batch.length >= 1024) await flush();
      }
    }
    if (batch.length) await flush();
  }

  private async claim(digests: string[]): Promise<boolean[]> {
    if (this.ctx.claimChunks) return this.ctx.claimChunks(digests);
    const answers: boolean[] = [];
    // The catalog answers for almost every chunk; the backend is asked only when it does not know.
    for (const d of digests) answers.push(this.ctx.catalog?.hasChunk(d) || (await this.ctx.chunks.has(d)));
    return answers;
  }

  private indexInfo(): Map<string, IndexFileInfo> {
    const info = new Map<string, IndexFileInfo>();
    for (const [name, f] of this.files) if (f.index) info.set(name, { logicalSize: f.index.size, chunkCount: f.index.chunkCount });
    return info;
  }

  private releaseLocks(): void {
    for (const lock of this.ctx.locks) lock.release();
    if (this.ctx.writerEpoch !== undefined) {
      this.ctx.catalog?.unregisterWriter(this.ctx.writerEpoch); // after the catalog shows the commit
      this.ctx.writerEpoch = undefined;
    }
  }

  private assertOpen(action: string): void {
    if (this.state !== "open") throw new DatastoreError(`cannot ${action} snapshot ${describeSnapshot(this.ref)}: its writer is already ${this.state}`);
  }
}
