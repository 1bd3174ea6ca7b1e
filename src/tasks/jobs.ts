/**
 * Scheduled jobs: a type (gc, verify, prune, sync; tape later), a calendar event, the options
 * for its task, an enabled flag. A job runs as a task of the same type; the module that
 * implements the type registers its handler (registry.ts). Until then a run ends with
 * "no handler for task type '<type>' in this version" instead of pretending.
 *
 * `last_due` (epoch s) is the scheduler's bookmark: every due time up to it has been handled.
 * It starts at creation, and jumps to "now" when the schedule changes or the job is enabled,
 * so neither makes a job run for due times from before.
 */
import { and, desc, eq } from "drizzle-orm";
import { jobs, tasks, type JobRow, type TaskRow } from "../state/schema/index.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import { machineTimeZone, nextRuns, normalizeCalendarEvent, parseCalendarEvent } from "./calendar/index.ts";
import { LOCAL_ADMIN_AUTH_ID, type TaskEnv } from "./env.ts";
import { submitTask, type SubmitRequest } from "./submit.ts";
import { taskStateOf } from "./task-info.ts";

export const JOB_TYPES = ["gc", "verify", "prune", "sync"] as const;
export type JobType = (typeof JOB_TYPES)[number];

const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const STORE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const OPTION_KEY_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export interface JobSpec {
  id: string;
  type: string;
  schedule: string;
  store?: string | null;
  options?: Record<string, string>;
  enabled?: boolean;
  comment?: string | null;
}

export interface JobPatch {
  schedule?: string;
  store?: string | null;
  /** Set or replace these options. */
  options?: Record<string, string>;
  /** Remove these option keys. */
  deleteOptions?: string[];
  enabled?: boolean;
  comment?: string | null;
}

export interface JobInfo {
  id: string;
  type: string;
  schedule: string;
  normalizedSchedule: string;
  store: string | null;
  options: Record<string, string>;
  enabled: boolean;
  comment: string | null;
  createdAt: string;
  updatedAt: string;
  lastUpid: string | null;
  /** `queued`, `running`, `OK`, `WARNINGS: N`, `aborted` or the error text; null before the first run. */
  lastState: string | null;
  /** ISO time of the next due time (in the past when the scheduler is late), null when disabled. */
  nextRun: string | null;
  timeZone: string;
}

/** Jobs are evaluated in the machine's time zone (set TZ for the services to change it). */
export function schedulerTimeZone(): string {
  return machineTimeZone();
}

function checkId(id: string): void {
  if (!JOB_ID_RE.test(id))
    throw new UsageError(`job id '${id}' is not valid`, "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit");
}

function checkType(type: string): asserts type is JobType {
  if (!(JOB_TYPES as readonly string[]).includes(type))
    throw new UsageError(`job type '${type}' is not known`, `choose one of: ${JOB_TYPES.join(", ")}`);
}

function checkStore(store: string | null | undefined): void {
  if (store != null && !STORE_RE.test(store)) throw new UsageError(`datastore name '${store}' is not valid`);
}

function checkOptions(options: Record<string, string>): void {
  for (const k of Object.keys(options)) {
    if (!OPTION_KEY_RE.test(k)) throw new UsageError(`job option '${k}' is not a valid name`, "options are key=value with a key of letters, digits, '_' or '-'");
  }
}

