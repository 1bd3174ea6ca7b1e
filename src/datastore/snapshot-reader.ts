/**
 * Reads one committed snapshot while holding a shared lock on it, so it cannot be forgotten
 * or pruned underneath a restore, a verify or a backup that uses it as its base. Every file is
 * checked against the manifest's size and SHA-256 before it is returned.
 */
import type { Backend } from "./backends/backend.ts";
import { decodeBlob, type KeyLookup } from "./blob.ts";
import { type ChunkIndex, isIndexFilename, parseChunkIndex } from "./chunk-index.ts";
import { sha256Hex } from "./digest.ts";
import { CorruptError, DatastoreError } from "./errors.ts";
import type { FileLock } from "./lock.ts";
import type { Manifest, ManifestFile } from "./manifest.ts";
import { describeSnapshot, type SnapshotRef, snapshotKey } from "./snapshot-path.ts";

export class SnapshotReader {
  constructor(
    readonly ref: SnapshotRef,
    readonly manifest: Manifest,
    private readonly backend: Backend,
    private readonly lock: FileLock | null,
  ) {}

  get files(): readonly ManifestFile[] {
    return this.manifest.files;
  }

  /** The stored bytes of a listed file, after size and checksum checks. */
  async readFile(filename: string): Promise<Uint8Array> {
    const entry = this.manifest.files.find((f) => f.filename === filename);
    const what = `${describeSnapshot(this.ref)}: file '${filename}'`;
    if (!entry) throw new DatastoreError(`snapshot ${what} is not in the manifest`, undefined, 2);
    const bytes = await this.backend.get(`${snapshotKey(this.ref)}/${filename}`).catch((err) => {
      if ((err as Error).name === "NotFoundError") throw new CorruptError(`snapshot ${what} is listed in the manifest but missing`, "run verify; restore the snapshot from a sync copy");
      throw err;
    });
    if (bytes.length !== entry.size) throw new CorruptError(`snapshot ${what}: size ${bytes.length} differs from the manifest's ${entry.size}`);
    const csum = sha256Hex(bytes);
    if (csum !== entry.csum) throw new CorruptError(`snapshot ${what}: SHA-256 ${csum.slice(0, 12)}… differs from the manifest's ${entry.csum.slice(0, 12)}…`);
    return bytes;
  }

  async openIndex(filename: string): Promise<ChunkIndex> {
    if (!isIndexFilename(filename)) throw new DatastoreError(`'${filename}' is not an index file (.fidx or .didx)`, undefined, 2);
    return parseChunkIndex(filename, await this.readFile(filename), `${snapshotKey(this.ref)}/${filename}`);
  }

  /** A .blob file decoded to its plaintext. */
  async readBlob(filename: string, keyLookup?: KeyLookup): Promise<Uint8Array> {
    return decodeBlob(await this.readFile(filename), { name: `${snapshotKey(this.ref)}/${filename}`, keyLookup });
  }

  release(): void {
    this.lock?.release();
  }
}
