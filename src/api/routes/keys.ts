/**
 * The key fingerprints this server accepts backups from (docs/protocol.md "Keys"); the admin
 * CLI (`ironcore-backup key register|list|retire`) calls the same functions.
 */
import { z } from "zod";
import { listKeys, registerKey, retireKey } from "../../keys-server/registered-keys.ts";
import { route, routeGroup } from "../route.ts";
import { commentSchema } from "../schemas.ts";

const PATH = "/system/keys";

export default routeGroup("keys", [
  route({
    method: "GET",
    path: "/keys",
    summary: "registered key fingerprints, active and retired",
    access: { priv: "Sys.Audit", path: PATH },
    handler: ({ deps }) => listKeys(deps.db),
  }),
  route({
    method: "POST",
    path: "/keys",
    summary: "register a key fingerprint (again, for a retired one): backups encrypted with it are accepted",
    access: { priv: "Sys.Modify", path: PATH },
    body: z.strictObject({ fingerprint: z.string().min(1).max(200), comment: commentSchema.nullable().optional() }),
    audit: { action: "key.register", target: ({ body }) => body.fingerprint.toLowerCase() },
    handler: ({ deps, auth, body }) => registerKey(deps.db, body.fingerprint, { comment: body.comment, by: auth!.authId }),
  }),
  route({
    method: "DELETE",
    path: "/keys/:fingerprint",
    summary: "retire a key fingerprint: new backups with it are refused, its snapshots stay readable",
    access: { priv: "Sys.Modify", path: PATH },
    params: z.strictObject({ fingerprint: z.string().min(1).max(200) }),
    audit: { action: "key.retire", target: ({ params }) => params.fingerprint.toLowerCase() },
    handler: ({ deps, auth, params }) => retireKey(deps.db, params.fingerprint, { by: auth!.authId }),
  }),
]);
