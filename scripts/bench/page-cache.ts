/**
 * The page cache's state before a measured restore. On this VM (24 GiB, no swap) a restore
 * that starts with the page cache full (free memory ~4-5 GiB: the dataset, both repositories
 * and the earlier restores' files) took 8.2-10.5 s with 5-7.5 s of system time; the same
 * restore with the cache dropped and its datastore read back in took 5.8-6.3 s with 2.3-2.6 s
 * (docs/benchmarks.md, session 6). Which tool met the full cache first decided the restore
 * ratio more than either tool did, so before each restore the harness drops the cache and reads
 * the restoring tool's repository and executable back in: every restore starts warm and with
 * free memory alike.
 */
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { forEachFile } from "./measure.ts";

const DROP_CACHES = "/proc/sys/vm/drop_caches";

/** Why the page cache cannot be dropped here, or null when it can (root with /proc writable). */
export function pageCacheUnsettlable(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  try {
    closeSync(openSync(DROP_CACHES, "w"));
    return null;
  } catch (err) {
    return `${DROP_CACHES} is not writable (${(err as NodeJS.ErrnoException).code ?? err})`;
  }
}

/** sync, drop clean pages, dentries and inodes, then read `paths` (files, or every file below a directory) back in. */
export function settlePageCache(paths: readonly string[]): void {
  Bun.spawnSync(["sync"]);
  writeFileSync(DROP_CACHES, "3\n");
  const buf = Buffer.allocUnsafe(1 << 20);
  const readAll = (file: string) => {
    const fd = openSync(file, "r");
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory()) forEachFile(p, readAll);
    else readAll(p);
  }
}
