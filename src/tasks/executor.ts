/**
 * The claim loop of a role that runs queued tasks (the `worker` role; verifier, gc and sync can
 * use the same for their types): recover dead tasks, fail tasks that waited too long for a
 * slot, claim what can start now, run it concurrently, repeat.
 *
 * Shutdown (SIGTERM): stop claiming; give running tasks SHUTDOWN_GRACE_MS to finish, then abort
 * them at their next safe point; they end "aborted: ..." naming the shutdown. Tasks are never
 * re-queued by a shutdown: a half-run task may not be safe to run twice, and the next run of
 * its job (or the operator) starts it afresh. Queued tasks stay queued for the next worker.
 */
import type { RoleContext, RoleName, RunningRole } from "../roles/role.ts";
import type { TaskRow } from "../state/schema/index.ts";
import { errorMessage } from "../util/errors.ts";
import { taskEnv, type TaskEnv } from "./env.ts";
import { claimNextTask, expireQueuedTasks, finishTask } from "./queue.ts";
import { recoverDeadTasks } from "./recovery.ts";
import { noHandlerMessage, taskTypeSpec, taskTypesForRole } from "./registry.ts";
import { runTask, TaskAbortedError } from "./runner.ts";

export interface ExecutorOptions {
  pollMs?: number;
  recoverEveryMs?: number;
  graceMs?: number;
  /** Tasks without a slot (light work) this process runs at once, besides slotted ones. */
  maxUnslotted?: number;
}

const SHUTDOWN_GRACE_MS = 20_000;
const ABORT_WAIT_MS = 5_000;

const IDLE_POLL_FACTOR = 4;

export function startTaskExecutor(ctx: RoleContext, role: RoleName, opts: ExecutorOptions = {}): RunningRole {
  const env = taskEnv(ctx.config, ctx.db);
  const types = taskTypesForRole(role);
  const pollMs = opts.pollMs ?? 500;
  const recoverEveryMs = opts.recoverEveryMs ?? 5000;
  const maxUnslotted = opts.maxUnslotted ?? 4;
  const running = new Map<string, { row: TaskRow; done: Promise<void> }>();
  const stopTasks = new AbortController();
  let lastRecovery = 0;
  let wake: (() => void) | null = null;

  const recover = () => {
    for (const r of recoverDeadTasks(env)) ctx.log.warn("task marked failed: its executor is gone", { upid: r.upid, err: r.result });
    lastRecovery = Date.now();
  };

  const launch = (row: TaskRow) => {
    const done = runClaimed(env, row, ctx, stopTasks.signal)
      .catch((err) => ctx.log.error("task runner failed", { upid: row.upid, err: errorMessage(err) }))
      .finally(() => {
        running.delete(row.upid);
        wake?.();
      });
    running.set(row.upid, { row, done });
  };

  /** Claims what it can; true when it started at least one task. */
  const round = (): boolean => {
    if (Date.now() - lastRecovery >= recoverEveryMs) recover();
    for (const t of expireQueuedTasks(env, types)) ctx.log.warn("task expired in the queue", { upid: t.upid, err: t.result });
    let claimed = false;
    while (!ctx.signal.aborted) {
      const unslotted = [...running.values()].filter((r) => r.row.slot === null).length;
      const row = claimNextTask(env, types, { slots: ctx.config.worker.slots, allowUnslotted: unslotted < maxUnslotted });
      if (!row) break;
      launch(row);
      claimed = true;
    }
    return claimed;
  };

  recover();
  ctx.log.info(`${role} ready`, { slots: ctx.config.worker.slots, types: types.join(",") });
  // An idle executor backs off to IDLE_POLL_FACTOR x pollMs: each round is a write transaction
  // on the state database, and three roles polling twice a second cost real CPU on a quiet host.
  let waitMs = pollMs;
  const loop = (async () => {
    while (!ctx.signal.aborted) {
      try {
        waitMs = round() || running.size > 0 ? pollMs : Math.min(waitMs * 2, pollMs * IDLE_POLL_FACTOR);
      } catch (err) {
        ctx.log.error("claim round failed", { err: errorMessage(err) });
      }
      if (ctx.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  })();
  ctx.signal.addEventListener("abort", () => wake?.());

  return {
    stop: async () => {
      await loop;
      const all = () => Promise.all([...running.values()].map((r) => r.done));
      if (running.size > 0) {
        ctx.log.info("waiting for running tasks", { count: running.size, graceSec: (opts.graceMs ?? SHUTDOWN_GRACE_MS) / 1000 });
        if (await within(all(), opts.graceMs ?? SHUTDOWN_GRACE_MS)) return;
        stopTasks.abort(new TaskAbortedError(`aborted: the ${role} service (process ${process.pid}) was stopped before the task finished`));
        if (await within(all(), ABORT_WAIT_MS)) return;
        for (const r of running.values()) {
          finishTask(env, r.row.upid, `the ${role} service (process ${process.pid}) stopped before the task reached a safe point`, { executor: env.self });
        }
      }
    },
  };
}

async function runClaimed(env: TaskEnv, row: TaskRow, ctx: RoleContext, stop: AbortSignal): Promise<void> {
  const spec = taskTypeSpec(row.type);
  if (!spec) {
    finishTask(env, row.upid, noHandlerMessage(row.type), { executor: env.self });
    return;
  }
  let handler;
  try {
    handler = await spec.load();
  } catch (err) {
    finishTask(env, row.upid, `cannot load the handler of task type '${row.type}': ${errorMessage(err)}`, { executor: env.self });
    return;
  }
  await runTask(env, row, handler, { log: ctx.log, stop });
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: Timer | undefined;
  const timeout = new Promise<false>((resolve) => (t = setTimeout(() => resolve(false), ms)));
  const r = await Promise.race([p.then(() => true as const), timeout]);
  clearTimeout(t);
  return r;
}
