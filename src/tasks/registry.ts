/**
 * Task types: which handler runs a type, which role's processes run it, and whether it needs a
 * worker slot. A module that brings a long operation adds one entry to BUILTIN_TASK_TYPES
 * (see docs/architecture.md, "Tasks"); the handler module is imported only when a task of
 * that type runs, so the CLI stays fast.
 *
 * This is a table of code, not shared state: every process (role or CLI) has the same table.
 * `registerTaskType` exists for tests that need a handler of their own.
 */
import type { RoleName } from "../roles/role.ts";
import type { TaskHandler } from "./runner.ts";

export interface TaskTypeSpec {
  /** The UPID worker type (`selftest`, `gc`, `verify`, `backup`, ...). */
  type: string;
  /** The role whose processes claim queued tasks of this type; `api` tasks run where created. */
  role: RoleName;
  /** Bounded by `worker.slots`: backup, restore and verify work, and the selftest. */
  needsSlot: boolean;
  description: string;
  load: () => Promise<TaskHandler>;
}

const BUILTIN_TASK_TYPES: TaskTypeSpec[] = [
  {
    type: "selftest",
    role: "worker",
    needsSlot: true,
    description: "holds a worker slot for some seconds, logging progress (worker selftest)",
    load: async () => (await import("./selftest.ts")).selftest,
  },
  {
    // Runs in the api process that serves the session (runLocalTask); never queued for a role.
    type: "backup",
    role: "api",
    needsSlot: true,
    description: "a backup session: uploads chunks, indexes and blobs, then commits the snapshot",
    load: async () => (await import("../backup-server/session-task.ts")).runsOnlyInItsSession,
  },
  {
    // Restores are not bounded by worker slots: they must start even when backups fill them.
    type: "reader",
    role: "api",
    needsSlot: false,
    description: "a restore session: sends the files and chunks of one snapshot",
    load: async () => (await import("../backup-server/session-task.ts")).runsOnlyInItsSession,
  },
  {
    type: "gc",
    role: "gc",
    needsSlot: false,
    description: "garbage collection of one datastore: mark what snapshots reference, remove the rest",
    load: async () => (await import("../maintenance/gc-task.ts")).gcTask,
  },
  {
    type: "verify",
    role: "verifier",
    needsSlot: true,
    description: "verification of a datastore, namespace or snapshot: every chunk read and checked",
    load: async () => (await import("../maintenance/verify-task.ts")).verifyTask,
  },
  {
    // Metadata work like GC (no slot), and usually scheduled just before it: the gc role runs it.
    type: "prune",
    role: "gc",
    needsSlot: false,
    description: "retention: removes the snapshots a keep policy drops, per datastore or namespace",
    load: async () => (await import("../maintenance/prune-task.ts")).pruneTask,
  },
];

const extra = new Map<string, TaskTypeSpec>();

export function registerTaskType(spec: TaskTypeSpec): void {
  extra.set(spec.type, spec);
}

export function unregisterTaskType(type: string): void {
  extra.delete(type);
}

export function taskTypeSpec(type: string): TaskTypeSpec | undefined {
  return extra.get(type) ?? BUILTIN_TASK_TYPES.find((t) => t.type === type);
}

/** The task types queued for `role` that a process running it should claim. */
export function taskTypesForRole(role: RoleName): string[] {
  const all = new Map<string, TaskTypeSpec>(BUILTIN_TASK_TYPES.map((t) => [t.type, t]));
  for (const t of extra.values()) all.set(t.type, t);
  return [...all.values()].filter((t) => t.role === role).map((t) => t.type);
}

export function noHandlerMessage(type: string): string {
  return `no handler for task type '${type}' in this version`;
}
