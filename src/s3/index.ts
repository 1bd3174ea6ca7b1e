/**
 * S3 endpoints and S3 datastores: what the datastore admin code and the CLI use.
 *
 *   openS3Backend(endpointConfig, bucket, prefix?, { cacheDir, cacheSize })  the Backend (SDK loaded lazily)
 *   probeS3(endpointConfig, { bucket, prefix, expectedId })                  `datastore probe` on S3
 *   writeS3Marker / readS3Marker                                             the prefix's owner marker
 *   loadEndpointConfig(db, configDir, name)                                  config + secret from the node state
 *   readPersistedCounters(cacheDir)                                          request counters for `datastore stats`
 *
 * Key layout, conditional create and the single-writer-host rule: docs/formats.md ("S3 key
 * layout"); operation: docs/operations.md ("S3 datastores").
 */
export { DEFAULT_S3_CACHE_SIZE, openS3Backend, S3Backend, type S3BackendOptions } from "../datastore/backends/s3.ts";
export { type CounterSnapshot, type PersistedCounters, readPersistedCounters, REQUEST_KINDS, totalRequests } from "../datastore/backends/s3-counters.ts";
export { type ConditionalSupport } from "../datastore/backends/s3-conditional.ts";
export * from "./endpoint-config.ts";
export * from "./endpoints.ts";
export { readS3Marker, S3_MARKER_KEY, type S3Marker, writeS3Marker } from "./marker.ts";
export { probeS3, type S3ProbeCheck, type S3ProbeReport, type S3ProbeOptions } from "./probe.ts";
export { S3AdminError } from "./errors.ts";
