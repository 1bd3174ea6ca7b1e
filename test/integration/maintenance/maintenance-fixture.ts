/**
 * A backup node (`run all`, datastore `local`) for the maintenance tests, plus what they need
 * around it: source trees of random files, the chunk digests a snapshot uses (read with the
 * datastore library), chunk file paths and the notification outbox rows.
 */
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { isIndexFilename } from "../../../src/datastore/chunk-index.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import type { SnapshotRef } from "../../../src/datastore/snapshot-path.ts";
import { type BackupNode, startBackupNode } from "../backup/backup-fixture.ts";

export { type BackupNode, startBackupNode };

export const storeDir = (node: BackupNode, store = "local") => join(node.dir, "datastores", store);

/** A directory of `files` random files of `size` bytes each. */
export function randomTree(parent: string, name: string, files = 3, size = 200_000): string {
  const dir = join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) fs.writeFileSync(join(dir, `f${i}.bin`), randomBytes(size));
  return dir;
}

/** `ironcore-backup backup` without encryption; returns the snapshot name TYPE/ID/TIME. */
export function backupTree(node: BackupNode, dir: string, id: string, extra: string[] = []): string {
  const r = node.clientJson(["backup", `data.ibsar:${dir}`, "--backup-id", id, "--crypt-mode", "none", ...extra]);
  return r.snapshot as string;
}

export function refOf(name: string, ns: string[] = []): SnapshotRef {
  const [type, id, time] = name.split("/");
  return { ns, type: type as SnapshotRef["type"], id: id!, time: time! };
}

/** Every chunk digest the snapshot's indexes reference. */
export async function chunksOf(node: BackupNode, name: string, store = "local"): Promise<Set<string>> {
  const ds = await Datastore.open(storeDir(node, store), { name: store, recover: false });
  try {
    const reader = await ds.snapshots.openReader(refOf(name));
    const out = new Set<string>();
    try {
      for (const f of reader.files) {
        if (!isIndexFilename(f.filename)) continue;
        for (const d of (await reader.openIndex(f.filename)).uniqueDigests()) out.add(d);
      }
    } finally {
      reader.release();
    }
    return out;
  } finally {
    ds.close();
  }
}

export function chunkPath(node: BackupNode, digest: string, store = "local"): string {
  return join(storeDir(node, store), ".chunks", digest.slice(0, 4), digest);
}

export function chunkFileCount(node: BackupNode, store = "local"): number {
  const root = join(storeDir(node, store), ".chunks");
  let n = 0;
  for (const d of fs.readdirSync(root)) {
    if (!/^[0-9a-f]{4}$/.test(d)) continue;
    n += fs.readdirSync(join(root, d)).filter((f) => /^[0-9a-f]{64}$/.test(f)).length;
  }
  return n;
}

export interface OutboxRow {
  id: number;
  type: string;
  severity: string;
  fields: Record<string, unknown>;
  state: string;
}

export function outbox(node: BackupNode): OutboxRow[] {
  const db = new Database(join(node.dir, "state.db"), { readonly: true });
  try {
    return (db.query("SELECT id, type, severity, fields, state FROM notification_outbox ORDER BY id").all() as any[]).map((r) => ({ ...r, fields: JSON.parse(r.fields) }));
  } finally {
    db.close();
  }
}

/** Runs an admin command and parses its JSON output; throws with stderr when it fails. */
export function adminJson<T = any>(node: BackupNode, args: string[]): T {
  const r = node.admin([...args, "--output-format", "json"]);
  if (r.code !== 0) throw new Error(`ironcore-backup ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/** Waits until a task has finished and returns its state. */
export async function taskResult(node: BackupNode, upid: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const t = adminJson(node, ["task", "status", upid]);
    if (t.state !== "queued" && t.state !== "running") return t.state as string;
    await Bun.sleep(100);
  }
  throw new Error(`task ${upid} did not finish within ${timeoutMs} ms`);
}

/** Whether `<data dir>/log/<role>.log` records that this role started the task. */
export function roleRanTask(node: BackupNode, role: string, upid: string): boolean {
  const lines = fs.readFileSync(join(node.dir, "log", `${role}.log`), "utf8").split("\n").filter(Boolean);
  return lines.map((l) => JSON.parse(l)).some((e) => e.msg === "task started" && e.upid === upid && e.service === role);
}
