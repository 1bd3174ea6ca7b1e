/**
 * `ironcore-backup task list|log|status|abort`: the node's tasks. Thin face over src/tasks/.
 * Every command first closes tasks whose executor died, so nothing shown is a ghost.
 */
import { defineCommand } from "citty";
import { openStateDb } from "../state/db.ts";
import { taskEnv, type TaskEnv } from "../tasks/env.ts";
import { getTask, requestAbort, requireTask } from "../tasks/queue.ts";
import { recoverDeadTasks } from "../tasks/recovery.ts";
import {
  formatDuration,
  formatProgress,
  formatRate,
  keyValues,
  listTasks,
  localTime,
  parseLimit,
  parseSince,
  parseStateFilter,
  toTaskInfo,
  type TaskInfo,
} from "../tasks/task-info.ts";
import { followTaskLog, logPathOf, readTaskLog } from "../tasks/task-log.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

function openTasks(args: { config?: unknown; "data-dir"?: unknown }): TaskEnv {
  const config = nodeConfig(args);
  const env = taskEnv(config, openStateDb(config.stateDb));
  recoverDeadTasks(env);
  return env;
}

const upidArg = { upid: { type: "positional" as const, required: true as const, description: "the task's UPID (see task list)" } };

export function renderTaskList(list: TaskInfo[]): string {
  if (list.length === 0) return "no tasks";
  return table(
    ["UPID", "TYPE", "STATE", "START", "DURATION"],
    list.map((t) => [t.upid, t.type, t.state, localTime(t.startedAt ?? t.queuedAt), formatDuration(t.durationSec)]),
  );
}

export function renderTaskStatus(t: TaskInfo): string {
  return keyValues([
    ["upid", t.upid],
    ["type", t.type],
    ["id", t.workerId ?? "-"],
    ["user", t.authId],
    ["state", t.state + (t.abortRequested && (t.state === "running" || t.state === "queued") ? " (abort requested)" : "")],
    ["queued", localTime(t.queuedAt)],
    ["started", localTime(t.startedAt)],
    ["ended", localTime(t.endedAt)],
    ["duration", formatDuration(t.durationSec)],
    ["executor", t.executor ? `process ${t.executor.pid} on ${t.executor.node}${t.slot !== null ? `, slot ${t.slot + 1}` : ""}` : "-"],
    ["progress", formatProgress(t.progress)],
    ["rate", formatRate(t.progress)],
    ["warnings", t.warnings],
    ["job", t.jobId ? `${t.jobId}${t.dueAt ? ` (due ${t.dueAt})` : " (run now)"}` : "-"],
  ]);
}

const list = defineCommand({
  meta: { name: "list", description: "List tasks, newest first" },
  args: {
    state: { type: "string", description: "queued, running, active (queued or running), ok, warning or error" },
    type: { type: "string", description: "only tasks of this type (selftest, gc, verify, backup, ...)" },
    since: { type: "string", description: "only tasks queued since: 30m, 2h, 7d, epoch seconds or RFC 3339" },
    limit: { type: "string", description: "at most this many tasks (default 50)" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const filter = {
      state: args.state ? parseStateFilter(args.state) : undefined,
      type: args.type || undefined,
      since: args.since ? parseSince(args.since) : undefined,
      limit: parseLimit(args.limit),
    };
    const env = openTasks(args);
    const now = Date.now();
    printResult(listTasks(env, filter).map((t) => toTaskInfo(t, now)), format, renderTaskList);
  },
});

const status = defineCommand({
  meta: { name: "status", description: "Show one task: state, times, executor, progress" },
  args: { ...upidArg, ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTasks(args);
    printResult(toTaskInfo(requireTask(env, args.upid)), format, renderTaskStatus);
  },
});

const log = defineCommand({
  meta: { name: "log", description: "Print a task's log; --follow keeps printing until the task ends" },
  args: {
    ...upidArg,
    follow: { type: "boolean", description: "wait for new lines until the task has ended", default: false },
    ...outputFormatArg,
    ...nodeArgs,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTasks(args);
    const upid = args.upid;
    requireTask(env, upid);
    if (!args.follow || format !== "text") {
      const text = readTaskLog(env.config.taskLogDir, upid);
      if (format === "text") process.stdout.write(text);
      else printResult({ upid, path: logPathOf(env.config.taskLogDir, upid), lines: parseLogLines(text) }, format, () => "");
      return;
    }
    let lastRecovery = Date.now();
    await followTaskLog(
      env.config.taskLogDir,
      upid,
      () => {
        // A follower must not wait forever for a task whose worker died.
        if (Date.now() - lastRecovery > 5000) {
          recoverDeadTasks(env);
          lastRecovery = Date.now();
        }
        return getTask(env, upid)?.status === "finished";
      },
      (text) => process.stdout.write(text),
    );
  },
});

/** `<RFC 3339 time>: <message>` lines into objects (JSON output of `task log`). */
function parseLogLines(text: string): { time: string | null; message: string }[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}): (.*)$/.exec(l);
      return m ? { time: m[1], message: m[2] } : { time: null, message: l };
    });
}

const abort = defineCommand({
  meta: { name: "abort", description: "Abort a task: a queued one at once, a running one at its next safe point" },
  args: { ...upidArg, ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTasks(args);
    const outcome = requestAbort(env, args.upid);
    printResult({ upid: args.upid, outcome }, format, (r) =>
      r.outcome === "aborted"
        ? `task ${r.upid}: aborted (it was still queued)`
        : `task ${r.upid}: abort requested; it stops at its next safe point and ends 'aborted' (follow: ironcore-backup task log --follow ${r.upid})`,
    );
  },
});

export default defineCommand({
  meta: { name: "task", description: "List, follow, inspect and abort tasks" },
  subCommands: { list, log, status, abort },
});
