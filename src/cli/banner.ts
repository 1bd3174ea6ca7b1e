/** What a newcomer needs right after `run all`: where to connect and what to do next. */
import type { NodeConfig } from "../config/load.ts";

export function firstStartBanner(config: NodeConfig): string {
  const host = config.listen.host === "0.0.0.0" || config.listen.host === "::" ? "localhost" : config.listen.host;
  const lines = [
    `Ironcore Backup is running on node ${config.node}`,
    `API:        http://${host}:${config.listen.port}/api/v1/version`,
    `Data:       ${config.dataDir ?? config.stateDir}`,
    `Logs:       ${config.logDir}/<service>.log (JSON lines; try: jq . ${config.logDir}/api.log)`,
    `Services:   ironcore-backup status --services${config.dataDir ? ` --data-dir ${config.dataDir}` : ""}`,
  ];
  return lines.join("\n");
}
