/** `ironcore-backup acl list|update|remove`: ACL entries of this node (as root@pam, audited). */
import { defineCommand } from "citty";
import { listAcl, removeAcl, updateAcl, type AclEntry } from "../access/acl.ts";
import { ROLES } from "../access/roles.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

const renderAcl = (list: AclEntry[]) =>
  list.length === 0 ? "no ACL entries" : table(["PATH", "AUTH-ID", "ROLE", "PROPAGATE"], list.map((e) => [e.path, e.authId, e.role, e.propagate ? "yes" : "no"]));

const entryArgs = {
  path: { type: "positional" as const, description: "ACL path: /, /datastore/<store>[/<ns>...], /remote/<name>, /system/..., /tape/..., /access/...", required: true as const },
  role: { type: "positional" as const, description: ROLES.join("|"), required: true as const },
  "auth-id": { type: "string" as const, description: "user (name@realm) or API token (name@realm!token)", required: true as const },
};

const list = defineCommand({
  meta: { name: "list", description: "List ACL entries (all, below a path, or of one auth-id)" },
  args: {
    path: { type: "string", description: "only entries on this path and below it" },
    "auth-id": { type: "string", description: "only entries of this user or token" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run: ({ args }) => withAdminSession(args, ({ db }) => printResult(listAcl(db, { path: args.path, authId: args["auth-id"] }), parseOutputFormat(args["output-format"]), renderAcl)),
});

const update = defineCommand({
  meta: { name: "update", description: "Grant a role on a path to a user or token" },
  args: { ...entryArgs, propagate: { type: "boolean", description: "also for everything below the path (--no-propagate: the path only)", default: true }, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const e = await s.change("acl.update", `${args.path} ${args["auth-id"]} ${args.role}`, () =>
        updateAcl(s.db, { path: args.path, role: args.role, authId: args["auth-id"], propagate: args.propagate }),
        { propagate: args.propagate },
      );
      console.log(`granted ${e.role} on ${e.path} to ${e.authId}${e.propagate ? " (propagating)" : " (this path only)"}`);
    }),
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove an ACL entry" },
  args: { ...entryArgs, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      await s.change("acl.remove", `${args.path} ${args["auth-id"]} ${args.role}`, () => removeAcl(s.db, { path: args.path, role: args.role, authId: args["auth-id"] }));
      console.log(`removed ${args.role} on ${args.path} from ${args["auth-id"]}`);
    }),
});

export default defineCommand({
  meta: { name: "acl", description: "Access control list: which user or token has which role on which path" },
  subCommands: { list, update, remove },
});
