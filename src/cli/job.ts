/**
 * `ironcore-backup job list|show|create|update|remove|run`: scheduled jobs (gc, verify, prune,
 * sync). Thin face over src/tasks/jobs.ts; the scheduler role starts them when due.
 */
import { defineCommand } from "citty";
import { openStateDb } from "../state/db.ts";
import { taskEnv, type TaskEnv } from "../tasks/env.ts";
import { createJob, jobInfo, JOB_TYPES, listJobs, parseOptionArgs, removeJob, requireJobRow, runJobNow, updateJob, type JobInfo } from "../tasks/jobs.ts";
import { checkJobOptions } from "../maintenance/job-options.ts";
import { keyValues, localTime, taskStateOf } from "../tasks/task-info.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

function openJobs(args: { config?: unknown; "data-dir"?: unknown }): TaskEnv {
  const config = nodeConfig(args);
  return taskEnv(config, openStateDb(config.stateDb));
}

/** citty keeps only the last of a repeated option: read every `--name v` / `--name=v` from the raw args. */
export function repeatedOption(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i];
    if (a === `--${name}`) {
      if (i + 1 >= rawArgs.length) throw new UsageError(`--${name}: missing value`);
      out.push(rawArgs[++i]);
    } else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

const optionsText = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(" ") || "-";

export function renderJob(j: JobInfo): string {
  return keyValues([
    ["id", j.id],
    ["type", j.type],
    ["store", j.store ?? "-"],
    ["schedule", j.schedule === j.normalizedSchedule ? j.schedule : `${j.schedule} (${j.normalizedSchedule})`],
    ["options", optionsText(j.options)],
    ["enabled", j.enabled ? "yes" : "no"],
    ["comment", j.comment ?? "-"],
    ["next run", j.nextRun ? `${localTime(j.nextRun)} (${j.timeZone})` : "-"],
    ["last run", j.lastUpid ? `${j.lastUpid} (${j.lastState})` : "never"],
  ]);
}

export function renderJobList(list: JobInfo[]): string {
  if (list.length === 0) return "no jobs";
  return table(
    ["ID", "TYPE", "STORE", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST STATE"],
    list.map((j) => [j.id, j.type, j.store ?? "-", j.schedule, j.enabled ? "yes" : "no", j.nextRun ? localTime(j.nextRun) : "-", j.lastState ?? "never run"]),
  );
}

const idArg = { id: { type: "positional" as const, required: true as const, description: "job id" } };

const list = defineCommand({
  meta: { name: "list", description: "List jobs with schedule, next run and last state" },
  args: { ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(listJobs(openJobs(args)), format, renderJobList);
  },
});

const show = defineCommand({
  meta: { name: "show", description: "Show one job" },
  args: { ...idArg, ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openJobs(args);
    printResult(jobInfo(env, requireJobRow(env, args.id)), format, renderJob);
  },
});

const create = defineCommand({
  meta: { name: "create", description: "Create a scheduled job" },
  args: {
    ...idArg,
    type: { type: "string", required: true, description: JOB_TYPES.join("|") },
    schedule: { type: "string", required: true, description: "calendar event: daily, 'mon..fri 02:00', '*:0/15' (check with: ironcore-backup calendar)" },
    store: { type: "string", description: "the datastore the job works on" },
    option: { type: "string", description: "key=value for the job's task; repeat for more" },
    disable: { type: "boolean", description: "create it disabled", default: false },
    comment: { type: "string", description: "free text" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run({ args, rawArgs }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openJobs(args);
    const job = createJob(env, {
      id: args.id,
      type: args.type,
      schedule: args.schedule,
      store: args.store || null,
      options: parseOptionArgs(repeatedOption(rawArgs, "option")),
      enabled: !args.disable,
      comment: args.comment || null,
    }, Date.now(), checkJobOptions);
    printResult(job, format, (j) => `job '${j.id}' created\n${renderJob(j)}`);
  },
});

const update = defineCommand({
  meta: { name: "update", description: "Change a job's schedule, store, options or enabled flag" },
  args: {
    ...idArg,
    schedule: { type: "string", description: "new calendar event" },
    store: { type: "string", description: "new datastore ('' to clear)" },
    option: { type: "string", description: "set key=value; repeat for more" },
    "delete-option": { type: "string", description: "remove an option key; repeat for more" },
    enable: { type: "boolean", description: "enable the job" },
    disable: { type: "boolean", description: "disable the job" },
    comment: { type: "string", description: "free text ('' to clear)" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run({ args, rawArgs }) {
    const format = parseOutputFormat(args["output-format"]);
    if (args.enable && args.disable) throw new UsageError("--enable and --disable contradict each other");
    const env = openJobs(args);
    const job = updateJob(env, args.id, {
      schedule: args.schedule,
      store: args.store === undefined ? undefined : args.store || null,
      options: parseOptionArgs(repeatedOption(rawArgs, "option")),
      deleteOptions: repeatedOption(rawArgs, "delete-option"),
      enabled: args.enable ? true : args.disable ? false : undefined,
      comment: args.comment === undefined ? undefined : args.comment || null,
    }, Date.now(), checkJobOptions);
    printResult(job, format, (j) => `job '${j.id}' updated\n${renderJob(j)}`);
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove a job (its past tasks stay in the task list)" },
  args: { ...idArg, ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openJobs(args);
    removeJob(env, args.id);
    printResult({ id: args.id, removed: true }, format, () => `job '${args.id}' removed`);
  },
});

const run = defineCommand({
  meta: { name: "run", description: "Queue a job's task now, outside its schedule; prints the UPID" },
  args: { ...idArg, ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openJobs(args);
    const task = runJobNow(env, args.id);
    const state = taskStateOf(task);
    printResult({ id: args.id, upid: task.upid, state }, format, (r) => r.upid);
    // A task that ended at once (no handler for its type in this version) is a failure to report.
    if (task.status === "finished" && state !== "OK") throw new IbsError(`job '${args.id}': task ${task.upid} ended: ${state}`);
  },
});

export default defineCommand({
  meta: { name: "job", description: "Scheduled jobs: gc, verify, prune, sync" },
  subCommands: { list, show, create, update, remove, run },
});
