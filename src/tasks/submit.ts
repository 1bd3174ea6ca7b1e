/**
 * Submitting work: queue a task of a registered type for the role processes that run it. A
 * type this version has no handler for (a job type whose module has not landed, say) is not
 * left waiting for a worker that will never come: its task ends at once with a clear error.
 */
import type { TaskRow } from "../state/schema/index.ts";
import { immediate, type TaskEnv } from "./env.ts";
import { finishTask, getTask, insertTask, logQueued, type TaskRequest } from "./queue.ts";
import { noHandlerMessage, taskTypeSpec } from "./registry.ts";

export type SubmitRequest = Omit<TaskRequest, "needsSlot">;

export function requestFor(req: SubmitRequest): TaskRequest {
  return { ...req, needsSlot: taskTypeSpec(req.type)?.needsSlot ?? false };
}

export function submitTask(env: TaskEnv, req: SubmitRequest, now = Date.now()): TaskRow {
  const row = immediate(env, () => insertTask(env, requestFor(req), { now }));
  return announceTask(env, row);
}

/** After the insert has committed: the first log line, and the end of a task nobody can run. */
export function announceTask(env: TaskEnv, row: TaskRow): TaskRow {
  logQueued(env, row);
  if (!taskTypeSpec(row.type)) {
    finishTask(env, row.upid, noHandlerMessage(row.type));
    return getTask(env, row.upid) ?? row;
  }
  return row;
}
