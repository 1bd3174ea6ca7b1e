#!/usr/bin/env bun
/** The `ironcore-backup` command: a citty root whose subcommands load on demand. */
import { defineCommand, runCommand, showUsage } from "citty";
import { stopSessionWatches } from "./client/transport.ts";
import { IbsError } from "./util/errors.ts";
import { VERSION, versionLine } from "./version.ts";

const main = defineCommand({
  meta: { name: "ironcore-backup", version: VERSION, description: "Ironcore Backup: server roles, admin CLI and backup client" },
  subCommands: {
    run: () => import("./cli/run.ts").then((m) => m.default),
    status: () => import("./cli/status.ts").then((m) => m.default),
    user: () => import("./cli/user.ts").then((m) => m.default),
    acl: () => import("./cli/acl.ts").then((m) => m.default),
    cert: () => import("./cli/cert.ts").then((m) => m.default),
    audit: () => import("./cli/audit.ts").then((m) => m.default),
    calendar: () => import("./cli/calendar.ts").then((m) => m.default),
    key: () => import("./cli/key.ts").then((m) => m.default),
    task: () => import("./cli/task.ts").then((m) => m.default),
    worker: () => import("./cli/worker.ts").then((m) => m.default),
    job: () => import("./cli/job.ts").then((m) => m.default),
    datastore: () => import("./cli/datastore.ts").then((m) => m.default),
    backup: () => import("./cli/backup.ts").then((m) => m.default),
    restore: () => import("./cli/restore.ts").then((m) => m.default),
    snapshot: () => import("./cli/snapshot.ts").then((m) => m.default),
    benchmark: () => import("./cli/benchmark.ts").then((m) => m.default),
    s3: () => import("./cli/s3.ts").then((m) => m.default),
    prune: () => import("./cli/prune.ts").then((m) => m.default),
    gc: () => import("./cli/gc.ts").then((m) => m.default),
    verify: () => import("./cli/verify.ts").then((m) => m.default),
  },
});

async function resolveForUsage(cmd: any, rawArgs: string[], parent?: any): Promise<[any, any]> {
  const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : cmd.subCommands;
  const name = rawArgs.find((a) => !a.startsWith("-"));
  if (subs && name && name in subs) {
    const sub = await (typeof subs[name] === "function" ? subs[name]() : subs[name]);
    return resolveForUsage(sub, rawArgs.slice(rawArgs.indexOf(name) + 1), cmd);
  }
  return [cmd, parent];
}

async function cli(rawArgs: string[]): Promise<number> {
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-V" || rawArgs[0] === "version")) {
    console.log(versionLine());
    return 0;
  }
  if (rawArgs.length === 0 || rawArgs.includes("--help") || rawArgs.includes("-h")) {
    await showUsage(...(await resolveForUsage(main, rawArgs)));
    return 0;
  }
  try {
    await runCommand(main, { rawArgs });
    return 0;
  } catch (err: any) {
    if (err instanceof IbsError) {
      console.error(`error: ${err.message}`);
      if (err.hint) console.error(`hint: ${err.hint}`);
      return err.exitCode;
    }
    if (err?.name === "CLIError") {
      await showUsage(...(await resolveForUsage(main, rawArgs)));
      console.error(`error: ${err.message}`);
      return 2;
    }
    console.error(`error: ${err?.message ?? err}`);
    if (process.env.IBS_DEBUG) console.error(err?.stack);
    return 1;
  }
}

process.exitCode = await cli(process.argv.slice(2));
stopSessionWatches();
