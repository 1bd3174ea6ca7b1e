/**
 * Canonical text dump of the DERIVED catalog content (see schema.ts): equal dumps mean two
 * catalogs describe the same datastore. Used to prove that reindex rebuilds what incremental
 * updates produced. Runtime columns (GC marks, touch times, chunk verify state) are left out.
 */
import type { Catalog } from "./catalog.ts";

export function canonicalDump(catalog: Catalog): string {
  const db = catalog.db;
  const lines: string[] = [];
  const section = (title: string, sql: string) => {
    lines.push(`# ${title}`);
    for (const row of db.query(sql).all() as Record<string, unknown>[]) {
      lines.push(JSON.stringify(row, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)));
    }
  };
  section("namespaces", "SELECT path, depth FROM namespaces ORDER BY path");
  section("groups", "SELECT ns, type, backup_id, owner, notes FROM groups ORDER BY ns, type, backup_id");
  section(
    "snapshots",
    `SELECT g.ns, g.type, g.backup_id, s.time, s.protected, s.verify_state, s.verify_upid, s.verify_time, s.crypt_mode,
            s.key_fingerprint, s.stored_bytes, s.logical_bytes, s.file_count, s.notes, s.manifest_csum
     FROM snapshots s JOIN groups g ON g.id = s.group_id ORDER BY g.ns, g.type, g.backup_id, s.time`,
  );
  section(
    "snapshot files",
    `SELECT g.ns, g.type, g.backup_id, s.time, f.filename, f.size, f.csum, f.crypt_mode, f.logical_size, f.chunk_count
     FROM snapshot_files f JOIN snapshots s ON s.id = f.snapshot_id JOIN groups g ON g.id = s.group_id
     ORDER BY g.ns, g.type, g.backup_id, s.time, f.filename`,
  );
  section("chunks", "SELECT digest, stored_size FROM chunks WHERE state = 0 ORDER BY digest");
  section("bad chunks", "SELECT key, digest, size FROM bad_chunks ORDER BY key");
  return lines.join("\n") + "\n";
}
