/**
 * Datastore administration over the API (docs/operations.md "Datastores", "Over the API"): the
 * same src/datastore/admin functions as `ironcore-backup datastore …`, with the same audit
 * actions. Privileges follow PBS: registering and removing a store is Datastore.Allocate
 * (only the Admin role holds it: a store is a directory on the host, chosen by the host's
 * administrator), changing one is Datastore.Modify, looking at one is Datastore.Audit, each on
 * /datastore/<store> (creating on /datastore). Namespaces are in datastore-namespaces.ts, the
 * body of a create (local or S3) in datastore-create-body.ts, GC and verify in
 * datastore-maintenance.ts.
 */
import { z } from "zod";
import { hasPrivilege } from "../../access/permissions.ts";
import {
  createDatastore,
  datastoreStats,
  describeDatastore,
  listDatastores,
  probeDatastore,
  quarantineDatastore,
  reindexDatastore,
  releaseDatastore,
  removeDatastore,
  setDatastoreMode,
  showDatastore,
  updateDatastoreComment,
} from "../../datastore/admin/index.ts";
import { MAX_REASON_LENGTH } from "../../datastore/admin/modes.ts";
import { route, routeGroup } from "../route.ts";
import { boolParam, commentSchema } from "../schemas.ts";
import { createBody, createInput, rethrowUnknownEndpoint } from "./datastore-create-body.ts";
import { onStore, settableModeSchema, storeParams } from "./datastore-params.ts";

const STORE = "/datastore/{store}";
const reasonSchema = z.string().max(MAX_REASON_LENGTH);
const storeTarget = ({ params }: { params: { store: string } }) => params.store;

export default routeGroup("datastores", [
  route({
    method: "GET",
    path: "/datastore",
    summary: "datastores with mode and availability; only those the caller has Datastore.Audit on",
    // Filtered per entry (as PBS does), so one route serves every caller: a grant on one store shows that store.
    access: "authenticated",
    handler: ({ deps, auth }) =>
      listDatastores(deps.db)
        .filter((d) => hasPrivilege(deps.db, auth!.authId, `/datastore/${d.name}`, "Datastore.Audit"))
        .map(describeDatastore),
  }),
  route({
    method: "GET",
    path: "/datastore/:store",
    summary: "one datastore: path, id, mode, availability",
    access: { priv: "Datastore.Audit", path: STORE },
    params: storeParams,
    handler: ({ deps, params }) => showDatastore(deps.db, params.store),
  }),
  route({
    method: "POST",
    path: "/datastore",
    summary:
      "prepare an empty directory as a datastore and register it (reuse: adopt the IBS datastore already there); backend s3: the content in a bucket of an S3 endpoint, .ibs/ and the chunk cache in cache-dir",
    access: { priv: "Datastore.Allocate", path: "/datastore" },
    body: createBody,
    audit: {
      action: "datastore.create",
      target: ({ body }) => body.name,
      // The same details as `datastore create` records.
      details: ({ body }) =>
        body.backend === "s3"
          ? { path: body["cache-dir"] ?? body.path, backend: "s3", endpoint: body["s3-endpoint"], bucket: body.bucket, prefix: body.prefix ?? body.name }
          : { path: body.path, reuse: body.reuse ?? false },
    },
    handler: ({ deps, body }) => createDatastore(deps.db, createInput(deps.config, body)).catch((err) => rethrowUnknownEndpoint(err, body)),
  }),
  route({
    method: "PUT",
    path: "/datastore/:store",
    summary: "change a datastore's comment ('' or null clears it)",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    body: z.strictObject({ comment: commentSchema.nullable() }),
    audit: { action: "datastore.update", target: storeTarget },
    handler: ({ deps, params, body }) => updateDatastoreComment(deps.db, params.store, body.comment?.trim() || null),
  }),
  route({
    method: "DELETE",
    path: "/datastore/:store",
    summary: "unregister a datastore (refused while in use); destroy-data=1 also deletes its content (refused while quarantined)",
    access: { priv: "Datastore.Allocate", path: STORE },
    params: storeParams,
    query: z.strictObject({ "destroy-data": boolParam.optional() }),
    audit: { action: "datastore.remove", target: storeTarget, details: ({ query }) => ({ destroyData: query["destroy-data"] ?? false }) },
    handler: ({ deps, params, query }) => onStore(deps.db, params.store, () => removeDatastore(deps.db, params.store, { destroyData: query["destroy-data"] ?? false })),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/probe",
    summary: "check mount, config, read, write (a probe file), space, inodes, latency; a failed check is in the report (ok: false), not an error",
    access: { priv: "Datastore.Audit", path: STORE },
    params: storeParams,
    handler: ({ deps, params }) => probeDatastore(deps.db, params.store),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/stats",
    summary: "filesystem size/used/available and inodes, chunks, logical bytes, dedup factor, counts, last GC and verify",
    access: { priv: "Datastore.Audit", path: STORE },
    params: storeParams,
    handler: ({ deps, params }) => onStore(deps.db, params.store, () => datastoreStats(deps.db, params.store)),
  }),
  route({
    method: "PUT",
    path: "/datastore/:store/mode",
    summary: "set the mode: online, read-only or offline (a quarantine is lifted only by release)",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    body: z.strictObject({ mode: settableModeSchema, reason: reasonSchema.optional() }),
    audit: { action: "datastore.mode", target: storeTarget, details: ({ body }) => ({ mode: body.mode, reason: body.reason }) },
    handler: ({ deps, params, body }) => onStore(deps.db, params.store, () => setDatastoreMode(deps.db, params.store, body.mode, body.reason)),
  }),
  route({
    method: "POST",
    path: "/datastore/:store/quarantine",
    summary: "quarantine: new writes and GC refused naming the reason; verify and restore still work",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    body: z.strictObject({ reason: reasonSchema }),
    audit: { action: "datastore.quarantine", target: storeTarget, details: ({ body }) => ({ reason: body.reason }) },
    handler: ({ deps, params, body }) => onStore(deps.db, params.store, () => quarantineDatastore(deps.db, params.store, body.reason)),
  }),
  route({
    method: "POST",
    path: "/datastore/:store/release",
    summary: "lift a quarantine, to online (default), read-only or offline",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    body: z.strictObject({ mode: settableModeSchema.optional() }),
    audit: { action: "datastore.release", target: storeTarget, details: ({ body }) => ({ mode: body.mode ?? "online" }) },
    handler: ({ deps, params, body }) => onStore(deps.db, params.store, () => releaseDatastore(deps.db, params.store, body.mode ?? "online")),
  }),
  route({
    method: "POST",
    path: "/datastore/:store/reindex",
    summary: "rebuild the catalog from the store's files; says whether it equals the catalog it replaced",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    audit: { action: "datastore.reindex", target: storeTarget },
    handler: ({ deps, params }) => onStore(deps.db, params.store, () => reindexDatastore(deps.db, params.store)),
  }),
]);
