/**
 * A throw-away node state database for task tests. Several TaskEnvs over the same file, each
 * with its own connection and executor identity, play several processes.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type NodeConfig } from "../../../src/config/load.ts";
import { openStateDb } from "../../../src/state/db.ts";
import { taskEnv, type Executor, type TaskEnv } from "../../../src/tasks/env.ts";
import { processStartTime } from "../../../src/util/proc.ts";

export interface TestNode {
  dir: string;
  config: NodeConfig;
  /** Another "process" on the same node: its own connection and executor identity. */
  env(self?: Partial<Executor>): TaskEnv;
  close(): void;
}

export function testNode(opts: { slots?: number; queueTimeoutSec?: number } = {}): TestNode {
  const dir = mkdtempSync(join(tmpdir(), "ibs-tasks-"));
  const base = loadConfig({ dataDir: dir });
  const config: NodeConfig = {
    ...base,
    node: "testnode",
    worker: { slots: opts.slots ?? 2, queueTimeoutSec: opts.queueTimeoutSec ?? 600 },
  };
  const opened: TaskEnv[] = [];
  return {
    dir,
    config,
    env(self) {
      const e = taskEnv(config, openStateDb(config.stateDb), self);
      opened.push(e);
      return e;
    },
    close() {
      for (const e of opened.splice(0)) e.db.$client.close();
    },
  };
}

/** The pid of a process that has exited (and been reaped): a dead executor. */
export async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"]);
  await p.exited;
  return p.pid;
}

/** This test process as an executor that is alive. */
export function aliveSelf(node = "testnode"): Executor {
  return { node, pid: process.pid, pstart: processStartTime() };
}
