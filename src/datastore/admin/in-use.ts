/**
 * Who uses a datastore right now, so removing it (or rebuilding its catalog) can refuse:
 *  - tasks in the node state database (table `tasks`, src/tasks/queue.ts) that are queued or
 *    running on the store: their worker id is the store name or starts with "<store>:"
 *    (`store1:vm/100`), or their params name it as "store";
 *  - live holders of the store's lock files (`.ibs/locks/`): a backup writer, a restore or a
 *    verify reading a snapshot, a namespace change. flock(2) is asked directly (a non-blocking
 *    exclusive try), so a holder that died never counts, even after SIGKILL.
 * Scheduled jobs naming the store are listed separately: they are configuration, not use.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { StateDb } from "../../state/db.ts";
import { processAlive } from "../../util/proc.ts";
import { readHolder, tryLock } from "../lock.ts";

export interface StoreTask {
  upid: string;
  type: string;
  status: "queued" | "running";
}

export interface StoreLockHolder {
  /** Lock file relative to `.ibs/locks/`, e.g. `vm/100/group.lck`. */
  lock: string;
  /** "pid 1234 (backup)" when the holder left a record, else "a reader". */
  holder: string;
}

export interface StoreUsers {
  tasks: StoreTask[];
  locks: StoreLockHolder[];
}

function tableExists(db: StateDb, table: string): boolean {
  return db.$client.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== null;
}

export function activeStoreTasks(db: StateDb, store: string): StoreTask[] {
  if (!tableExists(db, "tasks")) return [];
  return db.$client
    .query(
      `SELECT upid, type, status FROM tasks
       WHERE status IN ('queued', 'running')
         AND (worker_id = ?1 OR substr(worker_id, 1, length(?1) + 1) = ?1 || ':'
              OR (json_valid(params) AND json_extract(params, '$.store') = ?1))
       ORDER BY id`,
    )
    .all(store) as StoreTask[];
}

/** Ids of scheduled jobs (table `jobs`) that name the store. */
export function storeJobs(db: StateDb, store: string): string[] {
  if (!tableExists(db, "jobs")) return [];
  return (db.$client.query("SELECT id FROM jobs WHERE store = ? ORDER BY id").all(store) as { id: string }[]).map((r) => r.id);
}

function lockFiles(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) lockFiles(p, out);
    else if (e.name.endsWith(".lck")) out.push(p);
  }
  return out;
}

/**
 * Lock files someone holds now. Each is tried exclusively without waiting and released at
 * once; a writer starting in that instant is refused as if another writer held its group, so
 * run this only for rare admin actions.
 */
export async function liveLockHolders(storeDir: string, only: (lockFile: string) => boolean = () => true): Promise<StoreLockHolder[]> {
  const root = join(storeDir, ".ibs", "locks");
  if (!existsSync(root)) return [];
  const held: StoreLockHolder[] = [];
  for (const file of lockFiles(root).filter(only)) {
    const record = readHolder(file); // read before trying: our own try would overwrite it
    let lock;
    try {
      lock = await tryLock(file, "exclusive", "datastore in-use check");
    } catch {
      continue; // cannot even open it (read-only filesystem, say): nobody else can take it either
    }
    if (lock) {
      lock.release();
      continue;
    }
    const alive = record && processAlive(record.pid, record.pstart);
    held.push({ lock: relative(root, file), holder: alive ? `pid ${record.pid} (${record.purpose})` : "a reader" });
  }
  return held;
}

export async function storeUsers(db: StateDb, store: string, storeDir: string): Promise<StoreUsers> {
  return { tasks: activeStoreTasks(db, store), locks: await liveLockHolders(storeDir) };
}

export function describeUsers(users: StoreUsers, max = 3): string {
  const parts = [
    ...users.tasks.map((t) => `task ${t.upid} (${t.type}, ${t.status})`),
    ...users.locks.map((l) => `lock ${l.lock} held by ${l.holder}`),
  ];
  return parts.slice(0, max).join("; ") + (parts.length > max ? `; and ${parts.length - max} more` : "");
}
