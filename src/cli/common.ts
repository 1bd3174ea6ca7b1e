/** Options every command that works on this node's state shares. */
import { configOptionsFrom, loadConfig, type NodeConfig } from "../config/load.ts";
import { continueAsStateOwner } from "../util/state-owner.ts";

export const nodeArgs = {
  config: { type: "string" as const, description: "node config file (default /etc/ironcore-backup/ironcore.toml; env IBS_CONFIG)" },
  "data-dir": {
    type: "string" as const,
    description: "keep config, state, logs and the default datastore under this folder (embedded mode; env IBS_DATA_DIR)",
  },
};

/** The node's config; as root on a packaged node, the command continues as the service user (util/state-owner.ts). */
export function nodeConfig(args: { config?: unknown; "data-dir"?: unknown }): NodeConfig {
  const config = loadConfig(configOptionsFrom(args));
  continueAsStateOwner(config.stateDir);
  return config;
}
