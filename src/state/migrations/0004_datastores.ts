/**
 * The datastores this node serves (issue #4): name -> directory. The datastore's own state
 * (format, mode, catalog) lives in `<path>/.ibs/` and travels with the data; this row only
 * says where to find it. `store_id` is the id from `<path>/.ibs/datastore.json` at
 * registration, so a different disk mounted at the path is noticed instead of written to.
 */
export default {
  name: "datastores",
  sql: `
CREATE TABLE datastores (
  name TEXT PRIMARY KEY,            -- 3..32 chars, [A-Za-z0-9_][A-Za-z0-9._-]*
  path TEXT NOT NULL UNIQUE,        -- absolute, normalized; never nested in another store's path
  backend TEXT NOT NULL DEFAULT 'local', -- local (s3 later)
  store_id TEXT NOT NULL,           -- id from .ibs/datastore.json
  comment TEXT,
  created INTEGER NOT NULL          -- unix ms of registration
);
`,
};
