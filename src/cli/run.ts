/** `ironcore-backup run <role|all>`: what each systemd unit starts. */
import { defineCommand } from "citty";
import { ui } from "../log/logger.ts";
import { ROLE_NAMES, isRoleName, type RoleName } from "../roles/role.ts";
import { runRoles } from "../roles/runner.ts";
import { UsageError } from "../util/errors.ts";
import { versionLine } from "../version.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { firstStartBanner } from "./banner.ts";
import { ensureDefaultDatastore } from "../datastore/admin/embedded.ts";
import { openStateDb } from "../state/db.ts";

export default defineCommand({
  meta: {
    name: "run",
    description: `Run service roles in the foreground: one of ${ROLE_NAMES.join(", ")}, or all of them in one process`,
  },
  args: {
    role: { type: "positional", description: `${ROLE_NAMES.join("|")}|all`, required: true },
    quiet: { type: "boolean", description: "do not mirror log lines to the terminal", default: false },
    ...nodeArgs,
  },
  async run({ args }) {
    const role = String(args.role);
    if (role !== "all" && !isRoleName(role)) {
      throw new UsageError(`unknown role '${role}'`, `choose one of: ${ROLE_NAMES.join(", ")}, all`);
    }
    const roles: RoleName[] = role === "all" ? [...ROLE_NAMES] : [role as RoleName];
    const config = nodeConfig(args);
    ui.info(`${versionLine()}: starting ${roles.join(", ")} on node ${config.node}`);
    if (config.defaultDatastore) {
      // Embedded mode: the first start makes the datastore `local`; later starts find it.
      const db = openStateDb(config.stateDb);
      try {
        const made = await ensureDefaultDatastore(config, db);
        if (made?.created) ui.info(`created datastore ${made.name} at ${made.path}`);
      } finally {
        db.$client.close();
      }
    }
    await runRoles(config, roles, {
      console: !args.quiet,
      onReady: () => {
        if (roles.includes("api")) ui.box(firstStartBanner(config));
      },
    });
  },
});
