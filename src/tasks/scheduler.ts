/**
 * Starts due jobs as tasks, exactly once per due time, however many scheduler processes run.
 *
 * For each enabled job: the due time is the latest calendar time after the job's `last_due`
 * and not after now. In one BEGIN IMMEDIATE transaction the job's `last_due` is compared and
 * moved to that due time (compare-and-set) and the task is inserted; a second scheduler sees
 * the new `last_due` and finds nothing due, and the unique (job_id, due_at) index on tasks
 * would refuse a second task for the same due time anyway.
 *
 * After downtime only the latest missed due time runs (once, not once per missed time); the
 * same holds when a schedule fires more often than the scheduler checks.
 */
import { and, eq } from "drizzle-orm";
import { jobs, type TaskRow } from "../state/schema/index.ts";
import { errorMessage } from "../util/errors.ts";
import { parseCalendarEvent, resolveTimeZone, type CalendarEvent } from "./calendar/index.ts";
import { compileMatcher } from "./calendar/match.ts";
import { nextInstant } from "./calendar/next.ts";
import { immediate, type TaskEnv } from "./env.ts";
import { jobTaskRequest, schedulerTimeZone } from "./jobs.ts";
import { insertTask } from "./queue.ts";
import { announceTask, requestFor } from "./submit.ts";

/**
 * The latest due time of `ev` in (afterSec, nowSec], or null. A binary search over the first
 * run after t (which only grows with t) keeps this cheap after a long downtime even for
 * every-second schedules.
 */
export function latestDue(ev: CalendarEvent, afterSec: number, nowSec: number, timeZone: string): number | null {
  const zone = ev.utc ? "UTC" : resolveTimeZone(timeZone);
  const m = compileMatcher(ev);
  const next = (t: number) => nextInstant(m, zone, t);
  const first = next(afterSec);
  if (first === null || first > nowSec) return null;
  // Invariant: next(lo) <= now < next(hi).
  let lo = afterSec;
  let hi = nowSec;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const n = next(mid);
    if (n !== null && n <= nowSec) lo = mid;
    else hi = mid;
  }
  return next(lo);
}

export interface StartedJob {
  jobId: string;
  dueAt: number;
  task: TaskRow;
}

export interface SchedulerRoundResult {
  started: StartedJob[];
  errors: { jobId: string; err: string }[];
}

export interface RoundHooks {
  /** Called between reading a due job and claiming it: lets tests put a rival scheduler in the gap. */
  beforeClaim?: (jobId: string) => void;
}

export function runDueJobs(env: TaskEnv, now = Date.now(), zone = schedulerTimeZone(), hooks: RoundHooks = {}): SchedulerRoundResult {
  const nowSec = Math.floor(now / 1000);
  const out: SchedulerRoundResult = { started: [], errors: [] };
  for (const job of env.db.select().from(jobs).where(eq(jobs.enabled, true)).all()) {
    try {
      const due = latestDue(parseCalendarEvent(job.schedule), job.lastDue, nowSec, zone);
      if (due === null) continue;
      hooks.beforeClaim?.(job.id);
      const task = immediate(env, () => {
        const moved = env.db
          .update(jobs)
          .set({ lastDue: due })
          .where(and(eq(jobs.id, job.id), eq(jobs.lastDue, job.lastDue), eq(jobs.enabled, true)))
          .returning()
          .get();
        if (!moved) return null; // another scheduler took this due time, or the job changed
        const row = insertTask(env, requestFor(jobTaskRequest(moved, due)), { now });
        env.db.update(jobs).set({ lastUpid: row.upid }).where(eq(jobs.id, job.id)).run();
        return row;
      });
      if (task) out.started.push({ jobId: job.id, dueAt: due, task: announceTask(env, task) });
    } catch (err) {
      out.errors.push({ jobId: job.id, err: errorMessage(err) });
    }
  }
  return out;
}
