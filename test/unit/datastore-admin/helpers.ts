/** Shared helpers: a throw-away node state database and a folder for datastores. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStateDb, type StateDb } from "../../../src/state/db.ts";

export interface Scratch {
  db: StateDb;
  /** A fresh directory to put datastores in. */
  root: string;
  cleanup(): void;
}

export function scratch(): Scratch {
  const root = mkdtempSync(join(tmpdir(), "ibs-dsadm-"));
  const db = openStateDb(join(root, "state", "state.db"));
  return {
    db,
    root,
    cleanup() {
      db.$client.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` and returns the error it throws (fails the test when nothing is thrown). */
export async function thrown(fn: () => unknown): Promise<Error & { exitCode?: number; httpStatus?: number; code?: string; hint?: string }> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error, but the call succeeded");
}

/** Inserts a task row as the task queue would (src/tasks/queue.ts), for in-use checks. */
export function insertTask(db: StateDb, row: { upid: string; type: string; workerId: string | null; status: "queued" | "running" | "finished"; result?: string; endedAt?: number; params?: Record<string, unknown> }): void {
  db.$client
    .query(
      `INSERT INTO tasks (upid, node, type, worker_id, auth_id, params, status, result, queued_at, ended_at)
       VALUES (?, 'n1', ?, ?, 'root@pam', ?, ?, ?, ?, ?)`,
    )
    .run(row.upid, row.type, row.workerId, JSON.stringify(row.params ?? {}), row.status, row.result ?? null, Date.now(), row.endedAt ?? null);
}
