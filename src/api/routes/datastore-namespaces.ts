/**
 * Namespaces of a datastore over the API, the same functions as `ironcore-backup datastore
 * namespace …`. Listing needs Datastore.Audit on the parent listed from; creating and removing
 * need Datastore.Modify on the namespace itself, so a grant on the store or on a parent (with
 * propagate, the default) covers them. (PBS checks the parent; a template cannot name the
 * parent of "a/b", and a grant made on a namespace's own path is meant to manage it.)
 */
import { z } from "zod";
import { createNamespace, listNamespaces, removeNamespace } from "../../datastore/admin/index.ts";
import { route, routeGroup } from "../route.ts";
import { childNamespaceSchema, namespaceSchema, onStore, storeParams } from "./datastore-params.ts";

const PATH = "/datastore/:store/namespaces";
const target = ({ params, body, query }: { params: { store: string }; body?: { ns: string }; query?: { ns?: string } }) =>
  `${params.store}:${body?.ns ?? query?.ns ?? ""}`;

export default routeGroup("datastore-namespaces", [
  route({
    method: "GET",
    path: PATH,
    summary: "namespaces of a datastore, all levels below parent (default: the root)",
    access: { priv: "Datastore.Audit", path: "/datastore/{store}/{parent}" },
    params: storeParams,
    query: z.strictObject({ parent: namespaceSchema.optional() }),
    handler: ({ deps, params, query }) => onStore(deps.db, params.store, () => listNamespaces(deps.db, params.store, query.parent ?? "")),
  }),
  route({
    method: "POST",
    path: PATH,
    summary: "create a namespace and its missing parents (up to 8 levels); changed: false when it existed",
    access: { priv: "Datastore.Modify", path: "/datastore/{store}/{ns}" },
    params: storeParams,
    body: z.strictObject({ ns: childNamespaceSchema }),
    audit: { action: "datastore.namespace.create", target },
    handler: ({ deps, params, body }) => onStore(deps.db, params.store, () => createNamespace(deps.db, params.store, body.ns)),
  }),
  route({
    method: "DELETE",
    path: PATH,
    summary: "remove an empty namespace (no groups, no child namespaces)",
    access: { priv: "Datastore.Modify", path: "/datastore/{store}/{ns}" },
    params: storeParams,
    query: z.strictObject({ ns: childNamespaceSchema }),
    audit: { action: "datastore.namespace.remove", target },
    handler: ({ deps, params, query }) => onStore(deps.db, params.store, () => removeNamespace(deps.db, params.store, query.ns)),
  }),
]);
