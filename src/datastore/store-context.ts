/**
 * What the namespace, group and snapshot stores share, and the bracket every operation that
 * changes files and catalog together goes through (catalog pending_ops, see catalog/schema.ts).
 */
import { ALLOW_ALL, type AccessGuard } from "./access.ts";
import type { Backend } from "./backends/backend.ts";
import type { Catalog, PendingOpKind } from "./catalog/catalog.ts";
import type { ChunkStore } from "./chunk-store.ts";
import { LockedError } from "./errors.ts";
import { describeHolder, type FileLock, lockWithTimeout, type LockMode, tryLock } from "./lock.ts";
import type { LockPaths } from "./lock-paths.ts";

/** Atomic "stored, and now touched" answers for chunks a writer will reference (Datastore.hasChunks). */
export type ChunkClaimer = (digests: readonly string[]) => Promise<boolean[]>;

export interface StoreContextOptions {
  backend: Backend;
  chunks: ChunkStore;
  locks: LockPaths;
  catalog?: Catalog;
  guard?: AccessGuard;
  /** How commits check their chunks; without it: catalog row or backend stat (no GC protection). */
  claimChunks?: ChunkClaimer;
  /** Called before an operation that frees space writes anything (Datastore: its space reserve). */
  makeRoom?: () => void;
}

export interface LockRefusal {
  what: string;
  why?: string;
  hint: string;
  timeoutMs?: number;
}

export class StoreContext {
  readonly backend: Backend;
  readonly chunks: ChunkStore;
  readonly locks: LockPaths;
  readonly catalog?: Catalog;
  readonly guard: AccessGuard;
  readonly claimChunks?: ChunkClaimer;
  readonly makeRoom: () => void;

  constructor(options: StoreContextOptions) {
    this.backend = options.backend;
    this.chunks = options.chunks;
    this.locks = options.locks;
    this.catalog = options.catalog;
    this.guard = options.guard ?? ALLOW_ALL;
    this.claimChunks = options.claimChunks;
    this.makeRoom = options.makeRoom ?? (() => {});
  }

  /**
   * Records the operation as pending, runs it, and clears the record when it succeeded. A
   * record left behind (crash, or an error half-way) is settled by recovery.
   */
  async tracked<T>(kind: PendingOpKind, path: string, fn: () => Promise<T>): Promise<T> {
    this.catalog?.beginOp(kind, path);
    const result = await fn();
    this.catalog?.endOp(kind, path);
    return result;
  }

  /**
   * Takes a lock or throws LockedError: "<what> is locked by <holder>[: <why>]". Waits up to
   * `timeoutMs` (default: not at all).
   */
  async lockOrThrow(path: string, mode: LockMode, purpose: string, refusal: LockRefusal): Promise<FileLock> {
    const timeout = refusal.timeoutMs ?? 0;
    const lock = timeout > 0 ? await lockWithTimeout(path, mode, purpose, timeout) : await tryLock(path, mode, purpose);
    if (!lock) throw new LockedError(`${refusal.what} is locked by ${describeHolder(path)}${refusal.why ? `: ${refusal.why}` : ""}`, refusal.hint);
    return lock;
  }

  /** All keys under a prefix (which should end in "/"). */
  async keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const { key } of this.backend.list(prefix)) keys.push(key);
    return keys;
  }

  async readText(key: string, firstLine = true): Promise<string | null> {
    try {
      const text = new TextDecoder().decode(await this.backend.get(key));
      return firstLine ? (text.split("\n")[0] ?? "").trim() : text;
    } catch (err) {
      if ((err as Error).name === "NotFoundError") return null;
      throw err;
    }
  }
}

/** Runs `fn` with all `locks` held, releasing them afterwards in reverse order. */
export async function withLocks<T>(locks: FileLock[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const lock of [...locks].reverse()) lock.release();
  }
}
