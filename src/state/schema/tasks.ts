/** Tasks (queue and history) and scheduled jobs; see migrations/0003_tasks.ts for the rules. */
import { integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const tasks = sqliteTable("tasks", {
  id: integer("id").primaryKey(),
  upid: text("upid").notNull().unique(),
  node: text("node").notNull(),
  type: text("type").notNull(),
  workerId: text("worker_id"),
  authId: text("auth_id").notNull(),
  params: text("params").notNull().default("{}"),
  needsSlot: integer("needs_slot", { mode: "boolean" }).notNull().default(false),
  owned: integer("owned", { mode: "boolean" }).notNull().default(false),
  status: text("status", { enum: ["queued", "running", "finished"] }).notNull(),
  result: text("result"),
  warnings: integer("warnings").notNull().default(0),
  queuedAt: integer("queued_at").notNull(),
  startedAt: integer("started_at"),
  endedAt: integer("ended_at"),
  execNode: text("exec_node"),
  execPid: integer("exec_pid"),
  execPstart: integer("exec_pstart"),
  leaseUntil: integer("lease_until"),
  slot: integer("slot"),
  abortRequested: integer("abort_requested"),
  progressDone: real("progress_done"),
  progressTotal: real("progress_total"),
  progressUnit: text("progress_unit"),
  progressRate: real("progress_rate"),
  jobId: text("job_id"),
  dueAt: integer("due_at"),
});

export type TaskRow = typeof tasks.$inferSelect;

export const jobs = sqliteTable("jobs", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  schedule: text("schedule").notNull(),
  store: text("store"),
  options: text("options").notNull().default("{}"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  comment: text("comment"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  lastDue: integer("last_due").notNull(),
  lastUpid: text("last_upid"),
});

export type JobRow = typeof jobs.$inferSelect;
