/**
 * The `verifier` role: runs queued `verify` tasks, each in a worker slot, so verification
 * and backups share the node's `worker.slots` instead of competing for the disks unbounded.
 */
import { startTaskExecutor } from "../tasks/executor.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => startTaskExecutor(ctx, "verifier");
