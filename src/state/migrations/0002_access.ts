/**
 * Access control and audit: users, API tokens, ACL entries, the audit log and failed-login
 * counters. Secrets are stored only as hashes (argon2id for passwords, SHA-256 for the
 * high-entropy token secrets); the ticket signing key lives in the config dir, not here.
 */
export default {
  name: "access",
  sql: `
CREATE TABLE users (
  userid TEXT PRIMARY KEY,          -- name@realm
  password_hash TEXT,               -- argon2id PHC string; NULL: no password (tokens only)
  enabled INTEGER NOT NULL DEFAULT 1,
  expire INTEGER,                   -- unix ms; NULL: never
  comment TEXT,
  created_at INTEGER NOT NULL,      -- unix ms
  password_changed_at INTEGER       -- unix ms
);

CREATE TABLE api_tokens (
  tokenid TEXT PRIMARY KEY,         -- name@realm!tokenname
  userid TEXT NOT NULL REFERENCES users(userid) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,        -- hex SHA-256 of the secret
  enabled INTEGER NOT NULL DEFAULT 1,
  expire INTEGER,                   -- unix ms; NULL: never
  privsep INTEGER NOT NULL DEFAULT 1, -- 1: only the token's own ACL entries (within the user's)
  comment TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_tokens_userid ON api_tokens(userid);

CREATE TABLE acl (
  path TEXT NOT NULL,               -- normalised ACL path, e.g. /datastore/store1/ns1
  auth_id TEXT NOT NULL,            -- user or token
  role TEXT NOT NULL,
  propagate INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (path, auth_id, role)
);
CREATE INDEX acl_auth_id ON acl(auth_id);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,            -- unix ms (UTC)
  auth_id TEXT,                     -- who; NULL when the request carried no valid identity
  source TEXT NOT NULL,             -- client address, or "cli" for admin commands on the node
  action TEXT NOT NULL,             -- e.g. login, user.create, acl.update
  target TEXT,                      -- what it acted on, e.g. bob@ibs
  result TEXT NOT NULL,             -- ok, or the status and error code
  details TEXT                      -- JSON object with non-secret context
);
CREATE INDEX audit_log_time ON audit_log(time);
CREATE INDEX audit_log_auth_id ON audit_log(auth_id, time);

CREATE TABLE login_failures (
  scope TEXT NOT NULL,              -- user | source
  key TEXT NOT NULL,                -- the user name tried, or the client address
  failures INTEGER NOT NULL,
  window_start INTEGER NOT NULL,    -- unix ms of the first failure in the current window
  PRIMARY KEY (scope, key)
);
`,
};
