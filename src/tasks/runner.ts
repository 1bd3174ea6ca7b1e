/**
 * Runs one task in this process: gives the handler a TaskContext (log, warn, progress, abort
 * signal), renews the task's lease every second (which is also when it learns of `task abort`),
 * and records the result: `OK`, `WARNINGS: N`, `aborted`, or the error text.
 *
 * Handlers stop at their safe points: call `ctx.checkAbort()` (or use `ctx.sleep`, or pass
 * `ctx.signal` to I/O) between units of work that leave everything consistent.
 */
import { and, eq } from "drizzle-orm";
import type { Logger } from "../log/logger.ts";
import { tasks, type TaskRow } from "../state/schema/index.ts";
import { errorMessage } from "../util/errors.ts";
import { TICK_MS, type TaskEnv } from "./env.ts";
import { enqueueTask, finishTask, renewLease, type ProgressSnapshot, type TaskRequest } from "./queue.ts";
import { waitForSlot } from "./slots.ts";
import { appendTaskLog } from "./task-log.ts";

export interface TaskContext {
  upid: string;
  type: string;
  workerId: string | null;
  authId: string;
  params: Record<string, unknown>;
  env: TaskEnv;
  /** Aborted by `task abort`, by a role shutdown past its grace time, or when the task was lost. */
  signal: AbortSignal;
  /** Appends a line to the task log. */
  log(line: string): void;
  /** Logs a warning; the task ends `WARNINGS: N` instead of `OK`. */
  warn(message: string): void;
  /** Work done so far, out of `total` (when known), in `unit` (`B`, `chunks`, `s`). */
  progress(done: number, total?: number | null, unit?: string): void;
  /** Throws the abort reason when the task was aborted: call it at safe points. */
  checkAbort(): void;
  /** Sleeps, ending early with the abort reason. */
  sleep(ms: number): Promise<void>;
}

export type TaskHandler = (ctx: TaskContext) => Promise<void>;

/** Why a task stopped early; its message becomes the task's result. */
export class TaskAbortedError extends Error {
  constructor(message = "aborted") {
    super(message);
    this.name = "TaskAbortedError";
  }
}

export interface RunOptions {
  /** The service log of the role running the task. */
  log?: Logger;
  /** Aborting it stops the task at its next safe point, with the reason as the result. */
  stop?: AbortSignal;
}

