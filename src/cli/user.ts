/**
 * `ironcore-backup user ...` and `user token ...`: users and API tokens of this node, changed
 * directly in the node state database as root@pam (audited). The same functions serve
 * /api/v1/access/users.
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { forgetInitialPassword } from "../access/bootstrap.ts";
import { parseTokenId, parseUserId } from "../access/ids.ts";
import { parseExpire } from "../access/time-spec.ts";
import { createToken, listTokens, removeToken, updateToken, type TokenInfo } from "../access/tokens.ts";
import { createUser, listUsers, removeUser, setPassword, updateUser, type UserInfo } from "../access/users.ts";
import { clearUserFailures } from "../api/auth/login-limit.ts";
import { defaultPassphraseIo } from "../keys/passphrase.ts";
import { ui } from "../log/logger.ts";
import { UsageError } from "../util/errors.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

export const NEW_PASSWORD_ENV = "IBS_NEW_PASSWORD";

const passwordArgs = {
  "password-file": { type: "string" as const, description: "read the new password from the first line of this file" },
  "password-stdin": { type: "boolean" as const, description: "read the new password from the first line of standard input", default: false },
};

/** The new password from --password-file, --password-stdin, $IBS_NEW_PASSWORD or a terminal prompt; undefined if none. */
async function newPassword(args: { "password-file"?: unknown; "password-stdin"?: unknown }, userid: string): Promise<string | undefined> {
  if (typeof args["password-file"] === "string") {
    let text: string;
    try {
      text = readFileSync(args["password-file"], "utf8");
    } catch (err) {
      throw new UsageError(`--password-file ${args["password-file"]}: cannot read it (${(err as Error).message})`);
    }
    return text.split(/\r?\n/, 1)[0];
  }
  if (args["password-stdin"]) return (await Bun.stdin.text()).split(/\r?\n/, 1)[0];
  const env = process.env[NEW_PASSWORD_ENV];
  if (env) return env;
  const io = defaultPassphraseIo();
  if (!io.interactive) return undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const first = await io.readHidden(`New password for ${userid}: `);
    const second = await io.readHidden("Repeat the new password: ");
    if (first === second) return first;
    io.say("The passwords did not match; try again.");
  }
  throw new UsageError(`the passwords for ${userid} did not match (3 attempts)`);
}

function enabledFrom(args: { enable?: unknown; disable?: unknown }): boolean | undefined {
  if (args.enable && args.disable) throw new UsageError("give --enable or --disable, not both");
  return args.enable ? true : args.disable ? false : undefined;
}

const expireArg = { expire: { type: "string" as const, description: "expiry: ISO date/time, a duration like 30d, or 'never'" } };
const commentArg = { comment: { type: "string" as const, description: "free text" } };
const switchArgs = {
  enable: { type: "boolean" as const, description: "enable", default: false },
  disable: { type: "boolean" as const, description: "disable (refuse logins and tokens)", default: false },
};

const renderUsers = (list: UserInfo[]) =>
  table(["USERID", "ENABLED", "EXPIRE", "PASSWORD", "TOKENS", "COMMENT"], list.map((u) => [u.userid, u.enabled ? "yes" : "no", u.expire ?? "never", u.hasPassword ? "set" : "none", u.tokens, u.comment ?? ""]));

const renderTokens = (list: TokenInfo[]) =>
  table(["TOKENID", "ENABLED", "EXPIRE", "PRIVSEP", "COMMENT"], list.map((t) => [t.tokenid, t.enabled ? "yes" : "no", t.expire ?? "never", t.privsep ? "yes" : "no", t.comment ?? ""]));

const list = defineCommand({
  meta: { name: "list", description: "List the users of this node" },
  args: { ...outputFormatArg, ...nodeArgs },
  run: ({ args }) => withAdminSession(args, ({ db }) => printResult(listUsers(db), parseOutputFormat(args["output-format"]), renderUsers)),
});

const create = defineCommand({
  meta: { name: "create", description: "Create a user in the ibs realm (asks for a password on a terminal)" },
  args: {
    userid: { type: "positional", description: "name@ibs", required: true },
    ...passwordArgs,
    ...expireArg,
    ...commentArg,
    disable: { type: "boolean", description: "create it disabled", default: false },
    ...outputFormatArg,
    ...nodeArgs,
  },
  async run({ args }) {
    const userid = parseUserId(String(args.userid)).userid;
    const expire = parseExpire(args.expire as string | undefined, "--expire");
    const password = await newPassword(args, userid);
    await withAdminSession(args, async (s) => {
      const u = await s.change("user.create", userid, () => createUser(s.db, { userid, password, expire, comment: args.comment ?? null, enabled: !args.disable }));
      printResult(u, parseOutputFormat(args["output-format"]), () => `created user ${userid}`);
      if (password === undefined) ui.warn(`${userid} has no password: it can only use API tokens until \`ironcore-backup user passwd ${userid}\``);
    });
  },
});

const update = defineCommand({
  meta: { name: "update", description: "Enable or disable a user, set its expiry or comment" },
  args: { userid: { type: "positional", description: "name@realm", required: true }, ...switchArgs, ...expireArg, ...commentArg, ...outputFormatArg, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const userid = String(args.userid);
      const change = {
        enabled: enabledFrom(args),
        expire: args.expire === undefined ? undefined : parseExpire(args.expire, "--expire"),
        comment: args.comment,
      };
      const u = await s.change("user.update", userid, () => updateUser(s.db, userid, change), { ...change });
      printResult(u, parseOutputFormat(args["output-format"]), renderUsers.bind(null, [u]));
    }),
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove a user with its API tokens and ACL entries" },
  args: { userid: { type: "positional", description: "name@realm", required: true }, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const userid = String(args.userid);
      await s.change("user.remove", userid, () => removeUser(s.db, userid));
      console.log(`removed user ${userid} with its tokens and ACL entries`);
    }),
});

