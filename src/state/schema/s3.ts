/** S3 endpoints; see migrations/0006_s3.ts (the secret key is in a 0600 file, not here). */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const s3Endpoints = sqliteTable("s3_endpoints", {
  name: text("name").primaryKey(),
  endpoint: text("endpoint").notNull(),
  region: text("region").notNull().default("us-east-1"),
  accessKeyId: text("access_key_id"),
  pathStyle: integer("path_style", { mode: "boolean" }).notNull().default(false),
  fingerprint: text("fingerprint"),
  caFile: text("ca_file"),
  rateLimit: integer("rate_limit"),
  maxRequests: integer("max_requests").notNull().default(32),
  conditionalCreate: text("conditional_create", { enum: ["auto", "on", "off"] }).notNull().default("auto"),
  comment: text("comment"),
  created: integer("created").notNull(),
  updated: integer("updated").notNull(),
});

export type S3EndpointRow = typeof s3Endpoints.$inferSelect;
