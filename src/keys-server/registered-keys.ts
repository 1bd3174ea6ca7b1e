/**
 * The key fingerprints this server accepts backups from (table `registered_keys`). A backup
 * session with `cryptMode: "encrypt"` names its keyring's fingerprint; an unregistered or
 * retired one is refused with the fingerprint and the fix in the message, so a client that
 * picked up the wrong keyfile finds out before it uploads anything.
 *
 * The fingerprint is public (docs/keys.md): registering it reveals nothing about the key.
 */
import { asc, eq } from "drizzle-orm";
import { isFingerprint } from "../keys/fingerprint.ts";
import type { StateDb } from "../state/db.ts";
import { registeredKeys, type RegisteredKeyRow } from "../state/schema/index.ts";
import { KeyPolicyError } from "./errors.ts";

export interface RegisteredKey {
  fingerprint: string;
  comment: string | null;
  state: "active" | "retired";
  /** ISO 8601 times. */
  registered: string;
  registeredBy: string;
  retired: string | null;
  retiredBy: string | null;
}

const MAX_COMMENT = 256;

function toKey(row: RegisteredKeyRow): RegisteredKey {
  return {
    fingerprint: row.fingerprint,
    comment: row.comment,
    state: row.retiredAt === null ? "active" : "retired",
    registered: new Date(row.registeredAt).toISOString(),
    registeredBy: row.registeredBy,
    retired: row.retiredAt === null ? null : new Date(row.retiredAt).toISOString(),
    retiredBy: row.retiredBy,
  };
}

/** Lower-cases and checks the `aa:bb:…` form (32 pairs); throws a 400 naming the value. */
export function normalizeFingerprint(value: string): string {
  const fp = value.trim().toLowerCase();
  if (!isFingerprint(fp)) {
    const shown = value.length > 120 ? `${value.slice(0, 120)}…` : value;
    throw new KeyPolicyError(
      `'${shown}' is not a key fingerprint: expected 32 hex pairs joined by ':' (95 characters)`,
      400,
      "invalid_request",
      "show a keyfile's fingerprint with: ironcore-backup key show <keyfile>",
    );
  }
  return fp;
}

function checkComment(comment: string | null | undefined): string | null {
  if (comment === undefined || comment === null || comment === "") return null;
  if (comment.length > MAX_COMMENT || /[\u0000-\u001f\u007f]/.test(comment)) {
    throw new KeyPolicyError(`key comment must be one line of at most ${MAX_COMMENT} characters`, 400, "invalid_request");
  }
  return comment;
}

export function listKeys(db: StateDb): RegisteredKey[] {
  return db.select().from(registeredKeys).orderBy(asc(registeredKeys.registeredAt), asc(registeredKeys.fingerprint)).all().map(toKey);
}

export function findKey(db: StateDb, fingerprint: string): RegisteredKey | undefined {
  const row = db.select().from(registeredKeys).where(eq(registeredKeys.fingerprint, normalizeFingerprint(fingerprint))).get();
  return row ? toKey(row) : undefined;
}

export interface RegisterResult {
  key: RegisteredKey;
  /** registered: new; reactivated: it was retired; unchanged: already active (the comment may be updated). */
  change: "registered" | "reactivated" | "unchanged";
}

/** Registers a fingerprint; registering a retired one makes it active again; repeating is harmless. */
export function registerKey(db: StateDb, fingerprint: string, opts: { comment?: string | null; by: string; now?: number }): RegisterResult {
  const fp = normalizeFingerprint(fingerprint);
  const comment = checkComment(opts.comment);
  const now = opts.now ?? Date.now();
  return db.transaction((tx) => {
    const existing = tx.select().from(registeredKeys).where(eq(registeredKeys.fingerprint, fp)).get();
    if (!existing) {
      const row = tx.insert(registeredKeys).values({ fingerprint: fp, comment, registeredAt: now, registeredBy: opts.by }).returning().get();
      return { key: toKey(row), change: "registered" as const };
    }
    const set: Partial<RegisteredKeyRow> = {};
    if (opts.comment !== undefined) set.comment = comment;
    if (existing.retiredAt !== null) Object.assign(set, { retiredAt: null, retiredBy: null, registeredAt: now, registeredBy: opts.by });
    const row = Object.keys(set).length ? tx.update(registeredKeys).set(set).where(eq(registeredKeys.fingerprint, fp)).returning().get()! : existing;
    return { key: toKey(row), change: existing.retiredAt !== null ? ("reactivated" as const) : ("unchanged" as const) };
  });
}

/** Retires a fingerprint: new backup sessions with it are refused; snapshots made with it stay readable. */
export function retireKey(db: StateDb, fingerprint: string, opts: { by: string; now?: number }): RegisteredKey {
  const fp = normalizeFingerprint(fingerprint);
  const existing = db.select().from(registeredKeys).where(eq(registeredKeys.fingerprint, fp)).get();
  if (!existing) throw new KeyPolicyError(`key fingerprint ${fp} is not registered on this server`, 404, "not_found", "list the registered keys with: ironcore-backup key list");
  if (existing.retiredAt !== null) return toKey(existing);
  const row = db
    .update(registeredKeys)
    .set({ retiredAt: opts.now ?? Date.now(), retiredBy: opts.by })
    .where(eq(registeredKeys.fingerprint, fp))
    .returning()
    .get()!;
  return toKey(row);
}

/**
 * The check a backup session makes: the fingerprint is registered and active. The refusal
 * names the fingerprint and both ways out (register it, or use the right keyfile).
 */
export function assertKeyAccepted(db: StateDb, fingerprint: string): string {
  const fp = normalizeFingerprint(fingerprint);
  const row = db.select().from(registeredKeys).where(eq(registeredKeys.fingerprint, fp)).get();
  if (!row) {
    throw new KeyPolicyError(
      `key fingerprint ${fp} is not registered on this server: backups encrypted with it are refused`,
      403,
      "key_not_registered",
      `if this is the right keyfile, an administrator registers it with: ironcore-backup key register ${fp}; otherwise back up with the keyfile whose fingerprint is registered (ironcore-backup key list on the server, key show <keyfile> on the client)`,
    );
  }
  if (row.retiredAt !== null) {
    throw new KeyPolicyError(
      `key fingerprint ${fp} was retired on ${new Date(row.retiredAt).toISOString()} by ${row.retiredBy}: new backups with it are refused`,
      403,
      "key_retired",
      `back up with the keyfile that replaced it, or an administrator registers it again with: ironcore-backup key register ${fp}`,
    );
  }
  return fp;
}
