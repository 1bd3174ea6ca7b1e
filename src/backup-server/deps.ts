/** What the session code needs from the api role (ApiDeps satisfies it). */
import type { NodeConfig } from "../config/load.ts";
import type { Logger } from "../log/logger.ts";
import type { StateDb } from "../state/db.ts";

export interface ServerDeps {
  config: NodeConfig;
  db: StateDb;
  log: Logger;
}
