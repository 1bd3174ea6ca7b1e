/**
 * Room to clean up a full datastore: `.ibs/reserve`, a file of RESERVE_BYTES kept on the
 * datastore's filesystem. When backups (or anything else) fill that filesystem, forget, prune
 * and GC still have to write before they can delete: a pending-operation row and a lock file
 * for each forget, GC's bookkeeping. Without room even those fail, and nothing can be removed
 * (PBS's "pending removals" on a full disk). So the operations that free space first give the
 * reserve back when the filesystem is nearly full (releaseIfLow), and it is taken again once
 * there is room for it twice over (ensure: at open, and after GC).
 *
 * The file holds random bytes: zeros would be stored as nothing by a compressing filesystem
 * (ZFS, btrfs) or a thin pool, and so reserve nothing. For an S3 datastore it holds space on
 * the local disk, where the catalog lives.
 */
import { randomBytes } from "node:crypto";
import { rmSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const RESERVE_BYTES = 8 * 1024 * 1024;
/** On a filesystem smaller than this (a test's tmpfs) no reserve is kept: it would be too large a share. */
const MIN_FILESYSTEM_BYTES = 4 * RESERVE_BYTES;

export type ReserveState = "held" | "given back" | "not kept";

export class SpaceReserve {
  readonly path: string;

  constructor(private readonly datastoreDir: string) {
    this.path = join(datastoreDir, ".ibs", "reserve");
  }

  /** The datastore filesystem's size and what an unprivileged writer can still use (as df). */
  private filesystem(): { total: number; available: number } {
    const s = statfsSync(this.datastoreDir);
    const block = (s as { frsize?: number }).frsize || s.bsize;
    return { total: s.blocks * block, available: s.bavail * block };
  }

  /** Whether the filesystem is large enough for a reserve at all. */
  applies(): boolean {
    try {
      return this.filesystem().total >= MIN_FILESYSTEM_BYTES;
    } catch {
      return false;
    }
  }

  /** A reserve of the full size is held; a shorter file (a write cut short) counts as none. */
  get held(): boolean {
    try {
      return statSync(this.path).size === RESERVE_BYTES;
    } catch {
      return false;
    }
  }

  /** Held; given back (on a full filesystem, or not yet taken); or not kept (a filesystem too small for one). */
  get state(): ReserveState {
    return this.held ? "held" : this.applies() ? "given back" : "not kept";
  }

  /**
   * No reserve, and no room to set it aside again: the filesystem is full, and a new backup
   * would take the room that forget and GC need (backup-start.ts refuses it). A reserve that
   * could not be written for another reason (a read-only .ibs/, permissions) does not count.
   */
  get exhausted(): boolean {
    try {
      if (this.held) return false;
      const fs = this.filesystem();
      return fs.total >= MIN_FILESYSTEM_BYTES && fs.available < 2 * RESERVE_BYTES;
    } catch {
      return false;
    }
  }

  /** Takes the reserve when it is missing and the filesystem has room for it twice over. Never throws. */
  ensure(): boolean {
    try {
      if (this.held) return false;
      const fs = this.filesystem();
      if (fs.total < MIN_FILESYSTEM_BYTES || fs.available < 2 * RESERVE_BYTES) return false;
      writeFileSync(this.path, randomBytes(RESERVE_BYTES), { mode: 0o600 });
      return true;
    } catch {
      rmSync(this.path, { force: true }); // a part-written reserve would only hold space
      return false;
    }
  }

  /** Gives the reserve back when less than its size is left; says whether it did. */
  releaseIfLow(): boolean {
    try {
      if (this.filesystem().available >= RESERVE_BYTES) return false;
      const had = this.held;
      rmSync(this.path, { force: true }); // a short leftover too: it only holds space
      return had;
    } catch {
      return false;
    }
  }
}
