/**
 * Worker slots bound the concurrent backup, restore and verify work of a node. A slot is held
 * by a running task row (`tasks.slot`), so every process (worker role, api role, CLI) counts
 * the same slots in the state database, and the partial unique index on (exec_node, slot)
 * makes handing one slot out twice impossible. A slot is released when its task ends.
 *
 * Queued tasks are claimed by role processes (queue.ts). A task whose creator runs it itself
 * (an "owned" task, e.g. a backup session in the api role) waits here with `waitForSlot`.
 */
import { and, asc, eq, isNotNull } from "drizzle-orm";
import { tasks, type TaskRow } from "../state/schema/index.ts";
import { IbsError } from "../util/errors.ts";
import { immediate, LEASE_MS, type TaskEnv } from "./env.ts";

export function slotsBusyMessage(waitedSec: number): string {
  return `all worker slots busy for ${waitedSec} s`;
}

export class SlotTimeoutError extends IbsError {
  constructor(waitedSec: number) {
    super(slotsBusyMessage(waitedSec), 1, "raise worker.slots in the node config, or run fewer tasks at once");
    this.name = "SlotTimeoutError";
  }
}

/** Slot numbers held by running tasks on `node`. */
export function heldSlots(env: TaskEnv, node: string): number[] {
  return env.db
    .select({ slot: tasks.slot })
    .from(tasks)
    .where(and(eq(tasks.status, "running"), eq(tasks.execNode, node), isNotNull(tasks.slot)))
    .all()
    .map((r) => r.slot!);
}

/** The lowest slot number below `total` that nobody holds, or null when all are busy. */
export function freeSlot(held: number[], total: number): number | null {
  const taken = new Set(held);
  for (let s = 0; s < total; s++) if (!taken.has(s)) return s;
  return null;
}

export interface SlotUsage {
  node: string;
  total: number;
  busy: number;
  free: number;
}

export function slotUsage(env: TaskEnv, node = env.self.node, total = env.config.worker.slots): SlotUsage {
  // Tasks started under a larger slot count may still hold numbers >= total: they are busy too.
  const busy = heldSlots(env, node).length;
  return { node, total, busy, free: Math.max(0, total - busy) };
}

/** The oldest owned task waiting for a slot on this node: claims by role processes yield to it. */
export function oldestOwnedWaiting(env: TaskEnv): number | null {
  const row = env.db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.status, "queued"), eq(tasks.owned, true), eq(tasks.needsSlot, true), eq(tasks.execNode, env.self.node)))
    .orderBy(asc(tasks.id))
    .limit(1)
    .get();
  return row?.id ?? null;
}

/**
 * Takes a free slot for an owned queued task of this process and marks it running. Returns
 * the running row, or null when all slots are busy.
 */
export function acquireSlot(env: TaskEnv, upid: string, now = Date.now()): TaskRow | null {
  return immediate(env, () => {
    const slot = freeSlot(heldSlots(env, env.self.node), env.config.worker.slots);
    if (slot === null) return null;
    return (
      env.db
        .update(tasks)
        .set({ status: "running", slot, startedAt: now, leaseUntil: now + LEASE_MS })
        .where(and(eq(tasks.upid, upid), eq(tasks.status, "queued"), eq(tasks.owned, true), eq(tasks.execPid, env.self.pid), eq(tasks.execNode, env.self.node)))
        .returning()
        .get() ?? null
    );
  });
}

/**
 * Waits for a slot for an owned task, renewing its lease meanwhile. Throws SlotTimeoutError
 * ("all worker slots busy for N s") after `worker.queue_timeout`, and `aborted` when the task
 * is aborted while it waits.
 */
export async function waitForSlot(env: TaskEnv, upid: string, opts: { pollMs?: number; signal?: AbortSignal } = {}): Promise<TaskRow> {
  const timeoutMs = env.config.worker.queueTimeoutSec * 1000;
  for (;;) {
    const row = acquireSlot(env, upid);
    if (row) return row;
    const current = env.db.select().from(tasks).where(eq(tasks.upid, upid)).get();
    if (!current || current.status !== "queued") throw new IbsError(`task ${upid} is no longer waiting for a slot (${current?.result ?? "gone"})`);
    if (current.abortRequested || opts.signal?.aborted) throw new IbsError("aborted");
    const waited = Date.now() - current.queuedAt;
    if (waited >= timeoutMs) throw new SlotTimeoutError(Math.round(waited / 1000));
    env.db.update(tasks).set({ leaseUntil: Date.now() + LEASE_MS }).where(eq(tasks.upid, upid)).run();
    await Bun.sleep(opts.pollMs ?? 200);
  }
}
