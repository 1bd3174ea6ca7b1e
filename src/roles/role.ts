/** What every service role is: a name, and a start function that returns something to stop. */
import type { NodeConfig } from "../config/load.ts";
import type { Logger } from "../log/logger.ts";
import type { StateDb } from "../state/db.ts";

export const ROLE_NAMES = ["api", "scheduler", "worker", "verifier", "gc", "sync", "notify"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export function isRoleName(s: string): s is RoleName {
  return (ROLE_NAMES as readonly string[]).includes(s);
}

export const unitName = (role: RoleName) => `ironcore-backup-${role}`;

export interface RoleContext {
  config: NodeConfig;
  db: StateDb;
  log: Logger;
  /** Aborted when the process is asked to stop: long work checks it at safe points. */
  signal: AbortSignal;
}

export interface RunningRole {
  /** Finishes or releases what the role holds; resolves when it is safe to exit. */
  stop(): Promise<void>;
}

export type RoleStart = (ctx: RoleContext) => Promise<RunningRole>;
