/**
 * The `prune` task type (run by the `gc` role: like GC it is datastore housekeeping that
 * needs no worker slot, and a prune job is usually scheduled just before GC). One task
 * applies the keep options to every group of a namespace and the namespaces below it
 * (`ns`, default the root; `max-depth` limits how far down). Options are strings:
 * `keep-last`, `keep-hourly`, `keep-daily`, `keep-weekly`, `keep-monthly`, `keep-yearly`,
 * `ns`, `max-depth`, `dry-run`.
 *
 * A snapshot that cannot be removed is a warning (the others still go); space returns with
 * the next garbage collection.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { describeGroup, describeSnapshot, parseNamespace, type Namespace } from "../datastore/snapshot-path.ts";
import type { TaskHandler } from "../tasks/runner.ts";
import { UsageError } from "../util/errors.ts";
import { keepsSomething, type KeepOptions, pruneGroup } from "./prune.ts";
import { boolOption, intOption, taskOptions, withTaskStore } from "./task-support.ts";

const KEEP_KEYS = ["keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"] as const;
const KNOWN: readonly string[] = [...KEEP_KEYS, "ns", "max-depth", "dry-run"];

export interface PruneTaskOptions {
  keep: KeepOptions;
  ns: Namespace;
  maxDepth: number | undefined;
  dryRun: boolean;
}

export function parsePruneTaskOptions(options: Record<string, string>): PruneTaskOptions {
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length) throw new UsageError(`prune: unknown option '${unknown[0]}'`, `known options: ${KNOWN.join(", ")}`);
  const keep: KeepOptions = {
    keepLast: intOption(options, "keep-last", 1),
    keepHourly: intOption(options, "keep-hourly", 1),
    keepDaily: intOption(options, "keep-daily", 1),
    keepWeekly: intOption(options, "keep-weekly", 1),
    keepMonthly: intOption(options, "keep-monthly", 1),
    keepYearly: intOption(options, "keep-yearly", 1),
  };
  // Without any keep option the policy would keep everything: almost surely a mistake in a job.
  if (!keepsSomething(keep)) throw new UsageError("prune: no keep option given", `set at least one of: ${KEEP_KEYS.join(", ")}`);
  return { keep, ns: options.ns ? parseNamespace(options.ns) : [], maxDepth: intOption(options, "max-depth", 0), dryRun: boolOption(options, "dry-run") ?? false };
}

/** The namespace and those below it, at most `maxDepth` levels down. */
export async function namespacesUnder(ds: Datastore, ns: Namespace, maxDepth: number | undefined): Promise<Namespace[]> {
  const below = maxDepth === 0 ? [] : await ds.namespaces.list(ns, { recursive: true });
  return [ns, ...below.filter((n) => maxDepth === undefined || n.length - ns.length <= maxDepth)];
}

export const pruneTask: TaskHandler = async (ctx) => {
  const o = parsePruneTaskOptions(taskOptions(ctx));
  await withTaskStore(ctx, async (ds) => {
    let kept = 0;
    let removed = 0;
    ctx.log(`prune datastore ${ds.name}${o.ns.length ? ` namespace ${o.ns.join("/")}` : ""}${o.dryRun ? " (dry run)" : ""}`);
    for (const ns of await namespacesUnder(ds, o.ns, o.maxDepth)) {
      for (const group of await ds.groups.list(ns)) {
        ctx.checkAbort();
        const r = await pruneGroup(ds, group, o.keep, o.dryRun);
        for (const e of r.entries) {
          if (!e.keep) ctx.log(`${o.dryRun ? "would remove" : e.removed ? "removed" : "kept (could not remove)"} ${describeSnapshot(e.snapshot)}`);
        }
        for (const err of r.errors) ctx.warn(`prune ${describeGroup(group)}: ${err}`);
        kept += r.kept;
        removed += r.removed;
      }
    }
    ctx.log(`prune done: ${kept} snapshots kept, ${removed} removed`);
  });
};
