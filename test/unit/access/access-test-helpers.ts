/** In-process fixtures for the access tests: a fresh node state and the API app on it. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApi, type ApiApp } from "../../../src/api/app.ts";
import type { LoginLimits } from "../../../src/api/auth/login-limit.ts";
import type { RouteGroup } from "../../../src/api/route.ts";
import { routeGroups } from "../../../src/api/routes/index.ts";
import { loadConfig, type NodeConfig } from "../../../src/config/load.ts";
import { openServiceLog } from "../../../src/log/logger.ts";
import { openStateDb, type StateDb } from "../../../src/state/db.ts";

export interface TestNode {
  dir: string;
  config: NodeConfig;
  db: StateDb;
}

export function testNode(): TestNode {
  const dir = mkdtempSync(join(tmpdir(), "ibs-access-"));
  const config = loadConfig({ dataDir: dir });
  return { dir, config, db: openStateDb(config.stateDb) };
}

export const TEST_TICKET_KEY = Buffer.alloc(32, 7);

export function testApi(node: TestNode, opts: { groups?: RouteGroup[]; loginLimits?: LoginLimits } = {}): ApiApp {
  const log = openServiceLog(node.config.logDir, "api");
  return createApi({ config: node.config, db: node.db, log, ticketKey: TEST_TICKET_KEY, loginLimits: opts.loginLimits }, opts.groups ?? routeGroups);
}

export function tokenHeader(tokenid: string, secret: string): Record<string, string> {
  return { authorization: `IBSAPIToken=${tokenid}:${secret}` };
}
