/** Role heartbeats: what `status --services` reads. One row per (node, role). */
export default {
  name: "foundation",
  sql: `
CREATE TABLE role_heartbeats (
  node TEXT NOT NULL,
  role TEXT NOT NULL,
  state TEXT NOT NULL,              -- running | stopped | failed
  pid INTEGER NOT NULL,
  pstart INTEGER NOT NULL,          -- process start time in clock ticks since boot (/proc/<pid>/stat field 22)
  version TEXT NOT NULL,
  started_at INTEGER NOT NULL,      -- unix ms
  last_seen INTEGER NOT NULL,       -- unix ms
  stopped_at INTEGER,
  error TEXT,
  PRIMARY KEY (node, role)
);
`,
};
