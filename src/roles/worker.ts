/**
 * The `worker` role: runs queued tasks of the types registered for it, as many at once as the
 * node has worker slots (src/tasks/executor.ts has the loop and the shutdown rules).
 */
import { startTaskExecutor } from "../tasks/executor.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => startTaskExecutor(ctx, "worker");
