/**
 * Tasks whose executor died (kill -9, crash, reboot) must not stay `running` forever. A task
 * is dead when its executor is on this node and its process (pid + start time, so a reused pid
 * does not fool the check) is gone, or, on any node, when its lease ran out. Dead tasks end
 * with an error naming the process and the reason, which also frees their worker slots.
 * Queued tasks are untouched: the next process that claims work takes them.
 *
 * Run at every role start, periodically by the worker and scheduler, and by the CLI before
 * it shows tasks, so what an operator sees is never a ghost.
 */
import { and, eq, or, sql } from "drizzle-orm";
import { tasks, type TaskRow } from "../state/schema/index.ts";
import { processAlive } from "../util/proc.ts";
import { immediate, type TaskEnv } from "./env.ts";
import { appendTaskLog, finalLogLine } from "./task-log.ts";

export interface RecoveredTask {
  upid: string;
  result: string;
}

/** Why a task's executor is considered dead, or null when it is alive. */
export function deathReason(env: TaskEnv, t: TaskRow, now: number): string | null {
  const who = `process ${t.execPid} on node ${t.execNode}`;
  const waiting = t.status === "queued";
  if (t.execNode === env.self.node && t.execPid !== null && !processAlive(t.execPid, t.execPstart ?? 0)) {
    return waiting
      ? `${who}, which was waiting for a worker slot to run this task, is gone (killed, crashed or the host rebooted)`
      : `worker died: ${who} is gone (killed, crashed or the host rebooted) while running this task`;
  }
  if (t.leaseUntil !== null && t.leaseUntil < now) {
    const ago = Math.round((now - t.leaseUntil) / 1000);
    return `worker died: ${who} stopped renewing the task's lease (expired ${ago} s ago); presumed dead`;
  }
  return null;
}

export function recoverDeadTasks(env: TaskEnv, now = Date.now()): RecoveredTask[] {
  const recovered = immediate(env, () => {
    const suspects = env.db
      .select()
      .from(tasks)
      .where(or(eq(tasks.status, "running"), and(eq(tasks.status, "queued"), eq(tasks.owned, true))))
      .all();
    const out: RecoveredTask[] = [];
    for (const t of suspects) {
      const result = deathReason(env, t, now);
      if (!result) continue;
      // Conditional on the lease we judged: a renewal in between means it is alive after all.
      const done = env.db
        .update(tasks)
        .set({ status: "finished", result, endedAt: now })
        .where(and(eq(tasks.id, t.id), eq(tasks.status, t.status), t.leaseUntil === null ? sql`lease_until IS NULL` : eq(tasks.leaseUntil, t.leaseUntil)))
        .returning({ upid: tasks.upid })
        .get();
      if (done) out.push({ upid: t.upid, result });
    }
    return out;
  });
  for (const r of recovered) {
    appendTaskLog(env.config.taskLogDir, r.upid, `marked failed by process ${env.self.pid} on node ${env.self.node}`);
    appendTaskLog(env.config.taskLogDir, r.upid, finalLogLine(r.result));
  }
  return recovered;
}
