/**
 * Namespaces: nested `ns/<a>/ns/<b>/` prefixes. Object stores have no directories, so a
 * namespace exists while it has a zero-length `.namespace` marker or any content below it.
 */
import { DatastoreError } from "./errors.ts";
import { tryLock } from "./lock.ts";
import { formatNamespace, NAMESPACE_MARKER, type Namespace, namespaceKey, parseContentKey, validateNamespace } from "./snapshot-path.ts";
import type { StoreContext } from "./store-context.ts";
import { withLocks } from "./store-context.ts";

/** Prefix for keys in a namespace: "" for the root, else "ns/a/ns/b/". */
export function namespacePrefix(ns: Namespace): string {
  const key = namespaceKey(ns);
  return key ? `${key}/` : "";
}

export class NamespaceStore {
  constructor(private readonly ctx: StoreContext) {}

  /** Creates the namespace and any missing parents. */
  async create(ns: Namespace): Promise<void> {
    validateNamespace(ns);
    this.ctx.guard.assert("write", `create namespace ${formatNamespace(ns)}`);
    for (let depth = 1; depth <= ns.length; depth++) {
      const level = ns.slice(0, depth);
      const lock = await this.lock(level);
      await withLocks([lock], () =>
        this.ctx.tracked("namespace", namespaceKey(level), async () => {
          await this.ctx.backend.putIfAbsent(`${namespaceKey(level)}/${NAMESPACE_MARKER}`, new Uint8Array(0));
          this.ctx.catalog?.addNamespace(level);
        }),
      );
    }
  }

  async exists(ns: Namespace): Promise<boolean> {
    if (ns.length === 0) return true;
    if (await this.ctx.backend.stat(`${namespaceKey(ns)}/${NAMESPACE_MARKER}`)) return true;
    for await (const _ of this.ctx.backend.list(namespacePrefix(ns))) return true;
    return false;
  }

  /** Namespaces below `parent` (all depths, or only direct children), sorted. */
  async list(parent: Namespace = [], options: { recursive?: boolean } = {}): Promise<Namespace[]> {
    validateNamespace(parent);
    const found = new Map<string, Namespace>();
    for await (const { key } of this.ctx.backend.list(`${namespacePrefix(parent)}ns/`)) {
      const parsed = parseContentKey(key);
      if (!parsed) continue;
      const ns = parsed.kind === "namespace-marker" ? parsed.ns : parsed.kind === "group-file" ? parsed.group.ns : parsed.snapshot.ns;
      const deepest = options.recursive === false ? Math.min(ns.length, parent.length + 1) : ns.length;
      for (let depth = parent.length + 1; depth <= deepest; depth++) {
        const sub = ns.slice(0, depth);
        found.set(formatNamespace(sub), sub);
      }
    }
    return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, ns]) => ns);
  }

  /** Removes an empty namespace (no groups, no child namespaces). */
  async remove(ns: Namespace): Promise<void> {
    validateNamespace(ns);
    if (ns.length === 0) throw new DatastoreError("the root namespace cannot be removed", undefined, 2);
    this.ctx.guard.assert("write", `remove namespace ${formatNamespace(ns)}`);
    const lock = await this.lock(ns);
    await withLocks([lock], async () => {
      const marker = `${namespaceKey(ns)}/${NAMESPACE_MARKER}`;
      for await (const { key } of this.ctx.backend.list(namespacePrefix(ns))) {
        if (key !== marker) {
          throw new DatastoreError(`namespace ${formatNamespace(ns)} is not empty (holds '${key}')`, "forget its snapshots and remove its child namespaces first");
        }
      }
      await this.ctx.tracked("namespace", namespaceKey(ns), async () => {
        await this.ctx.backend.delete([marker]);
        this.ctx.catalog?.removeNamespace(ns);
      });
    });
  }

  /** Recovery: makes the catalog's row match the backend. False when the namespace is busy. */
  async settle(ns: Namespace): Promise<boolean> {
    const lock = await tryLock(this.ctx.locks.namespace(ns), "exclusive", "recovery");
    if (!lock) return false;
    return withLocks([lock], async () => {
      if (await this.exists(ns)) this.ctx.catalog?.addNamespace(ns);
      else this.ctx.catalog?.removeNamespace(ns);
      this.ctx.catalog?.endOp("namespace", namespaceKey(ns));
      return true;
    });
  }

  private lock(ns: Namespace) {
    return this.ctx.lockOrThrow(this.ctx.locks.namespace(ns), "exclusive", "namespace change", {
      what: `namespace ${formatNamespace(ns)}`,
      hint: "try again in a moment",
      timeoutMs: 5000,
    });
  }
}
