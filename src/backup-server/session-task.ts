/**
 * A session is a task that lives as long as the session: created by the api process that
 * serves it (an "owned" task, tasks/runner.ts runLocalTask), waiting for a worker slot when its
 * type needs one, then "running" until the session ends. The handler does no work itself; it
 * only waits for the session's end, so the task's result is the session's outcome: `OK`,
 * `WARNINGS: N`, or the reason it was aborted. `task abort <UPID>` reaches the session through
 * the task's abort signal.
 */
import { recoverDeadTasks } from "../tasks/recovery.ts";
import { taskEnv } from "../tasks/env.ts";
import type { TaskRequest } from "../tasks/queue.ts";
import { runLocalTask, type TaskContext } from "../tasks/runner.ts";
import { slotsBusyMessage } from "../tasks/slots.ts";
import type { ServerDeps } from "./deps.ts";
import { SessionError } from "./errors.ts";

export interface SessionTask {
  upid: string;
  ctx: TaskContext;
  /** Ends the task (`error` becomes its result, else OK or WARNINGS: N); resolves with the recorded result. */
  end(error?: Error): Promise<string>;
}

/**
 * Creates the task and resolves once it runs (after its slot, when it needs one). A session
 * that cannot get a slot within `worker.queue_timeout` is refused with "all worker slots busy
 * for N s". `onAbort` is called when the task is aborted from outside (task abort, lease lost).
 */
export async function startSessionTask(deps: ServerDeps, req: TaskRequest, what: string, onAbort: (reason: unknown) => void): Promise<SessionTask> {
  const env = taskEnv(deps.config, deps.db);
  // Sessions of an api process that was killed still hold their slots until someone notices
  // the process is gone; the api role runs no recovery loop of its own, so do it here.
  recoverDeadTasks(env);

  let settle!: (err?: Error) => void;
  const lifetime = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  lifetime.catch(() => {}); // the runner reports it; never an unhandled rejection
  let started = false;
  const running = Promise.withResolvers<TaskContext>();

  const run = runLocalTask(
    env,
    req,
    async (ctx) => {
      started = true;
      const aborted = () => onAbort(ctx.signal.reason);
      ctx.signal.addEventListener("abort", aborted, { once: true });
      running.resolve(ctx);
      try {
        await lifetime;
      } finally {
        ctx.signal.removeEventListener("abort", aborted);
      }
    },
    { log: deps.log },
  );
  run.then(
    ({ upid, result }) => {
      if (!started) running.reject(notStarted(result, upid, what));
    },
    (err) => running.reject(err),
  );

  const ctx = await running.promise;
  return {
    upid: ctx.upid,
    ctx,
    end: async (error) => {
      settle(error);
      return (await run).result;
    },
  };
}

const SLOTS_BUSY = slotsBusyMessage(0).replace(/ for 0 s$/, "");

function notStarted(result: string, upid: string, what: string): SessionError {
  if (result.startsWith(SLOTS_BUSY)) {
    return new SessionError(`${what} not started: ${result} (task ${upid})`, 503, "slots_busy", "raise worker.slots in the node config, or run fewer backups at once; retry later");
  }
  return new SessionError(`${what} not started: ${result} (task ${upid})`, 503, "task_failed");
}

/**
 * The registry's handler for the `backup` and `reader` types: their tasks only ever run
 * inside the api session that created them (startSessionTask), so one that reaches a task
 * executor some other way ends at once with this explanation.
 */
export const runsOnlyInItsSession = async (ctx: TaskContext): Promise<void> => {
  throw new Error(`${ctx.type} tasks run only inside the api session that created them; start one with a backup or restore client`);
};
