/** The audit log, newest last. */
import { z } from "zod";
import { listAudit } from "../../audit/audit-log.ts";
import { route, routeGroup } from "../route.ts";
import { authIdSchema, sinceSchema } from "../schemas.ts";

export default routeGroup("audit", [
  route({
    method: "GET",
    path: "/audit",
    summary: "audit log entries (since a time, of one auth-id, the newest N)",
    access: { priv: "Sys.Audit", path: "/system/audit" },
    query: z.strictObject({
      since: sinceSchema.optional(),
      "auth-id": authIdSchema.optional(),
      limit: z.coerce.number().int().min(1).max(10_000).optional(),
    }),
    handler: ({ deps, query }) => listAudit(deps.db, { since: query.since, authId: query["auth-id"], limit: query.limit }),
  }),
]);
