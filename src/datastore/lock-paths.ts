/**
 * Where the lock files of a datastore live: `<datastore>/.ibs/locks/` mirrors the group keys.
 *   <namespace key>/namespace.lck      namespace create/remove
 *   <group key>/group.lck              one writer per group (exclusive)
 *   <group key>/meta.lck               owner and notes changes
 *   <group key>/<time>.lck             snapshot: writer/forget exclusive, readers shared
 *   <group key>/<time>.manifest.lck    serialises updates of the manifest's unprotected part
 *   gc.lck                             garbage collection (exclusive); writers probe it shared
 * Always on the local disk, also for S3 datastores (locks are per node, like PBS's /run locks).
 */
import { join } from "node:path";
import { type GroupRef, groupKey, type Namespace, namespaceKey, type SnapshotRef } from "./snapshot-path.ts";

export class LockPaths {
  constructor(readonly dir: string) {}

  group(group: GroupRef): string {
    return join(this.dir, groupKey(group), "group.lck");
  }

  groupMeta(group: GroupRef): string {
    return join(this.dir, groupKey(group), "meta.lck");
  }

  namespace(ns: Namespace): string {
    return join(this.dir, namespaceKey(ns), "namespace.lck");
  }

  /** Held exclusively by a running GC: writers meeting a condemned chunk probe it to tell a live GC from a dead one. */
  gc(): string {
    return join(this.dir, "gc.lck");
  }

  snapshot(snap: SnapshotRef): string {
    return join(this.dir, groupKey(snap), `${snap.time}.lck`);
  }

  manifest(snap: SnapshotRef): string {
    return join(this.dir, groupKey(snap), `${snap.time}.manifest.lck`);
  }
}
