/**
 * `datastore namespace create|list|remove <store> <ns>`: namespaces of a registered store,
 * through the library (which enforces names, the depth limit of 8 levels, the store's mode,
 * and refuses to remove a namespace that still holds groups or child namespaces).
 */
import type { StateDb } from "../../state/db.ts";
import { formatNamespace, MAX_NAMESPACE_DEPTH, parseNamespace } from "../snapshot-path.ts";
import { invalid, notFound } from "./errors.ts";
import { withRegisteredStore } from "./open.ts";
import { requireDatastore } from "./registry.ts";

export interface NamespaceEntry {
  ns: string;
  depth: number;
}

export interface NamespaceChange {
  store: string;
  ns: string;
  /** False when `create` found the namespace already there. */
  changed: boolean;
}

export { MAX_NAMESPACE_DEPTH };

function parseNonRoot(text: string) {
  const ns = parseNamespace(text);
  if (ns.length === 0) throw invalid("the root namespace always exists and cannot be created or removed", "name a namespace such as 'prod' or 'prod/web'");
  return ns;
}

export async function createNamespace(db: StateDb, store: string, nsText: string): Promise<NamespaceChange> {
  const ns = parseNonRoot(nsText);
  return withRegisteredStore(requireDatastore(db, store), async (ds) => {
    const existed = await ds.namespaces.exists(ns);
    await ds.namespaces.create(ns);
    return { store, ns: formatNamespace(ns), changed: !existed };
  });
}

export async function listNamespaces(db: StateDb, store: string, parentText = ""): Promise<NamespaceEntry[]> {
  const parent = parseNamespace(parentText);
  return withRegisteredStore(requireDatastore(db, store), async (ds) => {
    ds.assert("read", "list namespaces");
    if (!(await ds.namespaces.exists(parent))) throw notFound(`namespace '${formatNamespace(parent)}' does not exist in datastore ${store}`);
    return (await ds.namespaces.list(parent)).map((ns) => ({ ns: formatNamespace(ns), depth: ns.length }));
  });
}

export async function removeNamespace(db: StateDb, store: string, nsText: string): Promise<NamespaceChange> {
  const ns = parseNonRoot(nsText);
  return withRegisteredStore(requireDatastore(db, store), async (ds) => {
    if (!(await ds.namespaces.exists(ns))) throw notFound(`namespace '${formatNamespace(ns)}' does not exist in datastore ${store}`);
    await ds.namespaces.remove(ns);
    return { store, ns: formatNamespace(ns), changed: true };
  });
}
