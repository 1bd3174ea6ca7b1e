/**
 * S3 datastores (issue #8, phase 2): where a registered datastore with backend 's3' keeps its
 * content. The datastore's `path` (table `datastores`) is its local directory on this host:
 * `.ibs/` (datastore.json, catalog, locks) and the chunk cache (`.ibs/s3-cache/`); the content
 * is under `<prefix>/` in the bucket.
 *
 * `config_dir` is the node config dir the endpoint's secret file was read from when the store
 * was registered, so every role process (backup sessions, GC, verify) can open the store from
 * the registry alone. An endpoint is not removed while a datastore names it: the trigger says
 * so in words, the foreign key is the backstop.
 */
export default {
  name: "datastore_s3",
  sql: `
CREATE TABLE datastore_s3 (
  name TEXT PRIMARY KEY REFERENCES datastores(name) ON DELETE CASCADE,
  endpoint TEXT NOT NULL REFERENCES s3_endpoints(name) ON DELETE RESTRICT,
  bucket TEXT NOT NULL,
  prefix TEXT NOT NULL DEFAULT '',    -- '' for the bucket root; usually the datastore name
  cache_size INTEGER NOT NULL,        -- chunk cache budget in bytes (0: no cache)
  config_dir TEXT NOT NULL,           -- where <config dir>/s3-secrets/<endpoint>.secret is
  UNIQUE (endpoint, bucket, prefix)
);
CREATE TRIGGER s3_endpoint_in_use BEFORE DELETE ON s3_endpoints
WHEN EXISTS (SELECT 1 FROM datastore_s3 WHERE endpoint = OLD.name)
BEGIN
  SELECT RAISE(ABORT, 'S3 endpoint is used by a datastore: remove the datastores on it first (ironcore-backup datastore list)');
END;
`,
};
