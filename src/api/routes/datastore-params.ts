/**
 * Shared by the datastore administration routes (datastores.ts, datastore-namespaces.ts):
 * zod schemas built on the admin module's own rules (so the API, the CLI and the registry
 * agree on a valid name, path and namespace), and the translation of the datastore library's
 * errors, which carry no HTTP status, into the API's one error shape.
 */
import { z } from "zod";
import { describeDatastore, findDatastore, normalizeDatastorePath, SETTABLE_MODES, validateDatastoreName } from "../../datastore/admin/index.ts";
import { CorruptError, DatastoreError, LockedError, ModeError } from "../../datastore/errors.ts";
import { formatNamespace, parseNamespace } from "../../datastore/snapshot-path.ts";
import type { StateDb } from "../../state/db.ts";
import { ApiError } from "../errors.ts";
import { via } from "../schemas.ts";

export const datastoreNameSchema = via(validateDatastoreName);
export const datastorePathSchema = via(normalizeDatastorePath);
export const storeParams = z.strictObject({ store: datastoreNameSchema });

/** A namespace such as "prod/web" (or "" for the root), in its canonical form. */
export const namespaceSchema = via((s) => formatNamespace(parseNamespace(s)));
/** A namespace other than the root: what can be created or removed. */
export const childNamespaceSchema = via((s) => {
  const ns = parseNamespace(s);
  if (ns.length === 0) throw new Error("the root namespace always exists and cannot be created or removed; name one such as 'prod' or 'prod/web'");
  return formatNamespace(ns);
});

/** online, read-only or offline; a quarantine has its own route because it needs a reason. */
export const settableModeSchema = z.string().transform((s, ctx) => {
  if ((SETTABLE_MODES as readonly string[]).includes(s)) return s as (typeof SETTABLE_MODES)[number];
  const message =
    s === "quarantined" || s === "quarantine"
      ? "quarantine with POST /datastore/{store}/quarantine and a reason (it is shown in every refusal)"
      : `unknown datastore mode '${s}': choose one of ${SETTABLE_MODES.join(", ")}`;
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
});

/** Error codes of a refusal by the store's mode, the same as the backup session routes use. */
const MODE_CODES: Record<string, string> = { quarantined: "quarantined", "read-only": "read_only", offline: "offline" };

/**
 * Runs an admin call on a store and gives the library's errors an HTTP status: a mode refusal
 * or a lock is a 409 (the request is fine, the store's state forbids it now), damaged data a
 * 500 naming it, bad input (exit code 2) a 400, any other state the store is in (a namespace
 * that is not empty) a 409. Admin errors already carry their status and pass unchanged.
 */
export async function onStore<T>(db: StateDb, store: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof DatastoreError) || typeof (err as { httpStatus?: unknown }).httpStatus === "number") throw err;
    const details: Record<string, unknown> = err.hint ? { hint: err.hint } : {};
    if (err instanceof ModeError) {
      const entry = findDatastore(db, store);
      const mode = entry ? describeDatastore(entry).mode : null;
      throw new ApiError(409, (mode && MODE_CODES[mode]) ?? "datastore_mode", err.message, { ...details, mode });
    }
    if (err instanceof LockedError) throw new ApiError(409, "locked", err.message, details);
    if (err instanceof CorruptError) throw new ApiError(500, "corrupt", err.message, details);
    throw new ApiError(err.exitCode === 2 ? 400 : 409, err.exitCode === 2 ? "invalid_request" : "conflict", err.message, details);
  }
}
