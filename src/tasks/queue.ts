/**
 * The task queue in the node state database: enqueue, claim (with a lease), renew, finish,
 * abort. Every step that reads and then writes runs in one BEGIN IMMEDIATE transaction, so
 * processes that share the database never take the same task or the same slot.
 *
 * Life of a task: `queued` -> `running` (claimed: exec_node/pid/pstart, lease_until, slot) ->
 * `finished` with a result: `OK`, `WARNINGS: N`, `aborted`, or the error text. The UPID is
 * made when the task is created, by the process that creates it (CLI, scheduler, api), so a
 * queued task can already be listed, followed and aborted; the process that runs it is
 * recorded separately as its executor.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { tasks, type TaskRow } from "../state/schema/index.ts";
import { IbsError } from "../util/errors.ts";
import { immediate, LEASE_MS, type Executor, type TaskEnv } from "./env.ts";
import { freeSlot, heldSlots, oldestOwnedWaiting, slotsBusyMessage } from "./slots.ts";
import { appendTaskLog, finalLogLine } from "./task-log.ts";
import { formatUpid, parseUpid } from "./upid.ts";

export interface TaskRequest {
  type: string;
  /** What the task works on (`store1`, `store1:vm/100`); goes into the UPID. */
  workerId?: string | null;
  authId: string;
  params?: Record<string, unknown>;
  needsSlot: boolean;
  jobId?: string | null;
  /** The job's due time (epoch s) this task runs for; unique per job. */
  dueAt?: number | null;
}

export interface InsertOptions {
  /** The creating process runs the task itself (no role process may claim it). */
  owned?: boolean;
  now?: number;
}

/** Inserts a queued task with its UPID. Call inside `immediate()` (the id is max + 1). */
export function insertTask(env: TaskEnv, req: TaskRequest, opts: InsertOptions = {}): TaskRow {
  const now = opts.now ?? Date.now();
  const { max } = env.db.select({ max: sql<number>`coalesce(max(${tasks.id}), 0)` }).from(tasks).get()!;
  const id = max + 1;
  const upid = formatUpid({
    node: env.config.node,
    pid: env.self.pid,
    pstart: env.self.pstart,
    taskId: id,
    startTime: Math.floor(now / 1000),
    workerType: req.type,
    workerId: req.workerId ?? undefined,
    authId: req.authId,
  });
  const owner = opts.owned ? { execNode: env.self.node, execPid: env.self.pid, execPstart: env.self.pstart, leaseUntil: now + LEASE_MS } : {};
  return env.db
    .insert(tasks)
    .values({
      id,
      upid,
      node: env.config.node,
      type: req.type,
      workerId: req.workerId ?? null,
      authId: req.authId,
      params: JSON.stringify(req.params ?? {}),
      needsSlot: req.needsSlot,
      owned: !!opts.owned,
      status: "queued",
      queuedAt: now,
      jobId: req.jobId ?? null,
      dueAt: req.dueAt ?? null,
      ...owner,
    })
    .returning()
    .get();
}

/** The first line of every task log. */
export function logQueued(env: TaskEnv, row: TaskRow): void {
  const by = `${row.authId} (process ${env.self.pid} on ${env.self.node})`;
  const job = row.jobId ? `, job '${row.jobId}'${row.dueAt ? ` due ${new Date(row.dueAt * 1000).toISOString()}` : ""}` : "";
  appendTaskLog(env.config.taskLogDir, row.upid, `queued ${row.type}${row.workerId ? ` on ${row.workerId}` : ""} by ${by}${job}`);
}

export function enqueueTask(env: TaskEnv, req: TaskRequest, opts: InsertOptions = {}): TaskRow {
  const row = immediate(env, () => insertTask(env, req, opts));
  logQueued(env, row);
  return row;
}

export function getTask(env: TaskEnv, upid: string): TaskRow | undefined {
  return env.db.select().from(tasks).where(eq(tasks.upid, upid)).get();
}

/** The task with this UPID; a malformed UPID or an unknown one is a clear error. */
export function requireTask(env: TaskEnv, upid: string): TaskRow {
  parseUpid(upid);
  const row = getTask(env, upid);
  if (!row) {
    throw new IbsError(`task ${upid} not found in the state database of node ${env.config.node}`, 1,
      "list tasks with: ironcore-backup task list");
  }
  return row;
}

export interface ClaimOptions {
  /** Slots this process hands out (its `worker.slots`). */
  slots: number;
  /** Whether tasks without a slot may be claimed now (the process bounds those itself). */
  allowUnslotted: boolean;
  now?: number;
}

/**
 * Claims the oldest queued task of one of `types` that this process can start now: one that
 * needs a slot only while a slot is free and no owned task waits longer for one. Returns the
 * claimed (running) row or null.
 */
export function claimNextTask(env: TaskEnv, types: string[], opts: ClaimOptions): TaskRow | null {
  if (types.length === 0) return null;
  const now = opts.now ?? Date.now();
  return immediate(env, () => {
    const candidates = env.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.status, "queued"), eq(tasks.owned, false), inArray(tasks.type, types)))
      .orderBy(asc(tasks.id))
      .limit(200)
      .all();
    if (candidates.length === 0) return null;
    const slot = freeSlot(heldSlots(env, env.self.node), opts.slots);
    const ownedWaiting = slot === null ? null : oldestOwnedWaiting(env);
    for (const c of candidates) {
      if (c.needsSlot) {
        if (slot === null || (ownedWaiting !== null && ownedWaiting < c.id)) continue;
        return claim(env, c.id, slot, now);
      }
      if (opts.allowUnslotted) return claim(env, c.id, null, now);
    }
    return null;
  });
}

