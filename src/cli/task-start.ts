/**
 * What `gc start`, `verify start` (and later `sync run`) share: queue a task for the role that
 * runs its type, print its UPID, and with `--follow` print its log as it grows (the same
 * follower as `task log --follow`) and fail the command when the task failed.
 */
import type { NodeConfig } from "../config/load.ts";
import { roleHeartbeats, type TaskRow } from "../state/schema/index.ts";
import { taskTypeSpec } from "../tasks/registry.ts";
import { openStateDb } from "../state/db.ts";
import { LOCAL_ADMIN_AUTH_ID, taskEnv, type TaskEnv } from "../tasks/env.ts";
import { getTask } from "../tasks/queue.ts";
import { recoverDeadTasks } from "../tasks/recovery.ts";
import { submitTask } from "../tasks/submit.ts";
import { taskStateOf } from "../tasks/task-info.ts";
import { followTaskLog } from "../tasks/task-log.ts";
import { IbsError } from "../util/errors.ts";
import { type OutputFormat, printResult } from "./output.ts";

export const followArg = {
  follow: { type: "boolean" as const, description: "print the task log until the task ends; exit non-zero when it failed", default: false },
};

export function openTaskEnv(config: NodeConfig): TaskEnv {
  return taskEnv(config, openStateDb(config.stateDb));
}

export function submitStoreTask(env: TaskEnv, type: string, store: string, options: Record<string, string>): TaskRow {
  return submitTask(env, { type, workerId: store, authId: LOCAL_ADMIN_AUTH_ID, params: { store, options } });
}

/**
 * Whether a process of the role that runs `type` has beaten recently on any node. When none
 * has, the task waits in the queue: say so, or a `--follow` looks like a hang.
 */
function warnWithoutRunner(env: TaskEnv, type: string): void {
  const role = taskTypeSpec(type)?.role;
  if (!role) return;
  const fresh = Date.now() - env.config.heartbeatIntervalSec * 3000;
  const alive = env.db.select().from(roleHeartbeats).all().some((r) => r.role === role && r.state === "running" && r.lastSeen >= fresh);
  if (!alive) {
    process.stderr.write(`warning: no ${role} service is running; the task waits in the queue until one starts (systemctl start ironcore-backup-${role}, or run all)\n`);
  }
}

/** Prints the UPID (or follows the log); throws when the task has ended in failure. */
export async function reportStarted(env: TaskEnv, row: TaskRow, follow: boolean, format: OutputFormat): Promise<void> {
  if (row.status === "queued") warnWithoutRunner(env, row.type);
  if (!follow || format !== "text") {
    printResult({ upid: row.upid, state: taskStateOf(row) }, format, (r) => r.upid);
    if (row.status === "finished") failIfFailed(row);
    return;
  }
  let lastRecovery = Date.now();
  await followTaskLog(
    env.config.taskLogDir,
    row.upid,
    () => {
      // A follower must not wait forever for a task whose executor died.
      if (Date.now() - lastRecovery > 5000) {
        recoverDeadTasks(env);
        lastRecovery = Date.now();
      }
      return getTask(env, row.upid)?.status === "finished";
    },
    (text) => process.stdout.write(text),
  );
  failIfFailed(getTask(env, row.upid) ?? row);
}

function failIfFailed(row: TaskRow): void {
  const state = taskStateOf(row);
  if (state === "OK" || state.startsWith("WARNINGS")) return;
  throw new IbsError(`task ${row.upid} ended: ${state}`);
}
