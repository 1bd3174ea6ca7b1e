/**
 * Whether a datastore accepts unencrypted backups (table `datastore_encryption`). The default
 * is to allow them, as PBS does: many stores hold data that is not secret, or sit on encrypted
 * disks, and refusing by default would make the first backup of a new user fail. A store that
 * must only hold client-encrypted data says so once, and every `cryptMode: "none"` session
 * for it is refused with the reason.
 *
 * Kept in the node state like PBS's datastore.cfg options, keyed by the datastore's name.
 */
import { eq } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { datastoreEncryption } from "../state/schema/index.ts";
import { KeyPolicyError } from "./errors.ts";

export interface EncryptionPolicy {
  store: string;
  requireEncryption: boolean;
  /** ISO 8601; null when never set (the default applies). */
  changed: string | null;
  changedBy: string | null;
}

export function encryptionPolicy(db: StateDb, store: string): EncryptionPolicy {
  const row = db.select().from(datastoreEncryption).where(eq(datastoreEncryption.store, store)).get();
  if (!row) return { store, requireEncryption: false, changed: null, changedBy: null };
  return { store, requireEncryption: row.requireEncryption, changed: new Date(row.changedAt).toISOString(), changedBy: row.changedBy };
}

export function setEncryptionPolicy(db: StateDb, store: string, requireEncryption: boolean, opts: { by: string; now?: number }): EncryptionPolicy {
  const now = opts.now ?? Date.now();
  db.insert(datastoreEncryption)
    .values({ store, requireEncryption, changedAt: now, changedBy: opts.by })
    .onConflictDoUpdate({ target: datastoreEncryption.store, set: { requireEncryption, changedAt: now, changedBy: opts.by } })
    .run();
  return encryptionPolicy(db, store);
}

/** Refuses an unencrypted backup into a store that requires encryption. */
export function assertUnencryptedAllowed(db: StateDb, store: string): void {
  if (!encryptionPolicy(db, store).requireEncryption) return;
  throw new KeyPolicyError(
    `datastore ${store} requires encrypted backups: a backup with crypt mode none is refused`,
    403,
    "encryption_required",
    "back up with a keyfile (--keyfile, its fingerprint registered on the server), or an administrator allows unencrypted backups for this store",
  );
}
