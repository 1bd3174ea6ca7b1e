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

export class SpaceReserve {
  readonly path: string;

  constructor(private readonly datastoreDir: string) {
    this.path = join(datastoreDir, ".ibs", "reserve");
  }

  /** Bytes an unprivileged writer can still use on the datastore's filesystem (as df). */
  availableBytes(): number {
    const s = statfsSync(this.datastoreDir);
    return s.bavail * ((s as { frsize?: number }).frsize || s.bsize);
  }

  /** Whether the filesystem is large enough for a reserve at all. */
  applies(): boolean {
    try {
      const s = statfsSync(this.datastoreDir);
      return s.blocks * ((s as { frsize?: number }).frsize || s.bsize) >= MIN_FILESYSTEM_BYTES;
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

  /** Takes the reserve when it is missing and the filesystem has room for it twice over. Never throws. */
  ensure(): boolean {
    try {
      if (this.held || !this.applies() || this.availableBytes() < 2 * RESERVE_BYTES) return false;
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
      if (this.availableBytes() >= RESERVE_BYTES) return false;
      const had = this.held;
      rmSync(this.path, { force: true }); // a short leftover too: it only holds space
      return had;
    } catch {
      return false;
    }
  }
}
