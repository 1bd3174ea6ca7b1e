/**
 * Conditional create on S3: whether the store honours `PUT` with `If-None-Match: *`, and the
 * fallback when it does not.
 *
 * Detection (once per opened backend, 3 requests): create a fresh probe key with the header,
 * create it again with the header. A store that honours it answers the second PUT with 412;
 * one that ignores it (s3rver, older Ceph/MinIO, some gateways) answers 200 and overwrites; one
 * that refuses the header (501 NotImplemented) is treated as ignoring it. The probe key is
 * deleted again.
 *
 * Fallback: HEAD, then PUT when absent, serialized per key stripe in this process and, through
 * a flock on `<cache dir>/locks/create-<nn>.lck`, between processes of this host. That is
 * exactly as strong as the conditional PUT under the single-writer-host rule (one host writes
 * a datastore; docs/formats.md "S3 key layout"): two hosts writing the same datastore could
 * both see "absent" and both PUT. For chunks that would be harmless anyway (the key is the
 * content's digest); for manifests the group lock already serializes writers on the host.
 */
import { join } from "node:path";
import { lockWithTimeout, type FileLock } from "../lock.ts";

export type ConditionalSupport = "honoured" | "ignored";

/** The probe object's key says what it is, should a crash leave it behind. */
export const CONDITIONAL_PROBE_PREFIX = ".ibs/conditional-create-probe-";

export interface ConditionalProbeOps {
  /** PUT with If-None-Match: *. Throws what the store answered, except 412 which is "exists". */
  createIfAbsent(key: string, bytes: Uint8Array): Promise<"created" | "exists">;
  remove(key: string): Promise<void>;
  isNotImplemented(err: unknown): boolean;
}

export async function detectConditionalCreate(ops: ConditionalProbeOps, suffix: string): Promise<ConditionalSupport> {
  const key = CONDITIONAL_PROBE_PREFIX + suffix;
  try {
    await ops.createIfAbsent(key, new TextEncoder().encode("first"));
    const second = await ops.createIfAbsent(key, new TextEncoder().encode("second"));
    return second === "exists" ? "honoured" : "ignored";
  } catch (err) {
    if (ops.isNotImplemented(err)) return "ignored";
    throw err;
  } finally {
    await ops.remove(key).catch(() => {});
  }
}

const STRIPES = 256;
const LOCK_TIMEOUT_MS = 60_000;

/**
 * Serializes creates of keys that fall into the same stripe: in this process with a promise
 * chain (no polling), across processes with a flock (only when a lock directory is given).
 */
export class CreateLocks {
  private readonly chains = new Map<number, Promise<void>>();

  constructor(private readonly lockDir: string | null) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const stripe = Bun.hash.crc32(key) % STRIPES;
    const previous = this.chains.get(stripe) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const chain = previous.then(() => mine);
    this.chains.set(stripe, chain);
    await previous;
    let lock: FileLock | null = null;
    try {
      if (this.lockDir) {
        const path = join(this.lockDir, `create-${stripe.toString(16).padStart(2, "0")}.lck`);
        lock = await lockWithTimeout(path, "exclusive", "s3 create-if-absent", LOCK_TIMEOUT_MS);
        if (!lock) throw new Error(`another process held ${path} for more than ${LOCK_TIMEOUT_MS / 1000} s`);
      }
      return await fn();
    } finally {
      lock?.release();
      done();
      if (this.chains.get(stripe) === chain) this.chains.delete(stripe);
    }
  }
}
