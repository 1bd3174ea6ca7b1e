/** Drizzle tables for users, tokens, ACL, audit log and login-failure counters (0002_access). */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const users = sqliteTable("users", {
  userid: text("userid").primaryKey(),
  passwordHash: text("password_hash"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  expire: integer("expire"),
  comment: text("comment"),
  createdAt: integer("created_at").notNull(),
  passwordChangedAt: integer("password_changed_at"),
});

export const apiTokens = sqliteTable(
  "api_tokens",
  {
    tokenid: text("tokenid").primaryKey(),
    userid: text("userid")
      .notNull()
      .references(() => users.userid, { onDelete: "cascade" }),
    secretHash: text("secret_hash").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    expire: integer("expire"),
    privsep: integer("privsep", { mode: "boolean" }).notNull().default(true),
    comment: text("comment"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("api_tokens_userid").on(t.userid)],
);

export const acl = sqliteTable(
  "acl",
  {
    path: text("path").notNull(),
    authId: text("auth_id").notNull(),
    role: text("role").notNull(),
    propagate: integer("propagate", { mode: "boolean" }).notNull().default(true),
  },
  (t) => [primaryKey({ columns: [t.path, t.authId, t.role] }), index("acl_auth_id").on(t.authId)],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    time: integer("time").notNull(),
    authId: text("auth_id"),
    source: text("source").notNull(),
    action: text("action").notNull(),
    target: text("target"),
    result: text("result").notNull(),
    details: text("details"),
  },
  (t) => [index("audit_log_time").on(t.time), index("audit_log_auth_id").on(t.authId, t.time)],
);

export const loginFailures = sqliteTable(
  "login_failures",
  {
    scope: text("scope", { enum: ["user", "source"] }).notNull(),
    key: text("key").notNull(),
    failures: integer("failures").notNull(),
    windowStart: integer("window_start").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);
