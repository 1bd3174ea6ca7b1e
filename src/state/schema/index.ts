/** The drizzle tables of the node state database; each module adds its file here. */
export * from "./heartbeats.ts";
export * from "./access.ts";
export * from "./tasks.ts";
export * from "./datastores.ts";
export * from "./keys.ts";
export * from "./s3.ts";
export * from "./notifications.ts";
export * from "./datastore-s3.ts";
