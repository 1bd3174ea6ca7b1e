/**
 * Streams every snapshot directory of a datastore (or of one namespace and those below it)
 * straight from the backend listing, the truth, not the catalog: a snapshot whose catalog row
 * a crash left out is still found. Keys of one directory are contiguous in a sorted listing,
 * so only one directory is held in memory at a time.
 */
import type { Backend } from "../datastore/backends/backend.ts";
import { isIndexFilename } from "../datastore/chunk-index.ts";
import { BACKUP_TYPES, MANIFEST_FILENAME, type Namespace, namespaceKey, parseContentKey, type SnapshotRef, snapshotKey } from "../datastore/snapshot-path.ts";

export interface SnapshotDir {
  ref: SnapshotRef;
  /** Backend key of the directory ("vm/100/2026-…Z"). */
  key: string;
  /** Has a manifest (a committed snapshot); others are a live writer's or a crash's leftovers. */
  complete: boolean;
  /** File names in the directory. */
  files: string[];
}

function prefixesOf(scope: Namespace): string[] {
  if (scope.length === 0) return ["ns/", ...BACKUP_TYPES.map((t) => `${t}/`)];
  return [`${namespaceKey(scope)}/`];
}

export async function* walkSnapshots(backend: Backend, scope: Namespace = []): AsyncGenerator<SnapshotDir> {
  for (const prefix of prefixesOf(scope)) {
    let current: SnapshotDir | null = null;
    for await (const { key } of backend.list(prefix)) {
      const parsed = parseContentKey(key);
      if (parsed?.kind !== "snapshot-file") continue;
      const dirKey = snapshotKey(parsed.snapshot);
      if (current && current.key !== dirKey) {
        yield current;
        current = null;
      }
      current ??= { ref: parsed.snapshot, key: dirKey, complete: false, files: [] };
      current.files.push(parsed.file);
      if (parsed.file === MANIFEST_FILENAME) current.complete = true;
    }
    if (current) yield current;
  }
}

export function indexFiles(dir: SnapshotDir): string[] {
  return dir.files.filter(isIndexFilename);
}
