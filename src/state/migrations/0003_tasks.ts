/**
 * The task queue and history, and scheduled jobs (issue #5).
 *
 * Worker slots are not a table of their own: a slot is held by a running task row whose `slot`
 * column is set, and the partial unique index `tasks_slot_held` makes it impossible for two
 * running tasks to hold the same slot of a node, whichever process claims them. Each claimer only
 * hands out slot numbers below its configured `worker.slots`, so the count is bounded by the
 * database, not by any process's memory.
 *
 * `tasks_job_due` is the scheduler's exactly-once guarantee: a job's due time can own one task.
 */
export default {
  name: "tasks",
  sql: `
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,           -- also the task-id field of the UPID
  upid TEXT NOT NULL UNIQUE,
  node TEXT NOT NULL,               -- node that created the task (the UPID's node)
  type TEXT NOT NULL,               -- UPID worker type: selftest, gc, verify, backup, ...
  worker_id TEXT,                   -- what it works on (unescaped UPID worker id)
  auth_id TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',-- JSON handed to the handler
  needs_slot INTEGER NOT NULL DEFAULT 0,
  owned INTEGER NOT NULL DEFAULT 0, -- 1: run by the process that created it, never claimed by others
  status TEXT NOT NULL,             -- queued | running | finished
  result TEXT,                      -- OK | WARNINGS: N | aborted | the error text; NULL until finished
  warnings INTEGER NOT NULL DEFAULT 0,
  queued_at INTEGER NOT NULL,       -- unix ms
  started_at INTEGER,               -- unix ms
  ended_at INTEGER,                 -- unix ms
  exec_node TEXT,                   -- the process running (or owning) the task
  exec_pid INTEGER,
  exec_pstart INTEGER,
  lease_until INTEGER,              -- unix ms; renewed by the runner while the task runs
  slot INTEGER,                     -- worker slot held while running (0-based), NULL when none
  abort_requested INTEGER,          -- unix ms of 'task abort'
  progress_done REAL,
  progress_total REAL,
  progress_unit TEXT,
  progress_rate REAL,               -- units per second, smoothed
  job_id TEXT,                      -- set when a job started the task
  due_at INTEGER                    -- epoch s: the job's due time this task runs for (NULL: run now)
);
CREATE UNIQUE INDEX tasks_slot_held ON tasks (exec_node, slot) WHERE status = 'running' AND slot IS NOT NULL;
CREATE UNIQUE INDEX tasks_job_due ON tasks (job_id, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status, id);
CREATE INDEX tasks_queued_at ON tasks (queued_at);

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,               -- gc | verify | prune | sync
  schedule TEXT NOT NULL,           -- calendar event as given
  store TEXT,
  options TEXT NOT NULL DEFAULT '{}',
  enabled INTEGER NOT NULL DEFAULT 1,
  comment TEXT,
  created_at INTEGER NOT NULL,      -- unix ms
  updated_at INTEGER NOT NULL,      -- unix ms
  last_due INTEGER NOT NULL,        -- epoch s: every due time up to here has been handled
  last_upid TEXT
);
`,
};
