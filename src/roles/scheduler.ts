/**
 * The `scheduler` role: every `scheduler.interval` seconds, starts the jobs that are due as
 * tasks (exactly once per due time, even with two schedulers: src/tasks/scheduler.ts), and
 * closes tasks whose executor died.
 */
import { errorMessage } from "../util/errors.ts";
import { taskEnv } from "../tasks/env.ts";
import { schedulerTimeZone } from "../tasks/jobs.ts";
import { recoverDeadTasks } from "../tasks/recovery.ts";
import { runDueJobs } from "../tasks/scheduler.ts";
import { periodic } from "./loop.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => {
  const env = taskEnv(ctx.config, ctx.db);
  ctx.log.info("scheduler ready", { intervalSec: ctx.config.scheduler.intervalSec, timeZone: schedulerTimeZone() });
  return periodic(ctx, ctx.config.scheduler.intervalSec * 1000, async () => {
    for (const r of recoverDeadTasks(env)) ctx.log.warn("task marked failed: its executor is gone", { upid: r.upid, err: r.result });
    const { started, errors } = runDueJobs(env);
    for (const s of started) {
      ctx.log.info("job started", { job: s.jobId, due: new Date(s.dueAt * 1000).toISOString(), upid: s.task.upid, state: s.task.status === "finished" ? s.task.result : s.task.status });
    }
    for (const e of errors) ctx.log.error("job could not be started", { job: e.jobId, err: errorMessage(e.err) });
  });
};
