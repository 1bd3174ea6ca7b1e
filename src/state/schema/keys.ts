/** Registered key fingerprints and the datastores' encryption requirement; see migrations/0005_keys.ts. */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const registeredKeys = sqliteTable("registered_keys", {
  fingerprint: text("fingerprint").primaryKey(),
  comment: text("comment"),
  registeredAt: integer("registered_at").notNull(),
  registeredBy: text("registered_by").notNull(),
  retiredAt: integer("retired_at"),
  retiredBy: text("retired_by"),
});

export const datastoreEncryption = sqliteTable("datastore_encryption", {
  store: text("store").primaryKey(),
  requireEncryption: integer("require_encryption", { mode: "boolean" }).notNull().default(false),
  changedAt: integer("changed_at").notNull(),
  changedBy: text("changed_by").notNull(),
});

export type RegisteredKeyRow = typeof registeredKeys.$inferSelect;
