/**
 * The `gc` role: runs queued `gc` and `prune` tasks (src/tasks/registry.ts). Neither needs a
 * worker slot; the library's GC lock keeps one GC per datastore whatever runs it.
 */
import { startTaskExecutor } from "../tasks/executor.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => startTaskExecutor(ctx, "gc");
