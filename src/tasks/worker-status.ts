/**
 * `worker status`: per worker host, the slots (total, busy, free) and the tasks running there
 * with progress and rate; the queue with each task's age; and whether a worker service is up
 * to take the queue at all.
 */
import { and, asc, eq } from "drizzle-orm";
import { serviceStatuses } from "../roles/status.ts";
import { tasks } from "../state/schema/index.ts";
import type { TaskEnv } from "./env.ts";
import { slotUsage } from "./slots.ts";
import { toTaskInfo, type TaskProgress } from "./task-info.ts";

export interface RunningTaskView {
  upid: string;
  type: string;
  pid: number | null;
  /** 1-based, as shown to operators; null for work that takes no slot. */
  slot: number | null;
  startedAt: string | null;
  runningSec: number;
  progress: TaskProgress | null;
  abortRequested: boolean;
}

export interface QueuedTaskView {
  upid: string;
  type: string;
  queuedAt: string;
  ageSec: number;
  needsSlot: boolean;
}

export interface WorkerHost {
  node: string;
  /** State of this host's worker service (only known for the local node). */
  service: { state: string; pid: number | null; reason: string | null } | null;
  slots: { total: number | null; busy: number; free: number | null };
  running: RunningTaskView[];
}

export interface WorkerStatus {
  hosts: WorkerHost[];
  queued: QueuedTaskView[];
}

export function workerStatus(env: TaskEnv, now = Date.now()): WorkerStatus {
  const running = env.db.select().from(tasks).where(eq(tasks.status, "running")).orderBy(asc(tasks.id)).all();
  const nodes = [env.config.node, ...new Set(running.map((t) => t.execNode!).filter((n) => n !== env.config.node))];
  const local = serviceStatuses(env.config, env.db, now).find((s) => s.role === "worker" && s.node === env.config.node);
  const hosts = nodes.map((node): WorkerHost => {
    const here = running.filter((t) => t.execNode === node);
    const isLocal = node === env.config.node;
    const usage = slotUsage(env, node);
    return {
      node,
      service: isLocal && local ? { state: local.state, pid: local.pid, reason: local.reason } : null,
      // Other hosts' slot counts live in their own config: only what they hold is known here.
      slots: isLocal ? { total: usage.total, busy: usage.busy, free: usage.free } : { total: null, busy: usage.busy, free: null },
      running: here.map((t) => {
        const info = toTaskInfo(t, now);
        return {
          upid: t.upid,
          type: t.type,
          pid: t.execPid,
          slot: t.slot === null ? null : t.slot + 1,
          startedAt: info.startedAt,
          runningSec: info.durationSec,
          progress: info.progress,
          abortRequested: info.abortRequested,
        };
      }),
    };
  });
  const queued = env.db
    .select()
    .from(tasks)
    .where(and(eq(tasks.status, "queued")))
    .orderBy(asc(tasks.id))
    .all()
    .map((t) => ({
      upid: t.upid,
      type: t.type,
      queuedAt: new Date(t.queuedAt).toISOString(),
      ageSec: Math.max(0, Math.round((now - t.queuedAt) / 1000)),
      needsSlot: t.needsSlot,
    }));
  return { hosts, queued };
}