function claim(env: TaskEnv, id: number, slot: number | null, now: number): TaskRow {
  return env.db
    .update(tasks)
    .set({
      status: "running",
      startedAt: now,
      execNode: env.self.node,
      execPid: env.self.pid,
      execPstart: env.self.pstart,
      leaseUntil: now + LEASE_MS,
      slot,
    })
    .where(and(eq(tasks.id, id), eq(tasks.status, "queued")))
    .returning()
    .get()!;
}

/**
 * Fails queued tasks of `types` that need a slot and have waited longer than the queue
 * timeout while every slot of this node is busy: "all worker slots busy for N s". Tasks that
 * wait because no process claims them at all are left alone (a worker that starts takes them).
 */
export function expireQueuedTasks(env: TaskEnv, types: string[], now = Date.now()): TaskRow[] {
  if (types.length === 0) return [];
  const timeoutMs = env.config.worker.queueTimeoutSec * 1000;
  const expired = immediate(env, () => {
    if (freeSlot(heldSlots(env, env.self.node), env.config.worker.slots) !== null) return [];
    const old = env.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.status, "queued"), eq(tasks.owned, false), eq(tasks.needsSlot, true), inArray(tasks.type, types), sql`${tasks.queuedAt} <= ${now - timeoutMs}`))
      .all();
    return old.flatMap((t) => {
      const result = slotsBusyMessage(Math.round((now - t.queuedAt) / 1000));
      const done = env.db
        .update(tasks)
        .set({ status: "finished", result, endedAt: now })
        .where(and(eq(tasks.id, t.id), eq(tasks.status, "queued")))
        .returning()
        .get();
      return done ? [done] : [];
    });
  });
  for (const t of expired) appendTaskLog(env.config.taskLogDir, t.upid, finalLogLine(t.result!));
  return expired;
}

export interface ProgressSnapshot {
  done: number;
  total: number | null;
  unit: string | null;
  rate: number | null;
}

/**
 * Extends the lease of a task this process runs and stores its progress. `held` false means
 * the task is no longer ours (it was declared dead and finished by someone else).
 */
export function renewLease(env: TaskEnv, upid: string, progress: ProgressSnapshot | null, now = Date.now()): { held: boolean; abortRequested: boolean } {
  const row = env.db
    .update(tasks)
    .set({
      leaseUntil: now + LEASE_MS,
      ...(progress ? { progressDone: progress.done, progressTotal: progress.total, progressUnit: progress.unit, progressRate: progress.rate } : {}),
    })
    .where(and(eq(tasks.upid, upid), eq(tasks.status, "running"), ...executorIs(env.self)))
    .returning({ abortRequested: tasks.abortRequested })
    .get();
  return { held: !!row, abortRequested: !!row?.abortRequested };
}

function executorIs(e: Executor) {
  return [eq(tasks.execNode, e.node), eq(tasks.execPid, e.pid), eq(tasks.execPstart, e.pstart)];
}

export interface FinishOptions {
  warnings?: number;
  /** Finish only while this process is still the task's executor. */
  executor?: Executor;
  now?: number;
}

/**
 * Records the end of a task (and so releases its slot), then writes the closing log line.
 * Returns false when the task had already ended (e.g. declared dead) or is not ours.
 */
export function finishTask(env: TaskEnv, upid: string, result: string, opts: FinishOptions = {}): boolean {
  const now = opts.now ?? Date.now();
  const conds = [eq(tasks.upid, upid), sql`${tasks.status} <> 'finished'`, ...(opts.executor ? executorIs(opts.executor) : [])];
  const row = env.db
    .update(tasks)
    .set({ status: "finished", result, endedAt: now, warnings: opts.warnings ?? 0 })
    .where(and(...conds))
    .returning({ upid: tasks.upid })
    .get();
  if (!row) return false;
  appendTaskLog(env.config.taskLogDir, upid, finalLogLine(result));
  return true;
}

/**
 * `task abort`: a queued task ends `aborted` at once; a running one gets the abort flag, which
 * its runner reads within a second and turns into its AbortSignal.
 */
export function requestAbort(env: TaskEnv, upid: string, now = Date.now()): "aborted" | "requested" {
  requireTask(env, upid);
  const outcome = immediate(env, () => {
    const row = getTask(env, upid)!;
    if (row.status === "finished") {
      throw new IbsError(`task ${upid} has already ended: ${row.result}`, 1);
    }
    if (row.status === "queued" && !row.owned) {
      env.db.update(tasks).set({ status: "finished", result: "aborted", abortRequested: now, endedAt: now }).where(eq(tasks.id, row.id)).run();
      return "aborted" as const;
    }
    env.db.update(tasks).set({ abortRequested: row.abortRequested ?? now }).where(eq(tasks.id, row.id)).run();
    return "requested" as const;
  });
  if (outcome === "aborted") {
    appendTaskLog(env.config.taskLogDir, upid, "abort requested while queued");
    appendTaskLog(env.config.taskLogDir, upid, finalLogLine("aborted"));
  }
  return outcome;
}
