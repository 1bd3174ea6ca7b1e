/**
 * Pruning: which snapshots of a group a retention policy keeps, with Proxmox Backup Server's
 * semantics exactly (docs/operations.md "Pruning" has examples):
 *  1. Snapshots are taken newest first. Among unfinished ones (no manifest), the newest is
 *     kept ("keep-partial") only when no finished snapshot is newer; the others are removed.
 *  2. The keep options apply in the fixed order last, hourly, daily, weekly, monthly, yearly.
 *     Each one walks the snapshots not yet decided, newest first: the newest snapshot of a
 *     period it has not taken yet is kept (until it has taken N periods, then it stops), a
 *     further snapshot of a period it already took is removed (later options cannot pick it),
 *     and periods that earlier options already cover (by a kept snapshot) are skipped.
 *  3. Protected snapshots are always kept and do not count for any option.
 *  4. Everything left undecided is removed; with no keep option at all, everything is kept.
 * Periods are read in a time zone (the server's, by default), weeks are ISO weeks.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { describeGroup, describeSnapshot, type GroupRef, parseBackupTime, type SnapshotRef } from "../datastore/snapshot-path.ts";
import { machineTimeZone, resolveTimeZone } from "../tasks/calendar/zone.ts";
import { errorMessage } from "../util/errors.ts";
import { type Period, periodKey } from "./prune-periods.ts";

export interface KeepOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface PruneCandidate {
  /** Backup time, epoch milliseconds. */
  time: number;
  protected?: boolean;
  /** No manifest: a backup that did not finish (or is still running). */
  incomplete?: boolean;
}

export type KeepReason = "keep-last" | "keep-hourly" | "keep-daily" | "keep-weekly" | "keep-monthly" | "keep-yearly" | "protected" | "keep-partial" | "keep-all";
export type RemoveReason = "remove" | "incomplete";

export interface PruneMark {
  keep: boolean;
  reason: KeepReason | RemoveReason;
}

const RULES: { option: keyof KeepOptions; reason: KeepReason; period: Period | "last" }[] = [
  { option: "keepLast", reason: "keep-last", period: "last" },
  { option: "keepHourly", reason: "keep-hourly", period: "hourly" },
  { option: "keepDaily", reason: "keep-daily", period: "daily" },
  { option: "keepWeekly", reason: "keep-weekly", period: "weekly" },
  { option: "keepMonthly", reason: "keep-monthly", period: "monthly" },
  { option: "keepYearly", reason: "keep-yearly", period: "yearly" },
];

export function keepsSomething(options: KeepOptions): boolean {
  return RULES.some((r) => (options[r.option] ?? 0) > 0);
}

/** Decides every candidate; the result is in the order of `list`. Times must be distinct. */
export function selectPrune(list: readonly PruneCandidate[], options: KeepOptions, timeZone = machineTimeZone()): PruneMark[] {
  const zone = resolveTimeZone(timeZone);
  if (!keepsSomething(options)) return list.map((c) => ({ keep: true, reason: c.protected ? "protected" : "keep-all" }));
  const order = list.map((_, i) => i).sort((a, b) => list[b]!.time - list[a]!.time); // newest first
  const marks = new Map<number, PruneMark>();

  let keepUnfinished = true;
  for (const i of order) {
    if (!list[i]!.incomplete) keepUnfinished = false;
    else {
      marks.set(i, keepUnfinished ? { keep: true, reason: "keep-partial" } : { keep: false, reason: "incomplete" });
      keepUnfinished = false;
    }
  }

  for (const rule of RULES) {
    const count = options[rule.option] ?? 0;
    if (count <= 0) continue;
    const key = (i: number) => (rule.period === "last" ? String(list[i]!.time) : periodKey(rule.period, list[i]!.time / 1000, zone));
    const covered = new Set<string>();
    for (const [i, m] of marks) if (m.keep && m.reason.startsWith("keep-") && m.reason !== "keep-partial") covered.add(key(i));
    const taken = new Set<string>();
    for (const i of order) {
      if (marks.has(i)) continue;
      if (list[i]!.protected) {
        marks.set(i, { keep: true, reason: "protected" });
        continue;
      }
      const k = key(i);
      if (covered.has(k)) continue;
      if (!taken.has(k)) {
        if (taken.size >= count) break;
        taken.add(k);
        marks.set(i, { keep: true, reason: rule.reason });
      } else {
        marks.set(i, { keep: false, reason: "remove" });
      }
    }
  }

  return list.map((c, i) => (c.protected ? { keep: true, reason: "protected" } : (marks.get(i) ?? { keep: false, reason: "remove" })));
}

export interface PruneEntry extends PruneMark {
  snapshot: SnapshotRef;
  protected: boolean;
  incomplete: boolean;
  /** Whether it was removed (false in a dry run). */
  removed: boolean;
  error?: string;
}

export interface PruneResult {
  group: GroupRef;
  dryRun: boolean;
  timeZone: string;
  /** Newest first. */
  entries: PruneEntry[];
  kept: number;
  removed: number;
  errors: string[];
}

/**
 * Applies a retention policy to one group: computes the selection and, unless `dryRun`,
 * forgets what it drops, oldest first (unfinished directories go only if no live writer holds
 * them). A snapshot that cannot be removed (in use, protected meanwhile) is an error entry;
 * the others still go. Space returns with the next garbage collection.
 */
export async function pruneGroup(ds: Datastore, group: GroupRef, options: KeepOptions & { timeZone?: string }, dryRun: boolean): Promise<PruneResult> {
  if (!dryRun) ds.assert("write", `prune ${describeGroup(group)}`);
  const zone = resolveTimeZone(options.timeZone ?? machineTimeZone());
  const listing = (await ds.snapshots.list(group, { includeIncomplete: true })).reverse();
  const marks = selectPrune(
    listing.map((s) => ({ time: parseBackupTime(s.ref.time) * 1000, protected: s.protected, incomplete: !s.complete })),
    options,
    zone,
  );
  const entries: PruneEntry[] = listing.map((s, i) => ({ snapshot: s.ref, protected: s.protected, incomplete: !s.complete, ...marks[i]!, removed: false }));
  const errors: string[] = [];
  if (!dryRun) {
    for (const entry of [...entries].reverse()) {
      if (entry.keep) continue;
      try {
        if (entry.incomplete) {
          entry.removed = await ds.snapshots.removeIncomplete(entry.snapshot);
          if (!entry.removed) entry.error = "still being written (a live backup holds it)";
        } else {
          await ds.snapshots.forget(entry.snapshot);
          entry.removed = true;
        }
      } catch (err) {
        entry.error = errorMessage(err);
      }
      if (entry.error) errors.push(`${describeSnapshot(entry.snapshot)}: ${entry.error}`);
    }
  }
  return {
    group,
    dryRun,
    timeZone: zone,
    entries,
    kept: entries.filter((e) => e.keep).length,
    removed: entries.filter((e) => e.removed).length,
    errors,
  };
}
