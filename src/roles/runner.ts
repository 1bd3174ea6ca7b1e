/**
 * Runs one or more roles in this process: opens the node state, starts each role with its own
 * log file, heartbeats, and stops everything cleanly on SIGTERM/SIGINT. `run all` and
 * `run <role>` are the same code with a different list, so roles never depend on sharing a process.
 */
import type { NodeConfig } from "../config/load.ts";
import { openServiceLog, type Logger } from "../log/logger.ts";
import { openStateDb, type StateDb } from "../state/db.ts";
import { errorMessage, IbsError } from "../util/errors.ts";
import { beat, recordStart, recordStartFailure, recordStop } from "./heartbeat.ts";
import { roleStarters } from "./registry.ts";
import type { RoleName, RunningRole } from "./role.ts";

interface Started {
  role: RoleName;
  running: RunningRole;
  log: Logger;
}

export interface RunOptions {
  /** Mirror log lines to the terminal. */
  console: boolean;
  /** Called once every role has started (the first-start banner). */
  onReady?: (db: StateDb) => Promise<void> | void;
}

const STOP_TIMEOUT_MS = 30_000;

export async function runRoles(config: NodeConfig, roles: RoleName[], opts: RunOptions): Promise<void> {
  // Signals are taken from the start: a SIGTERM that came while the roles were starting (a
  // `systemctl stop` right after start) used to meet no handler and kill the process outright.
  // One that comes during start-up stops the node once the roles have started.
  const db = openStateDb(config.stateDb);
  const stop = stopSignal();
  const controller = new AbortController();
  const started: Started[] = [];

  for (const role of roles) {
    if (stop.signal) break;
    const log = openServiceLog(config.logDir, role, { console: opts.console });
    try {
      const start = await roleStarters[role]();
      const running = await start({ config, db, log, signal: controller.signal });
      recordStart(db, { node: config.node, role });
      log.info("service started", { pid: process.pid, node: config.node });
      started.push({ role, running, log });
    } catch (err) {
      const msg = errorMessage(err);
      log.error("service failed to start", { err: msg });
      recordStartFailure(db, { node: config.node, role }, msg);
      log.close();
      controller.abort();
      await stopAll(db, config.node, started);
      stop.dispose();
      throw err instanceof IbsError ? err : new IbsError(`${role}: cannot start: ${msg}`);
    }
  }

  const timer = setInterval(() => {
    try {
      beat(db, config.node);
    } catch (err) {
      // A busy state database is no reason to die; the next beat will try again.
      started[0]?.log.warn("heartbeat failed", { err: errorMessage(err) });
    }
  }, config.heartbeatIntervalSec * 1000);

  if (!stop.signal) await opts.onReady?.(db);
  const sig = await stop.received;
  for (const s of started) s.log.info("stopping", { signal: sig });
  clearInterval(timer);
  controller.abort();
  await stopAll(db, config.node, started);
  stop.dispose();
  db.$client.close();
}

/**
 * SIGTERM and SIGINT, from now on: `received` settles with the first; a second one means "now"
 * (the datastore stays consistent because every write is atomic).
 */
function stopSignal(): { readonly signal: string | undefined; received: Promise<string>; dispose(): void } {
  let first: string | undefined;
  let wake: (sig: string) => void = () => {};
  const received = new Promise<string>((resolve) => (wake = resolve));
  const on = (sig: string) => () => {
    if (first) process.exit(130);
    first = sig;
    wake(sig);
  };
  const onTerm = on("SIGTERM");
  const onInt = on("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  return {
    get signal() {
      return first;
    },
    received,
    dispose: () => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
    },
  };
}

async function stopAll(db: StateDb, node: string, started: Started[]): Promise<void> {
  for (const s of [...started].reverse()) {
    let error: string | undefined;
    let timer: Timer | undefined;
    try {
      await Promise.race([
        s.running.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${STOP_TIMEOUT_MS / 1000} s`)), STOP_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      error = errorMessage(err);
    } finally {
      clearTimeout(timer);
    }
    recordStop(db, { node, role: s.role }, error);
    s.log.info(error ? "service stopped with error" : "service stopped", error ? { err: error } : {});
    s.log.close();
  }
}
