/** Where S3 datastores keep their content; see migrations/0008_datastore_s3.ts. */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const datastoreS3 = sqliteTable("datastore_s3", {
  name: text("name").primaryKey(),
  endpoint: text("endpoint").notNull(),
  bucket: text("bucket").notNull(),
  prefix: text("prefix").notNull().default(""),
  cacheSize: integer("cache_size").notNull(),
  configDir: text("config_dir").notNull(),
});

export type DatastoreS3Row = typeof datastoreS3.$inferSelect;
