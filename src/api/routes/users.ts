/** Users: list, show, create, change, remove, set password. */
import { z } from "zod";
import { forgetInitialPassword } from "../../access/bootstrap.ts";
import { createUser, getUser, listUsers, removeUser, setPassword, updateUser } from "../../access/users.ts";
import { clearUserFailures } from "../auth/login-limit.ts";
import { route, routeGroup } from "../route.ts";
import { commentSchema, expireSchema, passwordSchema, userIdSchema } from "../schemas.ts";

const USERS = "/access/users";
const useridParam = z.strictObject({ userid: userIdSchema });

export default routeGroup("users", [
  route({
    method: "GET",
    path: "/access/users",
    summary: "list users",
    access: { priv: "Sys.Audit", path: USERS },
    handler: ({ deps }) => listUsers(deps.db),
  }),
  route({
    method: "GET",
    path: "/access/users/:userid",
    summary: "show one user",
    access: { priv: "Sys.Audit", path: USERS, orSelf: "userid" },
    params: useridParam,
    handler: ({ deps, params }) => getUser(deps.db, params.userid),
  }),
  route({
    method: "POST",
    path: "/access/users",
    summary: "create a user (realm ibs)",
    access: { priv: "Permissions.Modify", path: USERS },
    body: z.strictObject({
      userid: userIdSchema,
      password: passwordSchema.optional(),
      enabled: z.boolean().optional(),
      expire: expireSchema.optional(),
      comment: commentSchema.nullable().optional(),
    }),
    audit: { action: "user.create", target: ({ body }) => body.userid },
    handler: ({ deps, body }) => createUser(deps.db, body),
  }),
  route({
    method: "PUT",
    path: "/access/users/:userid",
    summary: "enable/disable a user, set its expiry or comment",
    access: { priv: "Permissions.Modify", path: USERS },
    params: useridParam,
    body: z.strictObject({ enabled: z.boolean().optional(), expire: expireSchema.optional(), comment: commentSchema.nullable().optional() }),
    audit: { action: "user.update", target: ({ params }) => params.userid, details: ({ body }) => ({ ...body }) },
    handler: ({ deps, params, body }) => updateUser(deps.db, params.userid, body),
  }),
  route({
    method: "DELETE",
    path: "/access/users/:userid",
    summary: "remove a user with its tokens and ACL entries",
    access: { priv: "Permissions.Modify", path: USERS },
    params: useridParam,
    audit: { action: "user.remove", target: ({ params }) => params.userid },
    handler: ({ deps, params }) => {
      removeUser(deps.db, params.userid);
      return { removed: params.userid };
    },
  }),
  route({
    method: "PUT",
    path: "/access/users/:userid/password",
    summary: "set a user's password (users may set their own)",
    access: { priv: "Permissions.Modify", path: USERS, orSelf: "userid" },
    params: useridParam,
    body: z.strictObject({ password: passwordSchema }),
    audit: { action: "user.passwd", target: ({ params }) => params.userid },
    handler: async ({ deps, params, body }) => {
      await setPassword(deps.db, params.userid, body.password);
      clearUserFailures(deps.db, params.userid);
      forgetInitialPassword(deps.config.configDir, params.userid);
      return { userid: params.userid, passwordChanged: true };
    },
  }),
]);
