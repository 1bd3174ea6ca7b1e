/** `ironcore-backup status --services`: the seven services of this node, like systemctl would show. */
import { defineCommand } from "citty";
import { serviceStatuses, type ServiceStatus } from "../roles/status.ts";
import { openStateDb } from "../state/db.ts";
import { UsageError } from "../util/errors.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

export default defineCommand({
  meta: { name: "status", description: "Show the state of this node's services" },
  args: {
    services: { type: "boolean", description: "list the seven services with state, pid and since when", default: false },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run({ args }) {
    if (!args.services) throw new UsageError("say what to show: status --services");
    const config = nodeConfig(args);
    const db = openStateDb(config.stateDb);
    const statuses = serviceStatuses(config, db);
    printResult(statuses, parseOutputFormat(args["output-format"]), renderStatuses);
  },
});

function renderStatuses(list: ServiceStatus[]): string {
  const rows = list.map((s) => [
    s.service,
    s.node,
    s.state,
    s.pid ?? "-",
    s.since ?? "-",
    [s.reason, s.systemd ? `systemd: ${s.systemd.activeState} (${s.systemd.subState})` : null].filter(Boolean).join("; ") || "",
  ]);
  return table(["SERVICE", "NODE", "STATE", "PID", "SINCE", "NOTE"], rows);
}
