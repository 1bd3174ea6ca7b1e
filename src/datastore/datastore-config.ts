/**
 * `<datastore>/.ibs/datastore.json`: identity, format version and mode of a datastore.
 * Written atomically (temp + fsync + rename). A newer format version is refused, so an old
 * binary never writes into a layout it does not understand.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { LocalBackend } from "./backends/local.ts";
import { DatastoreError } from "./errors.ts";

export const DATASTORE_FORMAT = "ironcore-backup datastore";
export const DATASTORE_FORMAT_VERSION = 1;
export const CONFIG_KEY = ".ibs/datastore.json";

export const DATASTORE_MODES = ["online", "read-only", "offline", "quarantined"] as const;
export type DatastoreMode = (typeof DATASTORE_MODES)[number];

const configSchema = z.object({
  format: z.literal(DATASTORE_FORMAT),
  format_version: z.number().int().positive(),
  id: z.string().min(1),
  created: z.string(),
  mode: z.enum(DATASTORE_MODES),
  mode_reason: z.string().optional(),
  /** RFC 3339 time the mode was set. */
  mode_since: z.string().optional(),
});

export type DatastoreConfig = z.infer<typeof configSchema>;

export function newDatastoreConfig(): DatastoreConfig {
  const now = new Date().toISOString();
  return { format: DATASTORE_FORMAT, format_version: DATASTORE_FORMAT_VERSION, id: randomUUID(), created: now, mode: "online", mode_since: now };
}

export async function writeDatastoreConfig(dir: string, config: DatastoreConfig): Promise<void> {
  await new LocalBackend(dir).put(CONFIG_KEY, new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n"));
}

/** Parses datastore.json; refuses foreign files and newer format versions by name. */
export function parseDatastoreConfig(text: string, path: string): DatastoreConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DatastoreError(`${path}: not valid JSON (${(err as Error).message})`, "restore the file from a backup of the datastore directory");
  }
  const version = (json as { format_version?: unknown } | null)?.format_version;
  if (typeof version === "number" && version > DATASTORE_FORMAT_VERSION) {
    throw new DatastoreError(
      `${path}: datastore format version ${version} is newer than this ironcore-backup supports (up to ${DATASTORE_FORMAT_VERSION})`,
      "upgrade ironcore-backup to open this datastore",
    );
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DatastoreError(`${path}: field '${issue.path.join(".") || "(root)"}' is invalid: ${issue.message}`);
  }
  return parsed.data;
}
