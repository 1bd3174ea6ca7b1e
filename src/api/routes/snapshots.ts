/**
 * Snapshot management, docs/protocol.md "Snapshot management": list groups and snapshots,
 * forget, protection, notes, and the datastore's encryption requirement. Listing and the
 * changes are allowed by a privilege on the namespace or, for Datastore.Backup holders, by
 * owning the group; the router cannot express "either", so those routes are `authenticated`
 * and backup-server/snapshot-admin.ts decides (before it looks whether the snapshot exists).
 */
import { z } from "zod";
import { getSnapshotNotes, listGroups, listSnapshots, forgetSnapshot, setSnapshotNotes, setSnapshotProtected } from "../../backup-server/snapshot-admin.ts";
import { encryptionPolicy, setEncryptionPolicy } from "../../keys-server/encryption-policy.ts";
import { requireDatastore } from "../../datastore/admin/registry.ts";
import { route, routeGroup } from "../route.ts";

const typeSchema = z.enum(["vm", "ct", "host"]);
const storeParam = z.string().min(1).max(64);
const snapParams = z.strictObject({ store: storeParam, type: typeSchema, id: z.string().min(1).max(128), time: z.string().min(1).max(32) });
const nsQuery = z.strictObject({ ns: z.string().max(512).optional() });
const SNAP = "/datastore/:store/snapshots/:type/:id/:time";
const target = ({ params, query }: { params: z.infer<typeof snapParams>; query: { ns?: string } }) =>
  `${params.store}:${query?.ns ? `${query.ns}:` : ""}${params.type}/${params.id}/${params.time}`;

export default routeGroup("snapshots", [
  route({
    method: "GET",
    path: "/datastore/:store/groups",
    summary: "backup groups of a namespace (Datastore.Audit; with Datastore.Backup only own groups)",
    access: "authenticated",
    params: z.strictObject({ store: storeParam }),
    query: nsQuery,
    handler: ({ deps, auth, params, query }) => listGroups(deps, auth!.authId, params.store, query.ns),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/snapshots",
    summary: "snapshots of a namespace or group (Datastore.Audit; with Datastore.Backup only own groups)",
    access: "authenticated",
    params: z.strictObject({ store: storeParam }),
    query: z.strictObject({ ns: z.string().max(512).optional(), type: typeSchema.optional(), id: z.string().min(1).max(128).optional() }),
    handler: ({ deps, auth, params, query }) => listSnapshots(deps, auth!.authId, params.store, query),
  }),
  route({
    method: "DELETE",
    path: SNAP,
    summary: "forget a snapshot (Datastore.Prune, or Datastore.Backup as owner); refused when protected",
    access: "authenticated",
    params: snapParams,
    query: nsQuery,
    audit: { action: "snapshot.forget", target },
    handler: ({ deps, auth, params, query }) => forgetSnapshot(deps, auth!.authId, { ...params, ns: query.ns }),
  }),
  route({
    method: "PUT",
    path: `${SNAP}/protected`,
    summary: "protect or unprotect a snapshot (Datastore.Modify, or Datastore.Backup as owner)",
    access: "authenticated",
    params: snapParams,
    query: nsQuery,
    body: z.strictObject({ protected: z.boolean() }),
    audit: { action: "snapshot.protect", target, details: ({ body }) => ({ protected: body.protected }) },
    handler: ({ deps, auth, params, query, body }) => setSnapshotProtected(deps, auth!.authId, { ...params, ns: query.ns }, body.protected),
  }),
  route({
    method: "GET",
    path: `${SNAP}/notes`,
    summary: "a snapshot's notes (Datastore.Audit, or Datastore.Backup as owner)",
    access: "authenticated",
    params: snapParams,
    query: nsQuery,
    handler: ({ deps, auth, params, query }) => getSnapshotNotes(deps, auth!.authId, { ...params, ns: query.ns }),
  }),
  route({
    method: "PUT",
    path: `${SNAP}/notes`,
    summary: "set a snapshot's notes; empty or null removes them (Datastore.Modify, or Datastore.Backup as owner)",
    access: "authenticated",
    params: snapParams,
    query: nsQuery,
    body: z.strictObject({ notes: z.string().max(64 * 1024).nullable() }),
    audit: { action: "snapshot.notes", target },
    handler: ({ deps, auth, params, query, body }) => setSnapshotNotes(deps, auth!.authId, { ...params, ns: query.ns }, body.notes),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/encryption",
    summary: "whether the datastore refuses unencrypted backups",
    access: { priv: "Datastore.Audit", path: "/datastore/{store}" },
    params: z.strictObject({ store: storeParam }),
    handler: ({ deps, params }) => {
      requireDatastore(deps.db, params.store);
      return encryptionPolicy(deps.db, params.store);
    },
  }),
  route({
    method: "PUT",
    path: "/datastore/:store/encryption",
    summary: "require encrypted backups for a datastore (default: unencrypted ones are allowed)",
    access: { priv: "Datastore.Modify", path: "/datastore/{store}" },
    params: z.strictObject({ store: storeParam }),
    body: z.strictObject({ requireEncryption: z.boolean() }),
    audit: { action: "datastore.encryption", target: ({ params }) => params.store, details: ({ body }) => ({ requireEncryption: body.requireEncryption }) },
    handler: ({ deps, auth, params, body }) => {
      requireDatastore(deps.db, params.store);
      return setEncryptionPolicy(deps.db, params.store, body.requireEncryption, { by: auth!.authId });
    },
  }),
]);
