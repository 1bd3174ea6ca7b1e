/**
 * Starting GC and verification on request, shared by `gc start` / `verify start` and the API's
 * `POST /datastore/{store}/gc|verify`: the options checked (each error names its option, so
 * the CLI can print it and the API can answer 400 naming the field), the refusals that must
 * come before anything is queued (unknown store, GC on a quarantined store), then the task
 * queued for the role that runs its type. The task handlers parse the same option strings
 * again (gc-task.ts, verify-task.ts), so a job and a manual start accept the same things.
 */
import { assertGcAllowed, requireDatastore, withRegisteredStore } from "../datastore/admin/index.ts";
import type { TaskRow } from "../state/schema/index.ts";
import type { TaskEnv } from "../tasks/env.ts";
import { submitTask } from "../tasks/submit.ts";
import { UsageError } from "../util/errors.ts";
import { GC_TASK_OPTIONS, parseGcTaskOptions } from "./gc-task.ts";
import { parseVerifyTaskOptions } from "./verify-task.ts";

/** A bad start option; `option` is its name (`grace-seconds`, `outdated-after`, ...). */
export class StartOptionError extends UsageError {
  /** The message without its leading option name, for callers that name the field themselves (the API's `body.<option>: …`). */
  readonly reason: string;
  constructor(
    readonly option: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
    this.name = "StartOptionError";
    const prefix = [`${option}: `, `option ${option}: `, `--${option}: `, "verify: "].find((p) => message.startsWith(p));
    this.reason = prefix ? message.slice(prefix.length) : message;
  }
}

/** Option values as a CLI (strings) or a JSON body (numbers, booleans) gives them. */
export type StartOptionValues = Record<string, string | number | boolean | null | undefined>;

export const GC_OPTION_NAMES = GC_TASK_OPTIONS;
export const VERIFY_OPTION_NAMES = ["ns", "snapshot", "ignore-verified", "outdated-after", "verify-window-days", "max-concurrent-snapshots", "notification-mode"] as const;

/** The task's option strings; absent, null and empty values are left out (the default applies). */
function optionStrings(values: StartOptionValues, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(values)) {
    if (v === undefined || v === null || v === "") continue;
    if (!known.includes(key)) throw new StartOptionError(key, `unknown option '${key}'`, `known options: ${known.join(", ")}`);
    out[key] = String(v);
  }
  return out;
}

/** `grace-seconds`: a whole number of seconds, 0 or more. */
export function gcStartOptions(values: StartOptionValues): Record<string, string> {
  const options = optionStrings(values, GC_OPTION_NAMES);
  try {
    parseGcTaskOptions(options); // the task's own parser: what it accepts, a job accepts too
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const grace = options["grace-seconds"];
    throw new StartOptionError("grace-seconds", `--grace-seconds: expected a whole number of seconds, got '${grace}'`, "0 is safe while writers register their start (the default is 300)");
  }
  return options;
}

/**
 * The options of `verify start`, checked by the verify task's own parser: each option alone
 * first, so the error names the option at fault, then together (options that exclude each
 * other).
 */
export function verifyStartOptions(values: StartOptionValues): Record<string, string> {
  const options = optionStrings(values, VERIFY_OPTION_NAMES);
  for (const [key, v] of Object.entries(options)) {
    try {
      parseVerifyTaskOptions({ [key]: v });
    } catch (err) {
      if (err instanceof UsageError) throw new StartOptionError(key, err.message, err.hint);
      throw err;
    }
  }
  try {
    parseVerifyTaskOptions(options);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // The only combination refused today: one snapshot with a rolling window.
    throw new StartOptionError(options["verify-window-days"] !== undefined ? "verify-window-days" : Object.keys(options)[0] ?? "options", err.message, err.hint);
  }
  return options;
}

export interface StartRequest {
  store: string;
  /** Who asked: the API caller, or root@pam for the admin CLI. */
  authId: string;
  /** Raw option values; checked here. */
  options: StartOptionValues;
}

function submitStoreTask(env: TaskEnv, type: string, store: string, authId: string, options: Record<string, string>): TaskRow {
  return submitTask(env, { type, workerId: store, authId, params: { store, options } });
}

/**
 * Queues a `gc` task. Refused at once (not in a task log) for an unknown store and for a
 * store whose mode forbids GC: a quarantined store with GC_QUARANTINE_REFUSAL.
 */
export async function startGc(env: TaskEnv, req: StartRequest): Promise<TaskRow> {
  const options = gcStartOptions(req.options);
  await withRegisteredStore(requireDatastore(env.db, req.store), (ds) => assertGcAllowed(ds));
  return submitStoreTask(env, "gc", req.store, req.authId, options);
}

/** Queues a `verify` task. The store's mode is the task's business: verify reads, so even a quarantined store is verified. */
export function startVerify(env: TaskEnv, req: StartRequest): TaskRow {
  const options = verifyStartOptions(req.options);
  requireDatastore(env.db, req.store);
  return submitStoreTask(env, "verify", req.store, req.authId, options);
}
