/**
 * The audit log: every state-changing request and every login attempt, with time (UTC),
 * auth-id, source address, action, target and result. Each event goes into the node state
 * database (for `audit list` and the API) and, as one JSON line, into `<log dir>/audit.log`
 * (for log shipping and `jq`). Callers pass no secrets; `details` is redacted all the same.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { and, desc, eq, gte } from "drizzle-orm";
import { redact } from "../log/logger.ts";
import type { StateDb } from "../state/db.ts";
import { auditLog } from "../state/schema/index.ts";

export interface AuditEvent {
  /** Who acted; null when the request carried no valid identity. */
  authId: string | null;
  /** Client address, or "cli" for admin commands on the node. */
  source: string;
  action: string;
  target?: string | null;
  /** "ok", or what went wrong ("401 unauthorized: wrong password"). */
  result: string;
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  id: number;
  time: string;
  authId: string | null;
  source: string;
  action: string;
  target: string | null;
  result: string;
  details: Record<string, unknown> | null;
}

export const AUDIT_FILE = "audit.log";

export interface AuditSink {
  record(ev: AuditEvent): AuditRecord;
}

/**
 * Records one event. The database row is written first (it is what `audit list` shows); a
 * failure to append to the file is reported through `onFileError` rather than failing an
 * action that has already happened.
 */
export function recordAudit(db: StateDb, logDir: string, ev: AuditEvent, onFileError?: (err: Error) => void): AuditRecord {
  const time = Date.now();
  const details = ev.details ? redact(ev.details) : null;
  const row = db
    .insert(auditLog)
    .values({
      time,
      authId: ev.authId,
      source: ev.source,
      action: ev.action,
      target: ev.target ?? null,
      result: ev.result,
      details: details ? JSON.stringify(details) : null,
    })
    .returning({ id: auditLog.id })
    .get();
  const rec: AuditRecord = {
    id: row.id,
    time: new Date(time).toISOString(),
    authId: ev.authId,
    source: ev.source,
    action: ev.action,
    target: ev.target ?? null,
    result: ev.result,
    details,
  };
  try {
    mkdirSync(logDir, { recursive: true });
    appendFileSync(join(logDir, AUDIT_FILE), JSON.stringify(rec) + "\n", { mode: 0o640 });
  } catch (err) {
    onFileError?.(err as Error);
  }
  return rec;
}

export function auditSink(db: StateDb, logDir: string, onFileError?: (err: Error) => void): AuditSink {
  return { record: (ev) => recordAudit(db, logDir, ev, onFileError) };
}

export interface AuditQuery {
  /** unix ms: only events at or after this time */
  since?: number;
  authId?: string;
  /** newest N (default 100, at most 10000) */
  limit?: number;
}

/** Events matching the query, oldest first (the newest `limit` of them). */
export function listAudit(db: StateDb, q: AuditQuery = {}): AuditRecord[] {
  const conds = [];
  if (q.since !== undefined) conds.push(gte(auditLog.time, q.since));
  if (q.authId !== undefined) conds.push(eq(auditLog.authId, q.authId));
  const limit = Math.min(Math.max(q.limit ?? 100, 1), 10_000);
  const rows = db
    .select()
    .from(auditLog)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(desc(auditLog.time), desc(auditLog.id))
    .limit(limit)
    .all();
  return rows.reverse().map((r) => ({
    id: r.id,
    time: new Date(r.time).toISOString(),
    authId: r.authId,
    source: r.source,
    action: r.action,
    target: r.target,
    result: r.result,
    details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
  }));
}
