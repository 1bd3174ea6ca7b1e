/**
 * Content-addressed chunk store over a Backend: one object per chunk at
 * `.chunks/<first 4 hex>/<64 hex>`. Inserts are checked before they are accepted (header and
 * CRC always; decoded digest and size when the chunk is not encrypted, as the server holds no
 * keys), reads never return bytes that failed a check, and corrupt chunks are moved aside to
 * `<digest>.<n>.bad` (n = 0..9) so verify can report them and a new upload can heal the store.
 */
import type { Backend, ObjectStat } from "./backends/backend.ts";
import { type BlobHeader, BlobError, decodeBlob, ENCRYPTED_HEADER_SIZE, inspectBlob, type KeyLookup } from "./blob.ts";
import { isHexDigest, shortDigest } from "./digest.ts";
import { DatastoreError } from "./errors.ts";

export const CHUNK_PREFIX = ".chunks/";
/** Largest plaintext chunk accepted (PBS uses the same 16 MiB cap). */
export const DEFAULT_MAX_CHUNK_SIZE = 16 * 1024 * 1024;
const MAX_BAD_COPIES = 10;

const CHUNK_KEY = /^\.chunks\/([0-9a-f]{4})\/([0-9a-f]{64})$/;
const BAD_KEY = /^\.chunks\/([0-9a-f]{4})\/([0-9a-f]{64})\.(\d)\.bad$/;

export interface ChunkInsertResult {
  digest: string;
  /** false when the store already had the chunk (dedup); the stored copy is kept unchanged. */
  created: boolean;
  storedSize: number;
  encrypted: boolean;
}

export interface ChunkInsertOptions {
  /** Plaintext size the uploader claims; checked for unencrypted chunks. */
  size?: number;
}

export interface ChunkReadOptions {
  keyLookup?: KeyLookup;
  /** Needed to check the keyed digest of encrypted chunks; without it only CRC and GCM tag are checked. */
  digestKey?: Uint8Array;
}

export interface BadChunk {
  digest: string;
  copy: number;
  key: string;
  size: number;
}

export function chunkKey(digest: string): string {
  assertDigest(digest);
  return `${CHUNK_PREFIX}${digest.slice(0, 4)}/${digest}`;
}

export function chunkName(digest: string): string {
  return `chunk ${shortDigest(digest)}`;
}

export class ChunkStore {
  readonly maxChunkSize: number;

  constructor(
    readonly backend: Backend,
    options: { maxChunkSize?: number } = {},
  ) {
    this.maxChunkSize = options.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
  }

  /** Checks and stores an encoded chunk under its digest. Throws BlobError for bad input. */
  async insert(digest: string, blob: Uint8Array, options: ChunkInsertOptions = {}): Promise<ChunkInsertResult> {
    const header = this.checkUpload(digest, blob, options);
    const outcome = await this.backend.putIfAbsent(chunkKey(digest), blob);
    return { digest, created: outcome === "created", storedSize: blob.length, encrypted: header.encrypted };
  }

  async has(digest: string): Promise<boolean> {
    return (await this.backend.stat(chunkKey(digest))) !== null;
  }

  async stat(digest: string): Promise<ObjectStat | null> {
    return this.backend.stat(chunkKey(digest));
  }

  /** The stored (encoded) bytes after header and CRC checks: what is sent to a client. */
  async getRaw(digest: string): Promise<Uint8Array> {
    const blob = await this.backend.get(chunkKey(digest));
    inspectBlob(blob, chunkName(digest));
    return blob;
  }

  /** The decoded plaintext; its digest is checked whenever the keys allow. */
  async get(digest: string, options: ChunkReadOptions = {}): Promise<Uint8Array> {
    const blob = await this.backend.get(chunkKey(digest));
    const name = chunkName(digest);
    const header = inspectBlob(blob, name);
    const canCheckDigest = !header.encrypted || options.digestKey !== undefined;
    return decodeBlob(blob, {
      name,
      keyLookup: options.keyLookup,
      digestKey: options.digestKey,
      expectedDigest: canCheckDigest ? digest : undefined,
      maxDecodedSize: this.maxChunkSize,
    });
  }

  async remove(digests: readonly string[]): Promise<void> {
    await this.backend.delete(digests.map(chunkKey));
  }

  /**
   * Moves a corrupt chunk aside to `<digest>.<n>.bad` (first free n of 0..9; .9 is reused when
   * all are taken), by copy and delete since backends have no rename. Returns the new key, or
   * null when the chunk is already gone.
   */
  async markBad(digest: string): Promise<string | null> {
    const key = chunkKey(digest);
    let bytes: Uint8Array;
    try {
      bytes = await this.backend.get(key);
    } catch (err) {
      if ((err as Error).name === "NotFoundError") return null;
      throw err;
    }
    let target = `${key}.${MAX_BAD_COPIES - 1}.bad`;
    let placed = false;
    for (let n = 0; n < MAX_BAD_COPIES && !placed; n++) {
      const candidate = `${key}.${n}.bad`;
      if ((await this.backend.putIfAbsent(candidate, bytes)) === "created") {
        target = candidate;
        placed = true;
      }
    }
    if (!placed) await this.backend.put(target, bytes);
    await this.backend.delete([key]);
    return target;
  }

  /** Every good chunk, in digest order. */
  async *list(): AsyncIterable<{ digest: string; size: number }> {
    for await (const entry of this.backend.list(CHUNK_PREFIX)) {
      const m = CHUNK_KEY.exec(entry.key);
      if (m && m[2]!.startsWith(m[1]!)) yield { digest: m[2]!, size: entry.size };
    }
  }

  /** Every chunk copy moved aside by markBad. */
  async *listBad(): AsyncIterable<BadChunk> {
    for await (const entry of this.backend.list(CHUNK_PREFIX)) {
      const m = BAD_KEY.exec(entry.key);
      if (m && m[2]!.startsWith(m[1]!)) yield { digest: m[2]!, copy: Number(m[3]), key: entry.key, size: entry.size };
    }
  }

  private checkUpload(digest: string, blob: Uint8Array, options: ChunkInsertOptions): BlobHeader {
    const name = chunkName(digest);
    if (blob.length > this.maxChunkSize + ENCRYPTED_HEADER_SIZE) {
      throw new BlobError(name, "too-large", `upload of ${blob.length} bytes exceeds the chunk limit of ${this.maxChunkSize} bytes`);
    }
    const header = inspectBlob(blob, name);
    if (header.encrypted) return header; // no key on the server: CRC is all we can check
    const plaintext = decodeBlob(blob, { name, expectedDigest: digest, maxDecodedSize: this.maxChunkSize });
    if (options.size !== undefined && plaintext.length !== options.size) {
      throw new BlobError(name, "size", `size mismatch (claimed ${options.size} bytes, decoded ${plaintext.length})`);
    }
    return header;
  }
}

function assertDigest(digest: string): void {
  if (!isHexDigest(digest)) {
    throw new DatastoreError(`invalid chunk digest '${String(digest).slice(0, 80)}': expected 64 lowercase hex digits`, undefined, 2);
  }
}
