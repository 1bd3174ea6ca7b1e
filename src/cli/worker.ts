/**
 * `ironcore-backup worker status|selftest`: worker slots, running and queued tasks per host,
 * and a diagnostic task that shows workers take work. Thin face over src/tasks/.
 */
import { defineCommand } from "citty";
import { ui } from "../log/logger.ts";
import { openStateDb } from "../state/db.ts";
import { LOCAL_ADMIN_AUTH_ID, taskEnv, type TaskEnv } from "../tasks/env.ts";
import { getTask } from "../tasks/queue.ts";
import { recoverDeadTasks } from "../tasks/recovery.ts";
import { SELFTEST_MAX_SECONDS } from "../tasks/selftest.ts";
import { submitTask } from "../tasks/submit.ts";
import { formatDuration, formatProgress, formatRate, taskStateOf } from "../tasks/task-info.ts";
import { workerStatus, type WorkerStatus } from "../tasks/worker-status.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

function openTasks(args: { config?: unknown; "data-dir"?: unknown }): TaskEnv {
  const config = nodeConfig(args);
  const env = taskEnv(config, openStateDb(config.stateDb));
  recoverDeadTasks(env);
  return env;
}

export function renderWorkerStatus(s: WorkerStatus): string {
  const out: string[] = [];
  for (const h of s.hosts) {
    const slots = h.slots.total === null ? `${h.slots.busy} busy` : `${h.slots.total} total, ${h.slots.busy} busy, ${h.slots.free} free`;
    const service = h.service ? `; worker service ${h.service.state}${h.service.pid ? ` (pid ${h.service.pid})` : ""}` : "";
    out.push(`node ${h.node}: slots ${slots}${service}`);
    if (h.running.length === 0) out.push("  no running tasks");
    else {
      const rows = h.running.map((t) => [
        t.upid,
        t.pid ?? "-",
        t.slot ?? "-",
        formatDuration(t.runningSec),
        formatProgress(t.progress) + (t.abortRequested ? " (aborting)" : ""),
        formatRate(t.progress),
      ]);
      out.push(indent(table(["RUNNING UPID", "PID", "SLOT", "FOR", "PROGRESS", "RATE"], rows)));
    }
  }
  if (s.queued.length === 0) out.push("queue: empty");
  else {
    out.push(`queue: ${s.queued.length} task${s.queued.length === 1 ? "" : "s"} waiting`);
    out.push(indent(table(["QUEUED UPID", "TYPE", "AGE"], s.queued.map((q) => [q.upid, q.type, formatDuration(q.ageSec)]))));
  }
  return out.join("\n");
}

const indent = (text: string) => text.split("\n").map((l) => `  ${l}`).join("\n");

const status = defineCommand({
  meta: { name: "status", description: "Worker slots (total/busy/free), running tasks with progress and rate, queued tasks with their age" },
  args: { ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(workerStatus(openTasks(args)), format, renderWorkerStatus);
  },
});

function positiveNumber(value: unknown, name: string, fallback: number, max: number, integer: boolean): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < (integer ? 1 : 0) || n > max || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${name}: expected a ${integer ? "whole " : ""}number ${integer ? 1 : 0}..${max}, got '${value}'`);
  return n;
}

const selftest = defineCommand({
  meta: { name: "selftest", description: "Queue diagnostic tasks that each hold a worker slot for some seconds; prints their UPIDs" },
  args: {
    seconds: { type: "string", description: "how long each task holds its slot (default 10)" },
    count: { type: "string", description: "how many tasks to queue (default 1)" },
    wait: { type: "boolean", description: "wait until all have ended and show their states (exit 1 unless all OK)", default: false },
    ...outputFormatArg,
    ...nodeArgs,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const seconds = positiveNumber(args.seconds, "seconds", 10, SELFTEST_MAX_SECONDS, false);
    const count = positiveNumber(args.count, "count", 1, 1000, true);
    const env = openTasks(args);
    const upids: string[] = [];
    for (let i = 0; i < count; i++) {
      upids.push(submitTask(env, { type: "selftest", authId: LOCAL_ADMIN_AUTH_ID, params: { seconds } }).upid);
    }
    const worker = workerStatus(env).hosts.find((h) => h.node === env.config.node)?.service;
    if (worker && worker.state !== "active (running)") {
      ui.warn(`no worker service is running on node ${env.config.node} (${worker.state}): the tasks wait in the queue until one starts`);
    }
    if (!args.wait) {
      printResult(upids.map((upid) => ({ upid, state: "queued" })), format, (list) => list.map((t) => t.upid).join("\n"));
      return;
    }
    let states: { upid: string; state: string }[] = [];
    let lastRecovery = Date.now();
    for (;;) {
      // Waiting must end even if the worker running our tasks dies.
      if (Date.now() - lastRecovery > 5000) {
        recoverDeadTasks(env);
        lastRecovery = Date.now();
      }
      states = upids.map((upid) => ({ upid, state: taskStateOf(getTask(env, upid)!) }));
      if (states.every((s) => s.state !== "queued" && s.state !== "running")) break;
      await Bun.sleep(250);
    }
    printResult(states, format, (list) => table(["UPID", "STATE"], list.map((t) => [t.upid, t.state])));
    const bad = states.filter((s) => s.state !== "OK").length;
    if (bad > 0) throw new IbsError(`${bad} of ${states.length} selftest task${states.length === 1 ? "" : "s"} did not end OK`, 1, "see: ironcore-backup task log <UPID>");
  },
});

export default defineCommand({
  meta: { name: "worker", description: "Worker slots and queue; a selftest that shows workers take work" },
  subCommands: { status, selftest },
});
