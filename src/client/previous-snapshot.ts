/**
 * What a backup takes from the previous snapshot of its group (docs/protocol.md: `previous`,
 * `previous-chunk`): the indexes of the same archives, whose chunks the session may then
 * reference without uploading them (dedup), and for file trees the metadata stream, read
 * through a forward cursor to tell which files are unchanged (change detection by metadata).
 *
 * The previous snapshot is only used when it was made with the same key (or both unencrypted):
 * chunk names differ between keys, so nothing would match.
 */
import { createPreviousLookup, type PreviousLookupStats } from "../archive/previous.ts";
import { ArchiveReader } from "../archive/reader.ts";
import type { PreviousLookup } from "../archive/reuse.ts";
import { DynamicIndex } from "../datastore/dynamic-index.ts";
import { FixedIndex } from "../datastore/fixed-index.ts";
import { type Manifest, verifyManifestSignature } from "../datastore/manifest.ts";
import { imageFile, metadataFile, payloadFile } from "./archive-spec.ts";
import { type ImageStat, imageStatFile, parseImageStat } from "./image-stat.ts";
import type { BackupSession, PreviousSnapshot } from "./backup-session.ts";
import { ChunkFetcher, type DecodeChunk } from "./chunk-fetcher.ts";
import type { CryptConfig } from "./crypt.ts";
import { IndexedStream } from "./indexed-stream.ts";
import { checkAgainstManifest, manifestEntry } from "./snapshot-files.ts";
import type { ChunkUploader } from "./upload-pipeline.ts";
import { releaseBuffer } from "../util/release-buffer.ts";

/** Why a previous snapshot cannot serve this backup, or undefined when it can. */
export function previousUnusable(previous: PreviousSnapshot, crypt: CryptConfig): string | undefined {
  const m = previous.manifest;
  const encrypted = m.files.some((f) => f.crypt_mode === "encrypt");
  if (crypt.mode === "none") return encrypted ? "it is encrypted and this backup is not" : undefined;
  if (!encrypted) return "it is not encrypted and this backup is";
  if (m.key_fingerprint !== crypt.fingerprint) return `it was made with key ${m.key_fingerprint}, this backup uses ${crypt.fingerprint}`;
  try {
    verifyManifestSignature(m, crypt.signKey!, `manifest of ${previous.time}`);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

export interface PreviousImage {
  index: FixedIndex;
  /** The image file's stat when the previous backup read it (absent: read the image). */
  stat?: ImageStat;
}

export class PreviousSnapshotFiles {
  private readonly fetcher: ChunkFetcher;

  constructor(
    private readonly session: BackupSession,
    private readonly manifest: Manifest,
    private readonly crypt: CryptConfig,
    private readonly uploader: ChunkUploader,
  ) {
    // The previous metadata stream is read once, forward (tree() drops each chunk once passed).
    this.fetcher = new ChunkFetcher((d) => session.previousChunk(d), crypt, { cacheBytes: 16 * 1024 * 1024, decode: decodeAndFree(crypt) });
  }

  /** Bytes of previous chunks fetched (metadata streams). */
  get fetchedBytes(): number {
    return this.fetcher.stats.wireBytes;
  }

  private async index(filename: string): Promise<Uint8Array | undefined> {
    const entry = manifestEntry(this.manifest, filename);
    if (!entry) return undefined;
    const bytes = await this.session.previousFile(filename);
    return checkAgainstManifest(entry, bytes, `previous snapshot ${this.session.previous?.time}`);
  }

  /**
   * The previous image index of this archive (its chunks become known to the session) and, when
   * that snapshot recorded one, the image file's stat (image-stat.ts) for change detection.
   */
  async image(name: string, changeDetection: boolean): Promise<PreviousImage | undefined> {
    const file = imageFile(name);
    const bytes = await this.index(file);
    if (!bytes) return undefined;
    const index = FixedIndex.parse(bytes, `previous ${file}`);
    this.uploader.addKnown(index.digests());
    if (!changeDetection) return { index };
    const statName = imageStatFile(name);
    const entry = manifestEntry(this.manifest, statName);
    if (!entry) return { index };
    const blob = checkAgainstManifest(entry, await this.session.previousFile(statName), `previous snapshot ${this.session.previous?.time}`);
    return { index, stat: parseImageStat(this.crypt.decodeFile(blob, `previous ${statName}`)) };
  }

  /**
   * The previous file tree: both indexes (their chunks become known), and with `changeDetection`
   * a lookup over the metadata stream that tells which files are unchanged.
   */
  async tree(name: string, changeDetection: boolean): Promise<{ lookup?: PreviousLookup & { stats: PreviousLookupStats }; payload: DynamicIndex } | undefined> {
    const mFile = metadataFile(name);
    const pFile = payloadFile(name);
    if (!manifestEntry(this.manifest, mFile) || !manifestEntry(this.manifest, pFile)) return undefined;
    const meta = DynamicIndex.parse((await this.index(mFile))!, `previous ${mFile}`);
    const payload = DynamicIndex.parse((await this.index(pFile))!, `previous ${pFile}`);
    this.uploader.addKnown(meta.digests());
    this.uploader.addKnown(payload.digests());
    if (!changeDetection) return { payload };
    // Read once, forward, by the lookup's cursor: 2 MiB ahead keeps it fed (it consumes ~15 MiB/s
    // of metadata), and each chunk is dropped once passed, so a tree of millions of files holds a
    // few MiB of its previous metadata, not the 8 MiB window plus a 16 MiB LRU.
    const metaStream = new IndexedStream(meta, this.fetcher, { readAheadBytes: 2 * 1024 * 1024, passedChunks: "drop" });
    metaStream.setPlan([]); // ArchiveReader.open reads the header and the trailer first, off the plan
    // The payload is not read for change detection, except its start and tail records, which
    // ArchiveReader.open checks to pair the two streams.
    const payloadStream = new IndexedStream(payload, this.fetcher, { readAheadBytes: 0 });
    const reader = await ArchiveReader.open(metaStream, payloadStream);
    metaStream.setPlan(Array.from({ length: meta.chunkCount }, (_, i) => i));
    return { lookup: createPreviousLookup(reader), payload };
  }
}

/**
 * Decodes a previous chunk on this thread and frees its blob at once: the bytes of
 * `previousChunk` are a fresh download of ours alone. Left to the collector, the blobs of the
 * previous metadata stream were part of the garbage a tree walk piles up between collections.
 * A plaintext that is a view of its blob (stored uncompressed and unencrypted) keeps it.
 */
function decodeAndFree(crypt: CryptConfig): DecodeChunk {
  return async (blob, digest) => {
    const plaintext = crypt.decodeChunk(blob, digest);
    if (plaintext.buffer !== blob.buffer) releaseBuffer(blob);
    return plaintext;
  };
}
