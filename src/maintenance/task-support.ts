/**
 * What the gc, verify and prune task handlers share: the datastore named in the task's params
 * (opened through the node's registry, so an unmounted disk is refused by name), the task's
 * string options (the same map `job create --option k=v` and the CLI commands produce), and a
 * Report that writes the library's events into the task log.
 */
import { openRegisteredStore, requireDatastore } from "../datastore/admin/index.ts";
import type { Datastore } from "../datastore/datastore.ts";
import type { TaskContext } from "../tasks/runner.ts";
import { UsageError } from "../util/errors.ts";
import type { Report } from "./report.ts";

export function taskStore(ctx: TaskContext): string {
  const store = ctx.params.store;
  if (typeof store !== "string" || store === "") {
    throw new UsageError(`${ctx.type} task: no datastore given`, `set one: ironcore-backup job update <id> --store NAME`);
  }
  return store;
}

export function taskOptions(ctx: TaskContext): Record<string, string> {
  const o = ctx.params.options;
  if (!o || typeof o !== "object" || Array.isArray(o)) return {};
  return Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

/** Opens the task's datastore, runs `fn`, closes it whatever happens. */
export async function withTaskStore<T>(ctx: TaskContext, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  const ds = await openRegisteredStore(requireDatastore(ctx.env.db, taskStore(ctx)));
  try {
    return await fn(ds);
  } finally {
    ds.close();
  }
}

/**
 * Library events into the task log: progress as the task's progress (the library logs its
 * phase changes itself), warnings through ctx.warn so the task ends `WARNINGS: N`, errors as `ERROR:` lines.
 */
export function taskReport(ctx: TaskContext, opts: { countWarnings?: boolean } = {}): Report {
  return (event) => {
    if (event.type === "progress") {
      ctx.progress(event.done, event.total);
      return;
    }
    const text = withContext(event.msg, event.fields);
    if (event.level === "warn" && opts.countWarnings !== false) ctx.warn(text);
    else if (event.level === "warn") ctx.log(`WARN: ${text}`);
    else if (event.level === "error") ctx.log(`ERROR: ${text}`);
    else ctx.log(text);
  };
}

/** Names the chunk or snapshot of an event when the message does not already. */
function withContext(msg: string, fields: Record<string, unknown> | undefined): string {
  const extra: string[] = [];
  const chunk = fields?.chunk;
  if (typeof chunk === "string" && !msg.includes(chunk.slice(0, 8))) extra.push(`chunk ${chunk}`);
  const snapshot = fields?.snapshot;
  if (typeof snapshot === "string" && !msg.includes(snapshot)) extra.push(`snapshot ${snapshot}`);
  return extra.length ? `${msg} (${extra.join(", ")})` : msg;
}

export function intOption(options: Record<string, string>, key: string, min = 0): number | undefined {
  const v = options[key];
  if (v === undefined || v === "") return undefined;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`option ${key}: expected a whole number of at least ${min}, got '${v}'`);
  return n;
}

export function boolOption(options: Record<string, string>, key: string): boolean | undefined {
  const v = options[key];
  if (v === undefined || v === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`option ${key}: expected true or false, got '${v}'`);
}