/** `--option k=v` values into an object; a later key wins. */
export function parseOptionArgs(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    if (i <= 0) throw new UsageError(`--option '${v}': expected key=value`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  checkOptions(out);
  return out;
}

export function getJobRow(env: TaskEnv, id: string): JobRow | undefined {
  return env.db.select().from(jobs).where(eq(jobs.id, id)).get();
}

export function requireJobRow(env: TaskEnv, id: string): JobRow {
  const row = getJobRow(env, id);
  if (!row) throw new IbsError(`job '${id}' does not exist`, 1, "list jobs with: ironcore-backup job list");
  return row;
}

/** Checks a job's full option set for its type (the task's own parser; maintenance/job-options.ts). */
export type JobOptionsCheck = (type: string, options: Record<string, string>) => void;

export function createJob(env: TaskEnv, spec: JobSpec, now = Date.now(), checkTypeOptions?: JobOptionsCheck): JobInfo {
  checkId(spec.id);
  checkType(spec.type);
  parseCalendarEvent(spec.schedule);
  checkStore(spec.store);
  checkOptions(spec.options ?? {});
  checkTypeOptions?.(spec.type, spec.options ?? {});
  if (getJobRow(env, spec.id)) throw new IbsError(`job '${spec.id}' already exists`, 1, "change it with: ironcore-backup job update");
  env.db
    .insert(jobs)
    .values({
      id: spec.id,
      type: spec.type,
      schedule: spec.schedule,
      store: spec.store ?? null,
      options: JSON.stringify(spec.options ?? {}),
      enabled: spec.enabled ?? true,
      comment: spec.comment ?? null,
      createdAt: now,
      updatedAt: now,
      lastDue: Math.floor(now / 1000),
    })
    .run();
  return jobInfo(env, requireJobRow(env, spec.id), now);
}

export function updateJob(env: TaskEnv, id: string, patch: JobPatch, now = Date.now(), checkTypeOptions?: JobOptionsCheck): JobInfo {
  const row = requireJobRow(env, id);
  if (patch.schedule !== undefined) parseCalendarEvent(patch.schedule);
  checkStore(patch.store);
  checkOptions(patch.options ?? {});
  const options: Record<string, string> = { ...JSON.parse(row.options), ...patch.options };
  for (const k of patch.deleteOptions ?? []) delete options[k];
  checkTypeOptions?.(row.type, options);
  const rescheduled = (patch.schedule !== undefined && patch.schedule !== row.schedule) || (patch.enabled === true && !row.enabled);
  env.db
    .update(jobs)
    .set({
      ...(patch.schedule !== undefined ? { schedule: patch.schedule } : {}),
      ...(patch.store !== undefined ? { store: patch.store } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.comment !== undefined ? { comment: patch.comment } : {}),
      options: JSON.stringify(options),
      updatedAt: now,
      ...(rescheduled ? { lastDue: Math.floor(now / 1000) } : {}),
    })
    .where(eq(jobs.id, id))
    .run();
  return jobInfo(env, requireJobRow(env, id), now);
}

export function removeJob(env: TaskEnv, id: string): void {
  requireJobRow(env, id);
  env.db.delete(jobs).where(eq(jobs.id, id)).run();
}

/** What a job's task looks like: its type, what it works on, and the job's options. */
export function jobTaskRequest(job: JobRow, dueAt: number | null): SubmitRequest {
  return {
    type: job.type,
    workerId: job.store ? `${job.store}:${job.id}` : job.id,
    authId: LOCAL_ADMIN_AUTH_ID,
    params: { job: job.id, store: job.store, options: JSON.parse(job.options) },
    jobId: job.id,
    dueAt,
  };
}

/** `job run <id>`: queue the job's task now, outside its schedule. */
export function runJobNow(env: TaskEnv, id: string, now = Date.now()): TaskRow {
  const job = requireJobRow(env, id);
  const row = submitTask(env, jobTaskRequest(job, null), now);
  env.db.update(jobs).set({ lastUpid: row.upid }).where(eq(jobs.id, id)).run();
  return row;
}

export function nextRunOf(job: JobRow, zone: string): Date | null {
  if (!job.enabled) return null;
  return nextRuns(parseCalendarEvent(job.schedule), new Date(job.lastDue * 1000), 1, zone)[0] ?? null;
}

export function jobInfo(env: TaskEnv, job: JobRow, _now = Date.now(), zone = schedulerTimeZone()): JobInfo {
  const last = job.lastUpid
    ? env.db.select().from(tasks).where(eq(tasks.upid, job.lastUpid)).get()
    : env.db.select().from(tasks).where(and(eq(tasks.jobId, job.id))).orderBy(desc(tasks.id)).limit(1).get();
  const next = nextRunOf(job, zone);
  return {
    id: job.id,
    type: job.type,
    schedule: job.schedule,
    normalizedSchedule: normalizeCalendarEvent(parseCalendarEvent(job.schedule)),
    store: job.store,
    options: JSON.parse(job.options),
    enabled: job.enabled,
    comment: job.comment,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    lastUpid: last?.upid ?? null,
    lastState: last ? taskStateOf(last) : null,
    nextRun: next ? next.toISOString() : null,
    timeZone: zone,
  };
}

export function listJobs(env: TaskEnv, now = Date.now()): JobInfo[] {
  const zone = schedulerTimeZone();
  return env.db.select().from(jobs).orderBy(jobs.id).all().map((j) => jobInfo(env, j, now, zone));
}
