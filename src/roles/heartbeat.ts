/** Heartbeat rows in the node state: the only way roles (and `status`) learn who is alive. */
import { and, eq } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { roleHeartbeats } from "../state/schema/index.ts";
import { processStartTime } from "../util/proc.ts";
import { VERSION } from "../version.ts";
import type { RoleName } from "./role.ts";

export interface HeartbeatKey {
  node: string;
  role: RoleName;
}

export function recordStart(db: StateDb, key: HeartbeatKey): void {
  const now = Date.now();
  const row = {
    ...key,
    state: "running" as const,
    pid: process.pid,
    pstart: processStartTime(),
    version: VERSION,
    startedAt: now,
    lastSeen: now,
    stoppedAt: null,
    error: null,
  };
  db.insert(roleHeartbeats).values(row).onConflictDoUpdate({ target: [roleHeartbeats.node, roleHeartbeats.role], set: row }).run();
}

/** Refreshes last_seen of every role this process runs, in one statement. */
export function beat(db: StateDb, node: string): void {
  db.update(roleHeartbeats)
    .set({ lastSeen: Date.now() })
    .where(and(eq(roleHeartbeats.node, node), eq(roleHeartbeats.pid, process.pid), eq(roleHeartbeats.state, "running")))
    .run();
}

export function recordStop(db: StateDb, key: HeartbeatKey, error?: string): void {
  db.update(roleHeartbeats)
    .set({ state: error ? "failed" : "stopped", stoppedAt: Date.now(), error: error ?? null })
    .where(and(eq(roleHeartbeats.node, key.node), eq(roleHeartbeats.role, key.role)))
    .run();
}

/** A role that could not start: recorded as failed with the reason, without a live pid. */
export function recordStartFailure(db: StateDb, key: HeartbeatKey, error: string): void {
  recordStart(db, key);
  recordStop(db, key, error);
}
