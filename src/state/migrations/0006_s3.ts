/**
 * S3 endpoints (issue #8): where an S3-compatible object store is and how to talk to it.
 * Datastores on S3 name an endpoint plus a bucket and a prefix; one endpoint serves many.
 *
 * The secret access key is NOT in this table: it lives in `<config dir>/s3-secrets/<name>.secret`
 * (mode 0600), so a copy of the state database (backups of /var/lib, support bundles) never
 * carries it. `access_key_id` NULL means "use the AWS default credential chain" (environment,
 * shared config files, instance role) instead of a stored key.
 */
export default {
  name: "s3",
  sql: `
CREATE TABLE s3_endpoints (
  name TEXT PRIMARY KEY,                 -- 3..32 chars, [A-Za-z0-9_][A-Za-z0-9._-]*
  endpoint TEXT NOT NULL,                -- https://host[:port] (http only for tests and loopback)
  region TEXT NOT NULL DEFAULT 'us-east-1',
  access_key_id TEXT,                    -- NULL: AWS default credential chain
  path_style INTEGER NOT NULL DEFAULT 0, -- 1: https://host/bucket/key, 0: https://bucket.host/key
  fingerprint TEXT,                      -- pinned SHA-256 of the endpoint's certificate (AA:BB:...)
  ca_file TEXT,                          -- PEM file of the CA that signs the endpoint's certificate
  rate_limit INTEGER,                    -- bytes per second, each direction; NULL: unlimited
  max_requests INTEGER NOT NULL DEFAULT 32, -- concurrent requests per process
  conditional_create TEXT NOT NULL DEFAULT 'auto', -- auto | on | off (If-None-Match on PUT)
  comment TEXT,
  created INTEGER NOT NULL,              -- unix ms
  updated INTEGER NOT NULL               -- unix ms
);
`,
};
