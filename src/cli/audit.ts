/** `ironcore-backup audit list`: who changed what, and every login, from the node state database. */
import { defineCommand } from "citty";
import { parseAuthId } from "../access/ids.ts";
import { parseTimeSpec } from "../access/time-spec.ts";
import { listAudit, type AuditRecord } from "../audit/audit-log.ts";
import { UsageError } from "../util/errors.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

const renderAudit = (list: AuditRecord[]) =>
  list.length === 0
    ? "no audit entries"
    : table(["TIME (UTC)", "AUTH-ID", "SOURCE", "ACTION", "TARGET", "RESULT"], list.map((r) => [r.time, r.authId ?? "-", r.source, r.action, r.target ?? "-", r.result]));

const list = defineCommand({
  meta: { name: "list", description: "List audit log entries, oldest first" },
  args: {
    since: { type: "string", description: "only entries since: ISO date/time, @unix, or a duration back from now (24h, 7d)" },
    "auth-id": { type: "string", description: "only entries of this user or token" },
    limit: { type: "string", description: "the newest N entries (default 100)", default: "100" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run({ args }) {
    const since = args.since !== undefined ? parseTimeSpec(args.since, "past", "--since") : undefined;
    if (args["auth-id"] !== undefined) parseAuthId(args["auth-id"], "--auth-id");
    const limit = Number(args.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit: expected a whole number 1-10000, got '${args.limit}'`);
    return withAdminSession(args, ({ db }) => printResult(listAudit(db, { since, authId: args["auth-id"], limit }), parseOutputFormat(args["output-format"]), renderAudit));
  },
});

export default defineCommand({
  meta: { name: "audit", description: "The audit log: changes and logins" },
  subCommands: { list },
});
