/**
 * `ironcore-backup benchmark`: how fast each stage of the backup pipeline runs on this host,
 * to tell which one limits a backup: SHA-256 and HMAC-SHA256 (chunk digests), content-defined
 * chunking, zstd level 1 compress and decompress, AES-256-GCM encrypt and decrypt, and with a
 * repository the upload of chunks over TLS to the server.
 *
 * Like PBS's benchmark, the CPU stages use a deterministic buffer (little-endian u32 counter),
 * which zstd compresses very well; the upload uses random bytes, which it cannot.
 * Each stage runs for about `seconds` and reports MB/s (10^6 bytes per second of input).
 */
import { randomBytes } from "node:crypto";
import { encodeBlob, decodeBlob } from "../datastore/blob.ts";
import { chunkDigest } from "../datastore/digest.ts";
import { CdcChunker } from "../pipeline/chunker-cdc.ts";
import { BackupSession } from "./backup-session.ts";
import { CryptConfig } from "./crypt.ts";
import { Limiter } from "./limiter.ts";
import type { Transport } from "./transport.ts";

export interface StageResult {
  stage: string;
  mbPerSecond: number;
  bytes: number;
  seconds: number;
  note?: string;
}

const MiB = 1024 * 1024;

export function counterBuffer(size: number): Uint8Array {
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  for (let i = 0; i + 4 <= size; i += 4) v.setUint32(i, i / 4, true);
  return buf;
}

/** Runs `step` (which processes `bytesPerStep` bytes) until `seconds` have passed. */
export function measure(stage: string, bytesPerStep: number, seconds: number, step: () => void): StageResult {
  step(); // warm-up
  const start = performance.now();
  let bytes = 0;
  let elapsed = 0;
  do {
    step();
    bytes += bytesPerStep;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < seconds);
  return { stage, mbPerSecond: bytes / elapsed / 1e6, bytes, seconds: elapsed };
}

export function cpuStages(seconds = 1): StageResult[] {
  const buf = counterBuffer(4 * MiB);
  const key = randomBytes(32);
  const cipher = { keyId: 1, key: new Uint8Array(randomBytes(32)) };
  const lookup = (id: number) => (id === 1 ? cipher.key : undefined);
  const out: StageResult[] = [];
  out.push(measure("SHA-256 (chunk digest, unencrypted)", buf.byteLength, seconds, () => chunkDigest(buf)));
  out.push(measure("HMAC-SHA256 (chunk digest, encrypted)", buf.byteLength, seconds, () => chunkDigest(buf, key)));
  const random = new Uint8Array(randomBytes(32 * MiB));
  out.push(
    measure("content-defined chunking (256K/1M/4M)", random.byteLength, seconds, () => {
      const c = new CdcChunker();
      for (let at = 0; at < random.byteLength; at += 8 * MiB) c.push(random.subarray(at, at + 8 * MiB));
      c.finish();
    }),
  );
  out.push(measure("zstd level 1 compress", buf.byteLength, seconds, () => Bun.zstdCompressSync(buf, { level: 1 })));
  const z = Bun.zstdCompressSync(buf, { level: 1 });
  out.push(measure("zstd level 1 decompress", buf.byteLength, seconds, () => Bun.zstdDecompressSync(z)));
  out.push(measure("AES-256-GCM encrypt (blob)", random.byteLength / 8, seconds, () => encodeBlob(random.subarray(0, 4 * MiB), { compress: false, cipher })));
  const sealed = encodeBlob(random.subarray(0, 4 * MiB), { compress: false, cipher });
  out.push(measure("AES-256-GCM decrypt (blob)", 4 * MiB, seconds, () => decodeBlob(sealed, { keyLookup: lookup })));
  out.push(
    measure("chunk encode: zstd + AES-256-GCM (one thread)", buf.byteLength, seconds, () => encodeBlob(buf, { cipher })),
  );
  return out;
}

/**
 * Uploads random 4 MiB chunks for `seconds` in a backup session of `host/<backupId>` with
 * `parallel` requests in flight, then aborts the session: nothing becomes visible; the
 * uploaded chunks are unreferenced and go at the next GC.
 */
export async function uploadStage(
  t: Transport,
  o: { store: string; ns?: string; backupId?: string; seconds?: number; parallel?: number; crypt?: CryptConfig },
): Promise<StageResult> {
  const seconds = o.seconds ?? 3;
  const crypt = o.crypt ?? CryptConfig.none();
  const session = await BackupSession.start(t, {
    store: o.store,
    ns: o.ns,
    backupType: "host",
    backupId: o.backupId ?? "benchmark",
    cryptMode: crypt.mode,
    keyFingerprint: crypt.fingerprint,
  });
  try {
    const payload = new Uint8Array(randomBytes(4 * MiB));
    const view = new DataView(payload.buffer);
    const limiter = new Limiter(o.parallel ?? 8);
    const jobs = new Set<Promise<void>>();
    let bytes = 0;
    let n = 0;
    let failure: unknown;
    const start = performance.now();
    while ((performance.now() - start) / 1000 < seconds && failure === undefined) {
      await limiter.acquire();
      view.setUint32(0, n++, true); // every chunk distinct, so the server stores each
      const blob = encodeBlob(payload, { ...crypt.encodeOptions, compress: false });
      const digest = crypt.digest(payload);
      const job: Promise<void> = session
        .uploadChunk(digest, blob)
        .then(() => void (bytes += payload.byteLength))
        .catch((err) => void (failure ??= err))
        .finally(() => {
          limiter.release();
          jobs.delete(job);
        });
      jobs.add(job);
    }
    await Promise.all([...jobs]);
    if (failure) throw failure;
    const elapsed = (performance.now() - start) / 1000;
    return { stage: "TLS upload of 4 MiB chunks to the server", mbPerSecond: bytes / elapsed / 1e6, bytes, seconds: elapsed, note: `${o.parallel ?? 8} requests in flight` };
  } finally {
    await session.abort();
  }
}
