/**
 * Rebuilds the catalog's DERIVED content from the datastore files (the truth): namespaces,
 * groups with owner and notes, committed snapshots with their files, the chunk index and the
 * bad chunk copies. RUNTIME columns of chunks that still exist are kept; chunks new to the
 * catalog get first_seen = now, which only makes GC more careful.
 *
 * Run it while no backup writes to the store (e.g. read-only mode): a snapshot committed
 * during the listing may be missed until the next reindex.
 */
import type { Backend } from "../backends/backend.ts";
import type { ChunkStore } from "../chunk-store.ts";
import { digestToBytes } from "../digest.ts";
import { errorMessage } from "../../util/errors.ts";
import { BACKUP_TYPES, formatNamespace, type GroupRef, groupKey, MANIFEST_FILENAME, type Namespace, parseContentKey, type SnapshotRef, snapshotKey } from "../snapshot-path.ts";
import { GROUP_NOTES_FILE, OWNER_FILE } from "../group-store.ts";
import type { SnapshotStore } from "../snapshot-store.ts";
import type { Catalog, CatalogSnapshotInput } from "./catalog.ts";

export interface ReindexResult {
  namespaces: number;
  groups: number;
  snapshots: number;
  chunks: number;
  badChunks: number;
  /** Snapshots skipped because their manifest or an index header is unreadable. */
  warnings: string[];
  /**
   * A skip came from the storage failing to answer (not from damaged data): the rebuild is not
   * complete, so the catalog is not marked built from the files (a later open tries again).
   */
  incomplete: boolean;
}

/** A snapshot that cannot be read because its files are damaged or gone (not because the storage did not answer). */
function isDamage(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === "BlobError" || name === "CorruptError" || name === "NotFoundError";
}

export async function reindexCatalog(catalog: Catalog, backend: Backend, snapshots: SnapshotStore, chunks: ChunkStore): Promise<ReindexResult> {
  const started = Date.now();
  const namespaces = new Map<string, Namespace>();
  const groups = new Map<string, { group: GroupRef; owner: boolean; notes: boolean }>();
  const complete = new Map<string, SnapshotRef>();
  const addNs = (ns: Namespace) => {
    for (let d = 1; d <= ns.length; d++) namespaces.set(formatNamespace(ns.slice(0, d)), ns.slice(0, d));
  };

  for (const prefix of ["ns/", ...BACKUP_TYPES.map((t) => `${t}/`)]) {
    for await (const { key } of backend.list(prefix)) {
      const parsed = parseContentKey(key);
      if (!parsed) continue;
      if (parsed.kind === "namespace-marker") {
        addNs(parsed.ns);
        continue;
      }
      const group = parsed.kind === "group-file" ? parsed.group : parsed.snapshot;
      addNs(group.ns);
      const gk = groupKey(group);
      let g = groups.get(gk);
      if (!g) groups.set(gk, (g = { group: { ns: group.ns, type: group.type, id: group.id }, owner: false, notes: false }));
      if (parsed.kind === "group-file") {
        if (parsed.file === OWNER_FILE) g.owner = true;
        if (parsed.file === GROUP_NOTES_FILE) g.notes = true;
      } else if (parsed.file === MANIFEST_FILENAME) {
        complete.set(snapshotKey(parsed.snapshot), parsed.snapshot);
      }
    }
  }

  const warnings: string[] = [];
  const summaries: CatalogSnapshotInput[] = [];
  let incomplete = false;
  const summarize = async (snap: SnapshotRef) => {
    try {
      summaries.push(await snapshots.summarize(snap));
    } catch (err) {
      warnings.push(`skipped snapshot ${snapshotKey(snap)}: ${errorMessage(err)}`);
      if (!isDamage(err)) incomplete = true;
    }
  };
  for (const snap of complete.values()) await summarize(snap);
  const good: { digest: string; size: number }[] = [];
  for await (const c of chunks.list()) good.push(c);
  const bad: { key: string; digest: string; size: number }[] = [];
  for await (const b of chunks.listBad()) bad.push(b);
  // A snapshot committed after its group was listed is in the catalog (its commit wrote it)
  // but not in the listing: kept when its manifest is there, not dropped with the rows replaced.
  for (const row of catalog.listSnapshots()) {
    const ref: SnapshotRef = { ns: row.ns, type: row.type, id: row.id, time: row.time };
    if (complete.has(snapshotKey(ref))) continue;
    if (await backend.stat(`${snapshotKey(ref)}/${MANIFEST_FILENAME}`)) {
      complete.set(snapshotKey(ref), ref);
      await summarize(ref);
      const gk = groupKey(ref);
      if (!groups.has(gk)) groups.set(gk, { group: { ns: ref.ns, type: ref.type, id: ref.id }, owner: true, notes: true });
      addNs(ref.ns);
    }
  }
  const groupInfo: { group: GroupRef; owner: string | null; notes: string | null }[] = [];
  for (const g of groups.values()) {
    groupInfo.push({
      group: g.group,
      owner: g.owner ? await snapshots.groups.getOwner(g.group) : null,
      notes: g.notes ? await snapshots.groups.getNotes(g.group) : null,
    });
  }

  const db = catalog.db;
  catalog.transaction(() => {
    db.exec("DELETE FROM snapshot_files; DELETE FROM snapshots; DELETE FROM groups; DELETE FROM namespaces; DELETE FROM bad_chunks;");
    for (const ns of namespaces.values()) catalog.addNamespace(ns);
    for (const g of groupInfo) {
      catalog.ensureGroup(g.group);
      if (g.owner !== null) catalog.setGroupOwner(g.group, g.owner);
      if (g.notes !== null) catalog.setGroupNotes(g.group, g.notes);
    }
    for (const s of summaries) catalog.putSnapshot(s);
    for (const b of bad) catalog.addBadChunk(b.key, b.digest, b.size);

    db.exec("CREATE TEMP TABLE IF NOT EXISTS seen_chunks (digest BLOB PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID; DELETE FROM seen_chunks;");
    const seen = db.query("INSERT INTO seen_chunks (digest, size) VALUES (?, ?)");
    for (const c of good) seen.run(digestToBytes(c.digest), c.size);
    // Rows of chunk writes still in flight (state 1) stay: their writer marks them stored.
    db.exec("DELETE FROM chunks WHERE state = 0 AND digest NOT IN (SELECT digest FROM seen_chunks)");
    db.query(
      `INSERT INTO chunks (digest, stored_size, state, first_seen, last_touched)
       SELECT digest, size, 0, ?1, ?1 FROM seen_chunks WHERE true
       ON CONFLICT(digest) DO UPDATE SET stored_size = excluded.stored_size, state = 0 WHERE chunks.state <> 2`, // condemned rows stay: their GC deletes them
    ).run(started);
    db.exec("DROP TABLE seen_chunks");
    if (!incomplete) catalog.markBuiltFromFiles(new Date(started));
  });
  return { namespaces: namespaces.size, groups: groups.size, snapshots: summaries.length, chunks: good.length, badChunks: bad.length, warnings, incomplete };
}
