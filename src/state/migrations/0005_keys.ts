/**
 * Encryption policy of the node (issue #6): the key fingerprints a backup may be made with
 * (`key register|list|retire`), and per datastore whether unencrypted backups are refused.
 *
 * A retired key stays in the table (who retired it, when) so a refusal can say "retired on …"
 * instead of "unknown"; registering it again makes it active. Snapshots already made with a
 * retired key stay readable: the table only gates new backup sessions.
 */
export default {
  name: "keys",
  sql: `
CREATE TABLE registered_keys (
  fingerprint TEXT PRIMARY KEY,     -- 32 bytes as lowercase hex pairs joined by ':' (docs/keys.md)
  comment TEXT,
  registered_at INTEGER NOT NULL,   -- unix ms
  registered_by TEXT NOT NULL,      -- auth-id (root@pam for the CLI)
  retired_at INTEGER,               -- unix ms; NULL while the key is active
  retired_by TEXT
);

CREATE TABLE datastore_encryption (
  store TEXT PRIMARY KEY,           -- datastore name (the registry's name)
  require_encryption INTEGER NOT NULL DEFAULT 0, -- 1: backups with crypt mode none are refused
  changed_at INTEGER NOT NULL,      -- unix ms
  changed_by TEXT NOT NULL
);
`,
};
