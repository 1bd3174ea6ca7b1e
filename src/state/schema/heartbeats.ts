import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const roleHeartbeats = sqliteTable(
  "role_heartbeats",
  {
    node: text("node").notNull(),
    role: text("role").notNull(),
    state: text("state", { enum: ["running", "stopped", "failed"] }).notNull(),
    pid: integer("pid").notNull(),
    pstart: integer("pstart").notNull(),
    version: text("version").notNull(),
    startedAt: integer("started_at").notNull(),
    lastSeen: integer("last_seen").notNull(),
    stoppedAt: integer("stopped_at"),
    error: text("error"),
  },
  (t) => [primaryKey({ columns: [t.node, t.role] })],
);
