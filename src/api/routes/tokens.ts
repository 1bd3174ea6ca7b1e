/** API tokens of a user: list, create (the secret is in this one answer only), change, remove. */
import { z } from "zod";
import { createToken, listTokens, removeToken, updateToken } from "../../access/tokens.ts";
import { route, routeGroup } from "../route.ts";
import { commentSchema, expireSchema, tokenNameSchema, userIdSchema } from "../schemas.ts";

const USERS = "/access/users";
const tokenParams = z.strictObject({ userid: userIdSchema, token: tokenNameSchema });
const tokenid = (p: { userid: string; token: string }) => `${p.userid}!${p.token}`;

export default routeGroup("tokens", [
  route({
    method: "GET",
    path: "/access/users/:userid/tokens",
    summary: "list a user's API tokens",
    access: { priv: "Sys.Audit", path: USERS, orSelf: "userid" },
    params: z.strictObject({ userid: userIdSchema }),
    handler: ({ deps, params }) => listTokens(deps.db, params.userid),
  }),
  route({
    method: "POST",
    path: "/access/users/:userid/tokens/:token",
    summary: "create an API token; the answer holds its secret, shown this once",
    access: { priv: "Permissions.Modify", path: USERS, orSelf: "userid" },
    params: tokenParams,
    body: z.strictObject({ enabled: z.boolean().optional(), expire: expireSchema.optional(), privsep: z.boolean().optional(), comment: commentSchema.nullable().optional() }),
    audit: { action: "token.create", target: ({ params }) => tokenid(params) },
    handler: ({ deps, params, body }) => {
      const { token, secret } = createToken(deps.db, tokenid(params), body ?? {});
      return { ...token, secret };
    },
  }),
  route({
    method: "PUT",
    path: "/access/users/:userid/tokens/:token",
    summary: "enable/disable a token, set its expiry, privilege separation or comment",
    access: { priv: "Permissions.Modify", path: USERS, orSelf: "userid" },
    params: tokenParams,
    body: z.strictObject({ enabled: z.boolean().optional(), expire: expireSchema.optional(), privsep: z.boolean().optional(), comment: commentSchema.nullable().optional() }),
    audit: { action: "token.update", target: ({ params }) => tokenid(params), details: ({ body }) => ({ ...body }) },
    handler: ({ deps, params, body }) => updateToken(deps.db, tokenid(params), body),
  }),
  route({
    method: "DELETE",
    path: "/access/users/:userid/tokens/:token",
    summary: "remove an API token and its ACL entries",
    access: { priv: "Permissions.Modify", path: USERS, orSelf: "userid" },
    params: tokenParams,
    audit: { action: "token.remove", target: ({ params }) => tokenid(params) },
    handler: ({ deps, params }) => {
      removeToken(deps.db, tokenid(params));
      return { removed: tokenid(params) };
    },
  }),
]);