/** Runs a task this process has claimed (status running, executor = env.self) to its end. */
export async function runTask(env: TaskEnv, row: TaskRow, handler: TaskHandler, opts: RunOptions = {}): Promise<string> {
  const dir = env.config.taskLogDir;
  const log = (line: string) => appendTaskLog(dir, row.upid, line);
  const slotNote = row.slot !== null ? `, worker slot ${row.slot + 1} of ${env.config.worker.slots}` : "";
  log(`started by process ${env.self.pid} on node ${env.self.node}${slotNote}`);
  opts.log?.info("task started", { upid: row.upid, type: row.type });

  const controller = new AbortController();
  let warnings = 0;
  let lost = false;
  const meter = new ProgressMeter();

  const tick = () => {
    try {
      const r = renewLease(env, row.upid, meter.snapshot());
      if (!r.held) {
        lost = true;
        controller.abort(new TaskAbortedError("task was declared dead by another process"));
      } else if (r.abortRequested && !controller.signal.aborted) {
        log("received abort request");
        controller.abort(new TaskAbortedError("aborted"));
      }
    } catch (err) {
      // A busy database delays a renewal; the lease (60 s) outlasts many missed ticks.
      opts.log?.warn("task lease renewal failed", { upid: row.upid, err: errorMessage(err) });
    }
  };
  const timer = setInterval(tick, TICK_MS);
  const onStop = () => controller.abort(opts.stop!.reason instanceof TaskAbortedError ? opts.stop!.reason : new TaskAbortedError(String(opts.stop!.reason ?? "aborted")));
  if (opts.stop?.aborted) onStop();
  else opts.stop?.addEventListener("abort", onStop, { once: true });

  const ctx: TaskContext = {
    upid: row.upid,
    type: row.type,
    workerId: row.workerId,
    authId: row.authId,
    params: JSON.parse(row.params) as Record<string, unknown>,
    env,
    signal: controller.signal,
    log,
    warn: (message) => {
      warnings++;
      log(`WARN: ${message}`);
    },
    progress: (done, total, unit) => meter.set(done, total ?? null, unit ?? null),
    checkAbort: () => {
      if (controller.signal.aborted) throw controller.signal.reason;
    },
    sleep: (ms) => abortableSleep(ms, controller.signal),
  };

  let result: string;
  try {
    // Let the abort flag of a task aborted before it started take effect before any work.
    tick();
    ctx.checkAbort();
    await handler(ctx);
    result = warnings > 0 ? `WARNINGS: ${warnings}` : "OK";
  } catch (err) {
    result = controller.signal.aborted ? errorMessage(controller.signal.reason) : oneLine(errorMessage(err)) || "unknown error";
  } finally {
    clearInterval(timer);
    opts.stop?.removeEventListener("abort", onStop);
  }
  try {
    if (!lost) lost = !renewLease(env, row.upid, meter.snapshot()).held; // the final progress
  } catch {
    // finishTask below reports whether the task is still ours
  }
  if (lost || !finishTask(env, row.upid, result, { warnings, executor: env.self })) {
    log(`ended (${result}) after the task had already been closed by another process`);
    opts.log?.warn("task ended after it was closed elsewhere", { upid: row.upid, result });
    return result;
  }
  opts.log?.info("task finished", { upid: row.upid, result });
  return result;
}

/**
 * Runs a task in the process that asks for it (a backup session in the api role, say): the
 * task is created owned by this process, waits for a worker slot when its type needs one
 * (failing with "all worker slots busy for N s" after worker.queue_timeout), then runs here.
 */
export async function runLocalTask(env: TaskEnv, req: TaskRequest, handler: TaskHandler, opts: RunOptions & { onCreated?: (upid: string) => void } = {}): Promise<{ upid: string; result: string }> {
  let row = enqueueTask(env, req, { owned: true });
  opts.onCreated?.(row.upid);
  if (req.needsSlot) {
    try {
      row = await waitForSlot(env, row.upid, { signal: opts.stop });
    } catch (err) {
      const result = errorMessage(err);
      finishTask(env, row.upid, result, { executor: env.self });
      return { upid: row.upid, result };
    }
  } else {
    row = markRunning(env, row);
  }
  return { upid: row.upid, result: await runTask(env, row, handler, opts) };
}

/** An owned task that needs no slot starts at once. */
function markRunning(env: TaskEnv, row: TaskRow): TaskRow {
  return env.db
    .update(tasks)
    .set({ status: "running", startedAt: Date.now() })
    .where(and(eq(tasks.id, row.id), eq(tasks.status, "queued")))
    .returning()
    .get() ?? row;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Progress and a smoothed rate (units per second), sampled at each lease tick. */
class ProgressMeter {
  private done: number | null = null;
  private total: number | null = null;
  private unit: string | null = null;
  private rate: number | null = null;
  private last: { done: number; at: number } | null = null;

  set(done: number, total: number | null, unit: string | null): void {
    this.done = done;
    this.total = total;
    this.unit = unit;
  }

  snapshot(now = Date.now()): ProgressSnapshot | null {
    if (this.done === null) return null;
    if (this.last && now > this.last.at) {
      const instant = Math.max(0, (this.done - this.last.done) / ((now - this.last.at) / 1000));
      this.rate = this.rate === null ? instant : 0.6 * this.rate + 0.4 * instant;
    }
    this.last = { done: this.done, at: now };
    return { done: this.done, total: this.total, unit: this.unit, rate: this.rate };
  }
}
