/**
 * `ironcore-backup prune ...`:
 *  - `prune <TYPE/ID> --store S [--ns NS] --keep-... [--dry-run]` applies a retention policy to
 *    one group, here and now in this process (like `snapshot forget`: metadata work that takes
 *    moments), and lists what it kept and removed. Scheduled pruning of whole datastores or
 *    namespaces is a `prune` job (task type `prune`, run by the gc role).
 *  - `prune simulate` reads a JSON array of snapshot times on stdin (RFC 3339 strings, or
 *    objects `{"time", "protected"?, "incomplete"?}`) and prints which the keep options would
 *    keep, as JSON `[{"time", "keep", "reason"}]` in input order.
 * The selection is src/maintenance/prune.ts (PBS semantics). citty cannot mix a positional
 * group with subcommands, so the root command dispatches `simulate` itself.
 */
import { defineCommand, runCommand } from "citty";
import { requireDatastore, withRegisteredStore } from "../datastore/admin/index.ts";
import { describeSnapshot, parseNamespace, validateGroup, type GroupRef } from "../datastore/snapshot-path.ts";
import { keepsSomething, type KeepOptions, type PruneCandidate, type PruneResult, pruneGroup, selectPrune } from "../maintenance/prune.ts";
import { openStateDb } from "../state/db.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { machineTimeZone, resolveTimeZone } from "../tasks/calendar/zone.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import { parseOutputFormat, printResult, table } from "./output.ts";

export interface SimulateRow {
  /** As given on input. */
  time: string;
  keep: boolean;
  reason: string;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 with an offset (`Z` or `±hh:mm`) to epoch milliseconds; null when malformed or impossible. */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const wall = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  const check = new Date(wall);
  if (check.getUTCFullYear() !== +y! || check.getUTCMonth() !== +mo! - 1 || check.getUTCDate() !== +d! || +h! > 23 || +mi! > 59 || +s! > 59) return null;
  const offsetMin = /^[Zz]$/.test(zone!) ? 0 : (zone![0] === "-" ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6)));
  return wall - offsetMin * 60_000 + (frac ? Math.floor(Number(frac) * 1000) : 0);
}

/** Parses the stdin document; errors name the element. */
export function parseSimulateInput(text: string): { time: string; candidate: PruneCandidate }[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`stdin: not valid JSON (${(err as Error).message})`, 'give a JSON array such as ["2026-11-26T19:00:00Z", {"time": "2026-11-25T19:00:00Z", "protected": true}]');
  }
  if (!Array.isArray(data)) throw new UsageError("stdin: expected a JSON array of snapshot times");
  const seen = new Map<number, number>();
  return data.map((item, i) => {
    const where = `stdin: element ${i + 1}`;
    const obj = typeof item === "string" ? { time: item } : item;
    if (!obj || typeof obj !== "object" || Array.isArray(obj) || typeof (obj as { time?: unknown }).time !== "string") {
      throw new UsageError(`${where}: expected an RFC 3339 time string or an object with a "time" string`);
    }
    const { time, protected: prot, incomplete, ...rest } = obj as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length) throw new UsageError(`${where}: unknown field '${unknown[0]}' (known: time, protected, incomplete)`);
    for (const [name, v] of [["protected", prot], ["incomplete", incomplete]] as const) {
      if (v !== undefined && typeof v !== "boolean") throw new UsageError(`${where}: "${name}" must be true or false`);
    }
    const ms = parseRfc3339(time as string);
    if (ms === null) throw new UsageError(`${where}: '${time}' is not an RFC 3339 time with an offset, like 2026-11-26T19:00:00Z`);
    const twin = seen.get(ms);
    if (twin !== undefined) throw new UsageError(`${where}: same time as element ${twin}; a group cannot hold two snapshots of one time`);
    seen.set(ms, i + 1);
    return { time: time as string, candidate: { time: ms, protected: prot === true, incomplete: incomplete === true } };
  });
}

export function pruneSimulate(text: string, options: KeepOptions, timeZone: string): SimulateRow[] {
  const input = parseSimulateInput(text);
  const marks = selectPrune(
    input.map((x) => x.candidate),
    options,
    timeZone,
  );
  return input.map((x, i) => ({ time: x.time, keep: marks[i]!.keep, reason: marks[i]!.reason }));
}