const passwd = defineCommand({
  meta: { name: "passwd", description: "Set a user's password (asks on a terminal; or --password-file/--password-stdin/$IBS_NEW_PASSWORD)" },
  args: { userid: { type: "positional", description: "name@ibs", required: true }, ...passwordArgs, ...nodeArgs },
  async run({ args }) {
    const userid = parseUserId(String(args.userid)).userid;
    const password = await newPassword(args, userid);
    if (password === undefined) {
      throw new UsageError(`no new password for ${userid}: not on a terminal, and none of --password-file, --password-stdin, ${NEW_PASSWORD_ENV} given`);
    }
    await withAdminSession(args, async (s) => {
      await s.change("user.passwd", userid, () => setPassword(s.db, userid, password));
      clearUserFailures(s.db, userid);
      const removed = forgetInitialPassword(s.config.configDir, userid);
      console.log(`password of ${userid} changed${removed ? " (the initial password file was removed)" : ""}`);
    });
  },
});

// --------------------------------------------------------------------------------------------
// user token ...

/** `<user> <name>` or one `user@realm!name`. */
function tokenIdFrom(a: unknown, b: unknown): string {
  const first = String(a);
  if (b === undefined || b === "") return parseTokenId(first).tokenid;
  return parseTokenId(`${parseUserId(first).userid}!${String(b)}`).tokenid;
}

const tokenCreate = defineCommand({
  meta: { name: "create", description: "Create an API token; its secret is shown once" },
  args: {
    userid: { type: "positional", description: "name@realm (or name@realm!tokenname)", required: true },
    tokenname: { type: "positional", description: "token name", required: false },
    ...expireArg,
    ...commentArg,
    privsep: { type: "boolean", description: "privilege separation: the token gets only its own ACL entries (within the user's); --no-privsep gives it the user's rights", default: true },
    disable: { type: "boolean", description: "create it disabled", default: false },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const tokenid = tokenIdFrom(args.userid, args.tokenname);
      const expire = parseExpire(args.expire as string | undefined, "--expire");
      const { token, secret } = await s.change("token.create", tokenid, () =>
        createToken(s.db, tokenid, { expire, comment: args.comment ?? null, privsep: args.privsep, enabled: !args.disable }),
      );
      printResult({ ...token, secret }, parseOutputFormat(args["output-format"]), () =>
        [
          `created API token ${tokenid}`,
          `secret: ${secret}`,
          "The secret is shown only now: store it safely (it cannot be shown again).",
          `Use it as: Authorization: IBSAPIToken=${tokenid}:<secret>`,
          token.privsep ? `The token has no rights yet: grant some with \`ironcore-backup acl update <path> <role> --auth-id '${tokenid}'\`` : "",
        ].filter(Boolean).join("\n"),
      );
    }),
});

const tokenList = defineCommand({
  meta: { name: "list", description: "List API tokens (of one user, or all)" },
  args: { userid: { type: "positional", description: "name@realm", required: false }, ...outputFormatArg, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, ({ db }) => printResult(listTokens(db, args.userid ? String(args.userid) : undefined), parseOutputFormat(args["output-format"]), renderTokens)),
});

const tokenUpdate = defineCommand({
  meta: { name: "update", description: "Enable or disable an API token, set its expiry, privilege separation or comment" },
  args: {
    tokenid: { type: "positional", description: "name@realm!tokenname", required: true },
    ...switchArgs,
    ...expireArg,
    ...commentArg,
    privsep: { type: "string", description: "true or false" },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const tokenid = parseTokenId(String(args.tokenid)).tokenid;
      if (args.privsep !== undefined && !["true", "false"].includes(args.privsep)) throw new UsageError(`--privsep: expected true or false, got '${args.privsep}'`);
      const change = {
        enabled: enabledFrom(args),
        expire: args.expire === undefined ? undefined : parseExpire(args.expire, "--expire"),
        privsep: args.privsep === undefined ? undefined : args.privsep === "true",
        comment: args.comment,
      };
      const t = await s.change("token.update", tokenid, () => updateToken(s.db, tokenid, change), { ...change });
      printResult(t, parseOutputFormat(args["output-format"]), () => renderTokens([t]));
    }),
});

const tokenRemove = defineCommand({
  meta: { name: "remove", description: "Remove an API token and its ACL entries" },
  args: {
    userid: { type: "positional", description: "name@realm!tokenname (or name@realm)", required: true },
    tokenname: { type: "positional", description: "token name", required: false },
    ...nodeArgs,
  },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const tokenid = tokenIdFrom(args.userid, args.tokenname);
      await s.change("token.remove", tokenid, () => removeToken(s.db, tokenid));
      console.log(`removed API token ${tokenid}`);
    }),
});

const token = defineCommand({
  meta: { name: "token", description: "API tokens: create, list, update, remove" },
  subCommands: { create: tokenCreate, list: tokenList, update: tokenUpdate, remove: tokenRemove },
});

export default defineCommand({
  meta: { name: "user", description: "Users and API tokens of this node (acts as root@pam on the node state)" },
  subCommands: { list, create, update, remove, passwd, token },
});
