/** ACL entries and the caller's own effective permissions. */
import { z } from "zod";
import { listAcl, removeAcl, updateAcl } from "../../access/acl.ts";
import { effectivePrivileges } from "../../access/permissions.ts";
import { route, routeGroup } from "../route.ts";
import { aclPathSchema, authIdSchema, boolParam, roleSchema } from "../schemas.ts";

const entryTarget = (e: { path: string; "auth-id": string; role: string }) => `${e.path} ${e["auth-id"]} ${e.role}`;

export default routeGroup("acl", [
  route({
    method: "GET",
    path: "/access/acl",
    summary: "list ACL entries (optionally below a path, or of one auth-id)",
    access: { priv: "Sys.Audit", path: "/access/acl" },
    query: z.strictObject({ path: aclPathSchema.optional(), "auth-id": authIdSchema.optional(), exact: boolParam.optional() }),
    handler: ({ deps, query }) => listAcl(deps.db, { path: query.path, authId: query["auth-id"], exact: query.exact }),
  }),
  route({
    method: "PUT",
    path: "/access/acl",
    summary: "add or change an ACL entry",
    // Granting on a path needs Permissions.Modify on that path.
    access: { priv: "Permissions.Modify", path: "{path}" },
    body: z.strictObject({ path: aclPathSchema, role: roleSchema, "auth-id": authIdSchema, propagate: z.boolean().optional() }),
    audit: { action: "acl.update", target: ({ body }) => entryTarget(body), details: ({ body }) => ({ propagate: body.propagate ?? true }) },
    handler: ({ deps, body }) => updateAcl(deps.db, { path: body.path, role: body.role, authId: body["auth-id"], propagate: body.propagate }),
  }),
  route({
    method: "DELETE",
    path: "/access/acl",
    summary: "remove an ACL entry",
    access: { priv: "Permissions.Modify", path: "{path}" },
    query: z.strictObject({ path: aclPathSchema, role: roleSchema, "auth-id": authIdSchema }),
    audit: { action: "acl.remove", target: ({ query }) => entryTarget(query) },
    handler: ({ deps, query }) => {
      removeAcl(deps.db, { path: query.path, role: query.role, authId: query["auth-id"] });
      return { removed: { path: query.path, role: query.role, authId: query["auth-id"] } };
    },
  }),
  route({
    method: "GET",
    path: "/access/permissions",
    summary: "the caller's own privileges on a path (default /)",
    access: "authenticated",
    query: z.strictObject({ path: aclPathSchema.optional() }),
    handler: ({ deps, query, auth }) => {
      const path = query.path ?? "/";
      return { authId: auth!.authId, path, privileges: [...effectivePrivileges(deps.db, auth!.authId, path)].sort() };
    },
  }),
]);
