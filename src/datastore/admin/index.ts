/**
 * Datastore administration: what `ironcore-backup datastore …` and the API's datastore
 * routes call. Every function takes the node state database and returns plain data;
 * errors are DatastoreAdminError (with httpStatus and code) or the library's errors.
 */
export { createDatastore, type CreateDatastoreInput, type CreateDatastoreResult } from "./create.ts";
export { ensureDefaultDatastore, type DefaultDatastore } from "./embedded.ts";
export { DatastoreAdminError } from "./errors.ts";
export { activeStoreTasks, liveLockHolders, storeJobs, storeUsers } from "./in-use.ts";
export { type MaintenanceResult, readMaintenanceResult, recordMaintenanceResult } from "./maintenance-status.ts";
export {
  assertGcAllowed,
  GC_QUARANTINE_REFUSAL,
  parseSettableMode,
  QuarantinedError,
  quarantineDatastore,
  releaseDatastore,
  setDatastoreMode,
  SETTABLE_MODES,
  type ModeState,
  type SettableMode,
} from "./modes.ts";
export { DATASTORE_NAME_PATTERN, normalizeDatastorePath, validateDatastoreName } from "./names.ts";
export { createNamespace, listNamespaces, removeNamespace, type NamespaceChange, type NamespaceEntry } from "./namespaces.ts";
export { openRegisteredStore, withRegisteredStore } from "./open.ts";
export { probeDatastore, probePath, type ProbeCheck, type ProbeReport } from "./probe.ts";
export { findDatastore, listDatastores, requireDatastore, updateDatastoreComment, type RegisteredDatastore } from "./registry.ts";
export { reindexDatastore, type DatastoreReindexResult } from "./reindex.ts";
export { removeDatastore, type RemoveDatastoreOptions, type RemoveDatastoreResult } from "./remove.ts";
export { describeDatastore, listDatastoreInfo, showDatastore, type DatastoreInfo } from "./show.ts";
export { datastoreStats, filesystemStats, type DatastoreStatsReport } from "./stats.ts";
export { parseCacheSize } from "./s3-create.ts";
export { type S3StoreStats } from "./s3-stats.ts";
export { datastoresOnEndpoint, type S3Location } from "./registry.ts";
