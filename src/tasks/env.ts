/**
 * What every task function works with: the node state database, the node config (node name,
 * task log folder, slots) and the identity of this process as an executor. Processes
 * coordinate only through the database; `self` is passed in (not read from globals) so tests
 * can play several processes with several connections in one.
 */
import type { NodeConfig } from "../config/load.ts";
import type { StateDb } from "../state/db.ts";
import { processStartTime } from "../util/proc.ts";

/** A process that runs (or owns) tasks: a pid alone is reused, (pid, pstart) is not. */
export interface Executor {
  node: string;
  pid: number;
  pstart: number;
}

export interface TaskEnv {
  db: StateDb;
  config: NodeConfig;
  self: Executor;
}

/** The auth id of tasks started on the host itself (admin CLI, scheduler), as in Proxmox. */
export const LOCAL_ADMIN_AUTH_ID = "root@pam";

/** How long a claim stays valid without renewal; the runner renews every TICK_MS. */
export const LEASE_MS = 60_000;
export const TICK_MS = 1000;

export function taskEnv(config: NodeConfig, db: StateDb, self?: Partial<Executor>): TaskEnv {
  return { db, config, self: { node: config.node, pid: process.pid, pstart: processStartTime(), ...self } };
}

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so a
 * read-then-write (pick a free slot, compare-and-set a job's due time) cannot interleave with
 * another process doing the same. Nested calls become savepoints.
 */
export function immediate<T>(env: TaskEnv, fn: () => T): T {
  return env.db.$client.transaction(fn).immediate();
}
