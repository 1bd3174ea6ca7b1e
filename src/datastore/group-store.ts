/**
 * Backup groups (`[ns/…/]<type>/<id>/`): the `owner` file (created once with a conditional
 * write by the first backup; only that owner may add snapshots) and the `notes` file.
 */
import { DatastoreError } from "./errors.ts";
import { tryLock } from "./lock.ts";
import { namespacePrefix } from "./namespace-store.ts";
import { BACKUP_TYPES, describeGroup, type GroupRef, groupKey, type Namespace, parseContentKey, validateGroup, validateNamespace } from "./snapshot-path.ts";
import { type StoreContext, withLocks } from "./store-context.ts";

export const OWNER_FILE = "owner";
export const GROUP_NOTES_FILE = "notes";

const enc = (s: string) => new TextEncoder().encode(s);

export class GroupStore {
  constructor(private readonly ctx: StoreContext) {}

  /** Groups directly in namespace `ns`, in key order. */
  async list(ns: Namespace = []): Promise<GroupRef[]> {
    validateNamespace(ns);
    const groups = new Map<string, GroupRef>();
    for (const type of BACKUP_TYPES) {
      for await (const { key } of this.ctx.backend.list(`${namespacePrefix(ns)}${type}/`)) {
        const parsed = parseContentKey(key);
        const group = parsed?.kind === "group-file" ? parsed.group : parsed?.kind === "snapshot-file" ? parsed.snapshot : null;
        if (group) groups.set(groupKey(group), { ns: group.ns, type: group.type, id: group.id });
      }
    }
    return [...groups.values()];
  }

  async getOwner(group: GroupRef): Promise<string | null> {
    return this.ctx.readText(`${groupKey(validateGroup(group))}/${OWNER_FILE}`);
  }

  /** Changes the owner (an admin operation; backups only ever create it). */
  async setOwner(group: GroupRef, owner: string): Promise<void> {
    validateGroup(group);
    checkOwner(owner);
    this.ctx.guard.assert("write", `change the owner of ${describeGroup(group)}`);
    await this.update(group, async () => {
      await this.ctx.backend.put(`${groupKey(group)}/${OWNER_FILE}`, enc(`${owner}\n`));
      this.ctx.catalog?.setGroupOwner(group, owner);
    });
  }

  /** First backup creates the owner file; later ones must be by the same owner. */
  async claim(group: GroupRef, owner: string): Promise<void> {
    checkOwner(owner);
    const lock = await this.metaLock(group);
    await withLocks([lock], async () => {
      const key = `${groupKey(group)}/${OWNER_FILE}`;
      const current = await this.ctx.readText(key);
      if (current === null) {
        await this.ctx.tracked("group", groupKey(group), async () => {
          await this.ctx.backend.putIfAbsent(key, enc(`${owner}\n`));
          this.ctx.catalog?.setGroupOwner(group, await this.ctx.readText(key));
        });
      } else if (current !== owner) {
        throw new DatastoreError(
          `backup group ${describeGroup(group)} belongs to '${current}'; '${owner}' may not add snapshots to it`,
          "back up into a group you own, or have an admin change the owner",
          2,
        );
      }
    });
  }

  async getNotes(group: GroupRef): Promise<string | null> {
    return this.ctx.readText(`${groupKey(validateGroup(group))}/${GROUP_NOTES_FILE}`, false);
  }

  async setNotes(group: GroupRef, notes: string | null): Promise<void> {
    validateGroup(group);
    this.ctx.guard.assert("write", `set notes of ${describeGroup(group)}`);
    await this.update(group, async () => {
      const key = `${groupKey(group)}/${GROUP_NOTES_FILE}`;
      if (notes) await this.ctx.backend.put(key, enc(notes));
      else await this.ctx.backend.delete([key]);
      this.ctx.catalog?.setGroupNotes(group, notes || null);
    });
  }

  /** Recovery: makes the catalog's group row match the backend. False when the group is busy. */
  async settle(group: GroupRef): Promise<boolean> {
    const lock = await tryLock(this.ctx.locks.groupMeta(group), "exclusive", "recovery");
    if (!lock) return false;
    return withLocks([lock], async () => {
      const catalog = this.ctx.catalog;
      if (catalog) {
        const hasContent = (await this.ctx.keysUnder(`${groupKey(group)}/`)).length > 0;
        if (hasContent) {
          catalog.setGroupOwner(group, await this.getOwner(group));
          catalog.setGroupNotes(group, await this.getNotes(group));
        } else {
          catalog.removeGroup(group);
        }
        catalog.endOp("group", groupKey(group));
      }
      return true;
    });
  }

  /** Owner and notes changes hold the group's meta lock and are tracked for recovery. */
  private async update(group: GroupRef, fn: () => Promise<void>): Promise<void> {
    const lock = await this.metaLock(group);
    await withLocks([lock], () => this.ctx.tracked("group", groupKey(group), fn));
  }

  private metaLock(group: GroupRef) {
    return this.ctx.lockOrThrow(this.ctx.locks.groupMeta(group), "exclusive", "group update", {
      what: `owner and notes of backup group ${describeGroup(group)}`,
      hint: "try again in a moment",
      timeoutMs: 5000,
    });
  }
}

export function checkOwner(owner: string): void {
  if (!owner || owner.length > 256 || /[\x00-\x1f\x7f]/.test(owner)) {
    throw new DatastoreError(`owner '${owner}' is invalid: expected an auth id like user@realm or user@realm!token`, undefined, 2);
  }
}
