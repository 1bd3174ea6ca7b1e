/**
 * The storage backend interface: what the datastore needs from a place that keeps bytes under
 * keys. Small enough that a local filesystem and S3 both fit without pretending: no rename, no
 * atime, no directories (a "directory" is only a key prefix). Every backend passes
 * test/unit/datastore/backend-conformance.ts.
 *
 * Keys are relative, "/"-separated strings, e.g. ".chunks/ab12/ab12…" or "vm/100/<time>/index.json.blob".
 */
import { IbsError } from "../../util/errors.ts";

export interface ObjectStat {
  size: number;
  mtimeMs: number;
}

export interface ListEntry {
  key: string;
  size: number;
}

export interface Backend {
  /** Short description for messages, e.g. "local /srv/store" or "s3 bucket/prefix". */
  readonly description: string;
  /** Whole object. Throws NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /** `length` bytes from `offset` (fewer at the end of the object). Throws NotFoundError. */
  getRange?(key: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Creates the object only when the key is absent; durable when it returns "created". Of any
   * number of racing callers exactly one gets "created"; an existing object is never changed.
   */
  putIfAbsent(key: string, bytes: Uint8Array): Promise<"created" | "exists">;
  /** Creates or atomically replaces: readers see the old or the new bytes, never a mix. Durable on return. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Size and modification time, or null when absent. */
  stat(key: string): Promise<ObjectStat | null>;
  /**
   * Every object whose key starts with `prefix` (plain string prefix, as S3), in ascending
   * key order; pagination happens inside. A prefix need not be a valid key ("" lists everything).
   */
  list(prefix: string): AsyncIterable<ListEntry>;
  /** Deletes a batch of keys; absent keys are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Removes the temp files of writes that never finished (a writer killed mid-write) last
   * modified before `cutoffMs` (epoch ms). Only backends that write through temp files have it.
   */
  removeStaleTemp?(cutoffMs: number): Promise<{ files: number; bytes: number }>;
}

/** The object does not exist. */
export class NotFoundError extends IbsError {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`${where}: object '${key}' not found`);
    this.name = "NotFoundError";
  }
}

/** A key broke the key rules; this is a bug or hostile input, never a storage failure. */
export class InvalidKeyError extends IbsError {
  constructor(key: string, why: string) {
    super(`invalid backend key ${JSON.stringify(key)}: ${why}`, 2);
    this.name = "InvalidKeyError";
  }
}

export const MAX_KEY_LENGTH = 1024; // S3's limit, in bytes

/** Throws InvalidKeyError unless `key` is a relative, normalized, "/"-separated key. */
export function validateKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new InvalidKeyError(String(key), "empty key");
  if (Buffer.byteLength(key) > MAX_KEY_LENGTH) throw new InvalidKeyError(key.slice(0, 40) + "…", `longer than ${MAX_KEY_LENGTH} bytes`);
  if (key.startsWith("/")) throw new InvalidKeyError(key, "must not start with '/'");
  if (key.endsWith("/")) throw new InvalidKeyError(key, "must not end with '/'");
  // Control characters include NUL; they break file systems, logs and S3 XML listings alike.
  if (/[\x00-\x1f\x7f]/.test(key)) throw new InvalidKeyError(key, "contains a control character (NUL, newline, ...)");
  if (key.includes("\\")) throw new InvalidKeyError(key, "contains a backslash");
  for (const segment of key.split("/")) {
    if (segment === "") throw new InvalidKeyError(key, "has an empty segment ('//')");
    if (segment === "." || segment === "..") throw new InvalidKeyError(key, `has a '${segment}' segment`);
  }
}

/** Prefixes may be "" or end in a partial segment, but must not escape or hold control characters. */
export function validatePrefix(prefix: string): void {
  if (prefix === "") return;
  if (prefix.startsWith("/")) throw new InvalidKeyError(prefix, "prefix must not start with '/'");
  if (/[\x00-\x1f\x7f\\]/.test(prefix)) throw new InvalidKeyError(prefix, "prefix contains a control character or backslash");
  const segments = prefix.split("/");
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "" && !last) throw new InvalidKeyError(prefix, "prefix has an empty segment ('//')");
    if (!last && (segment === "." || segment === "..")) throw new InvalidKeyError(prefix, `prefix has a '${segment}' segment`);
  });
}

/** The storage failed (disk full, permission denied, network): names backend, operation and key. */
export class BackendIoError extends IbsError {
  constructor(
    where: string,
    op: string,
    key: string,
    readonly cause: unknown,
  ) {
    super(`${where}: ${op} '${key}': ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "BackendIoError";
  }

  get code(): string | undefined {
    return (this.cause as NodeJS.ErrnoException | undefined)?.code;
  }
}