function keepCount(name: string, value: unknown): number | undefined {
  if (value === undefined || value === "") return undefined;
  const text = String(value).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name}: expected a whole number of at least 1, got '${value}'`);
  return n;
}

export const keepArgs = {
  "keep-last": { type: "string" as const, description: "keep the N newest snapshots" },
  "keep-hourly": { type: "string" as const, description: "keep the newest snapshot of each of the last N hours that have one" },
  "keep-daily": { type: "string" as const, description: "... of each of the last N days" },
  "keep-weekly": { type: "string" as const, description: "... of each of the last N ISO weeks (Monday first)" },
  "keep-monthly": { type: "string" as const, description: "... of each of the last N months" },
  "keep-yearly": { type: "string" as const, description: "... of each of the last N years" },
};

export function parseKeepArgs(args: Record<string, unknown>): KeepOptions {
  return {
    keepLast: keepCount("keep-last", args["keep-last"]),
    keepHourly: keepCount("keep-hourly", args["keep-hourly"]),
    keepDaily: keepCount("keep-daily", args["keep-daily"]),
    keepWeekly: keepCount("keep-weekly", args["keep-weekly"]),
    keepMonthly: keepCount("keep-monthly", args["keep-monthly"]),
    keepYearly: keepCount("keep-yearly", args["keep-yearly"]),
  };
}

const simulate = defineCommand({
  meta: {
    name: "simulate",
    description: "Show what keep options would keep: reads a JSON array of snapshot times on stdin",
  },
  args: {
    ...keepArgs,
    tz: { type: "string", description: "IANA time zone the periods are read in (default the machine's)" },
    "output-format": { type: "string", description: "json (default), json-pretty or text", default: "json" },
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const zone = resolveTimeZone(args.tz ?? machineTimeZone());
    const rows = pruneSimulate(await Bun.stdin.text(), parseKeepArgs(args), zone);
    printResult(rows, format, (r) => table(["time", "action", "reason"], r.map((x) => [x.time, x.keep ? "keep" : "remove", x.reason])));
  },
});

/** `prune` subcommands besides `prune <group>`. */
export const pruneSubCommands = { simulate };

/** "vm/100" to a group in `ns`; errors name the argument. */
export function parseGroupArg(text: string, ns: string | undefined): GroupRef {
  const parts = text.split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`group '${text}' is not TYPE/ID`, "e.g. vm/100 or host/web1 (namespace with --ns)");
  return validateGroup({ ns: ns ? parseNamespace(ns) : [], type: parts[0] as GroupRef["type"], id: parts[1] });
}

export function renderPrune(r: PruneResult): string {
  const action = (e: PruneResult["entries"][number]) => (e.keep ? "keep" : r.dryRun ? "would remove" : e.removed ? "removed" : `not removed: ${e.error ?? "unknown"}`);
  const lines = [table(["snapshot", "action", "reason"], r.entries.map((e) => [describeSnapshot(e.snapshot), action(e), e.reason]))];
  lines.push(r.dryRun ? `dry run: ${r.entries.filter((e) => !e.keep).length} would be removed, ${r.kept} kept` : `${r.removed} removed, ${r.kept} kept; space returns with the next garbage collection`);
  return lines.join("\n");
}

const groupArgs = {
  group: { type: "positional" as const, required: false as const, description: "TYPE/ID of the backup group (or 'simulate')" },
  store: { type: "string" as const, description: "datastore name (required)" },
  ns: { type: "string" as const, description: "namespace of the group (default the root)" },
  ...keepArgs,
  "dry-run": { type: "boolean" as const, description: "only list what would be removed", default: false },
  "output-format": { type: "string" as const, description: "text (default), json or json-pretty" },
  ...nodeArgs,
};

export default defineCommand({
  meta: { name: "prune", description: "Retention: prune <TYPE/ID> --store S --keep-...; prune simulate (stdin) shows what keep options keep" },
  args: groupArgs,
  async run({ args, rawArgs }) {
    const first = rawArgs.find((a) => !a.startsWith("-"));
    if (first === "simulate" && rawArgs[0] === "simulate") {
      await runCommand(simulate, { rawArgs: rawArgs.slice(1) });
      return;
    }
    const format = parseOutputFormat(args["output-format"]);
    if (!args.group) throw new UsageError("prune: which group? give TYPE/ID", "e.g. ironcore-backup prune vm/100 --store local --keep-last 3");
    if (!args.store) throw new UsageError("prune: --store is required", "name the datastore: --store NAME (see ironcore-backup datastore list)");
    const group = parseGroupArg(args.group, args.ns);
    const keep = parseKeepArgs(args);
    if (!keepsSomething(keep)) throw new UsageError("prune: no keep option given; that would keep everything", "give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly");
    const config = nodeConfig(args);
    const db = openStateDb(config.stateDb);
    const result = await withRegisteredStore(requireDatastore(db, args.store), (ds) => pruneGroup(ds, group, keep, args["dry-run"]));
    printResult({ ...result, entries: result.entries.map((e) => ({ ...e, name: describeSnapshot(e.snapshot) })) }, format, () => renderPrune(result));
    if (result.errors.length) throw new IbsError(`prune ${args.group}: ${result.errors.length} snapshot(s) could not be removed: ${result.errors.join("; ")}`);
  },
});
