/**
 * What the node admin commands (`user`, `acl`, `cert`, `audit`) share: they work directly on
 * this node's state database, like proxmox-backup-manager, acting as `root@pam`, and every
 * change they make is written to the audit log with source "cli".
 */
import { ROOT_AUTH_ID } from "../access/ids.ts";
import { recordAudit } from "../audit/audit-log.ts";
import type { NodeConfig } from "../config/load.ts";
import { ui } from "../log/logger.ts";
import { openStateDb, type StateDb } from "../state/db.ts";
import { errorMessage } from "../util/errors.ts";
import { nodeConfig } from "./common.ts";

export interface AdminSession {
  config: NodeConfig;
  db: StateDb;
  /** Runs a change and audits it (also when it fails, with the error). */
  change<R>(action: string, target: string | null, fn: () => R | Promise<R>, details?: Record<string, unknown>): Promise<R>;
}

export async function withAdminSession<T>(args: { config?: unknown; "data-dir"?: unknown }, fn: (s: AdminSession) => T | Promise<T>): Promise<T> {
  const config = nodeConfig(args);
  const db = openStateDb(config.stateDb);
  const audit = (action: string, target: string | null, result: string, details?: Record<string, unknown>) =>
    recordAudit(db, config.logDir, { authId: ROOT_AUTH_ID, source: "cli", action, target, result, details }, (err) =>
      ui.warn(`could not append to ${config.logDir}/audit.log: ${err.message} (the change is in the state database's audit log)`),
    );
  const session: AdminSession = {
    config,
    db,
    async change<R>(action: string, target: string | null, run: () => R | Promise<R>, details?: Record<string, unknown>): Promise<R> {
      let out: R;
      try {
        out = await run();
      } catch (err) {
        audit(action, target, `failed: ${errorMessage(err)}`, details);
        throw err;
      }
      audit(action, target, "ok", details);
      return out;
    },
  };
  try {
    return await fn(session);
  } finally {
    db.$client.close();
  }
}
