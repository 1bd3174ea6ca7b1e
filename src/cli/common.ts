/** Options every command that works on this node's state shares. */
import { configOptionsFrom, loadConfig, type NodeConfig } from "../config/load.ts";

export const nodeArgs = {
  config: { type: "string" as const, description: "node config file (default /etc/ironcore-backup/ironcore.toml; env IBS_CONFIG)" },
  "data-dir": {
    type: "string" as const,
    description: "keep config, state, logs and the default datastore under this folder (embedded mode; env IBS_DATA_DIR)",
  },
};

export function nodeConfig(args: { config?: unknown; "data-dir"?: unknown }): NodeConfig {
  return loadConfig(configOptionsFrom(args));
}
