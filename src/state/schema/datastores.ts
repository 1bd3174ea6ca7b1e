/** Registered datastores; see migrations/0004_datastores.ts. */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const datastores = sqliteTable("datastores", {
  name: text("name").primaryKey(),
  path: text("path").notNull().unique(),
  backend: text("backend", { enum: ["local"] }).notNull().default("local"),
  storeId: text("store_id").notNull(),
  comment: text("comment"),
  created: integer("created").notNull(),
});

export type DatastoreRow = typeof datastores.$inferSelect;
