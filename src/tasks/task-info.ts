/**
 * What operators see of a task: its state (`queued`, `running`, `OK`, `WARNINGS: N`,
 * `aborted` or the error text), times, executor and progress; and the `task list` filters.
 */
import { and, desc, eq, gte, inArray, like, notLike, or, sql, type SQL } from "drizzle-orm";
import { tasks, type TaskRow } from "../state/schema/index.ts";
import { UsageError } from "../util/errors.ts";
import type { TaskEnv } from "./env.ts";

export function taskStateOf(t: TaskRow): string {
  return t.status === "finished" ? (t.result ?? "unknown") : t.status;
}

export interface TaskProgress {
  done: number;
  total: number | null;
  unit: string | null;
  /** Units per second, smoothed over the last seconds. */
  rate: number | null;
}

export interface TaskInfo {
  upid: string;
  node: string;
  type: string;
  workerId: string | null;
  authId: string;
  state: string;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Seconds from start (or queueing, while queued) to end or now. */
  durationSec: number;
  warnings: number;
  executor: { node: string; pid: number } | null;
  slot: number | null;
  progress: TaskProgress | null;
  abortRequested: boolean;
  jobId: string | null;
  dueAt: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toTaskInfo(t: TaskRow, now = Date.now()): TaskInfo {
  const from = t.startedAt ?? t.queuedAt;
  return {
    upid: t.upid,
    node: t.node,
    type: t.type,
    workerId: t.workerId,
    authId: t.authId,
    state: taskStateOf(t),
    queuedAt: iso(t.queuedAt)!,
    startedAt: iso(t.startedAt),
    endedAt: iso(t.endedAt),
    durationSec: Math.max(0, Math.round(((t.endedAt ?? now) - from) / 100) / 10),
    warnings: t.warnings,
    executor: t.execNode && t.execPid !== null ? { node: t.execNode, pid: t.execPid } : null,
    slot: t.slot,
    progress: t.progressDone === null ? null : { done: t.progressDone, total: t.progressTotal, unit: t.progressUnit, rate: t.progressRate },
    abortRequested: t.abortRequested !== null,
    jobId: t.jobId,
    dueAt: t.dueAt === null ? null : new Date(t.dueAt * 1000).toISOString(),
  };
}

export const STATE_FILTERS = ["queued", "running", "active", "ok", "warning", "error"] as const;
export type StateFilter = (typeof STATE_FILTERS)[number];

export function parseStateFilter(value: string): StateFilter {
  if ((STATE_FILTERS as readonly string[]).includes(value)) return value as StateFilter;
  throw new UsageError(`--state: expected one of ${STATE_FILTERS.join(", ")}, got '${value}'`);
}

function stateCondition(f: StateFilter): SQL {
  switch (f) {
    case "queued":
    case "running":
      return eq(tasks.status, f);
    case "active":
      return inArray(tasks.status, ["queued", "running"]);
    case "ok":
      return eq(tasks.result, "OK");
    case "warning":
      return like(tasks.result, "WARNINGS: %");
    case "error":
      return and(eq(tasks.status, "finished"), sql`${tasks.result} <> 'OK'`, or(notLike(tasks.result, "WARNINGS: %"), sql`${tasks.result} IS NULL`))!;
  }
}

export interface TaskFilter {
  state?: StateFilter;
  type?: string;
  /** Unix ms: tasks queued at or after. */
  since?: number;
  limit?: number;
}

/** Newest first. */
export function listTasks(env: TaskEnv, f: TaskFilter = {}): TaskRow[] {
  const conds: SQL[] = [];
  if (f.state) conds.push(stateCondition(f.state));
  if (f.type) conds.push(eq(tasks.type, f.type));
  if (f.since !== undefined) conds.push(gte(tasks.queuedAt, f.since));
  return env.db
    .select()
    .from(tasks)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(desc(tasks.id))
    .limit(f.limit ?? 50)
    .all();
}

const RELATIVE = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: a duration back from now (`30m`, `2h`, `7d`), epoch seconds, or an RFC 3339 time. */
export function parseSince(text: string, now = Date.now()): number {
  const t = text.trim();
  const rel = RELATIVE.exec(t);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(`--since: expected a duration (30m, 2h, 7d), epoch seconds or an RFC 3339 time, got '${text}'`);
}

export function parseLimit(value: unknown, fallback = 50): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new UsageError(`--limit: expected a whole number 1..100000, got '${value}'`);
  return n;
}

/** `12.5/60 s (21%)`, `1.2 GiB/4.0 GiB (30%)`. */
export function formatProgress(p: TaskProgress | null): string {
  if (!p) return "-";
  const amount = (n: number) => (p.unit === "B" ? humanBytes(n) : `${round(n)}${p.unit ? ` ${p.unit}` : ""}`);
  if (p.total === null || p.total <= 0) return amount(p.done);
  return `${p.unit === "B" ? humanBytes(p.done) : round(p.done)}/${amount(p.total)} (${Math.floor((p.done / p.total) * 100)}%)`;
}

export function formatRate(p: TaskProgress | null): string {
  if (!p || p.rate === null) return "-";
  return p.unit === "B" ? `${humanBytes(p.rate)}/s` : `${round(p.rate)} ${p.unit ?? ""}/s`.replace(" /s", "/s");
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const p2 = (n: number) => String(n).padStart(2, "0");

/** `2026-11-26 21:02:16` in the local zone: for tables (JSON keeps ISO UTC). */
export function localTime(isoOrMs: string | number | null): string {
  if (isoOrMs === null) return "-";
  const d = new Date(isoOrMs);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** `45s`, `12m05s`, `3h02m`, `2d04h`. */
export function formatDuration(sec: number): string {
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${p2(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${p2(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${p2(Math.floor((s % 86_400) / 3600))}h`;
}

/** Two aligned columns: `key  value`. */
export function keyValues(rows: [string, string | number][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
