/**
 * Errors of backup and restore sessions. Each carries the HTTP status and code the API answers
 * with (`httpStatus`, `code`: the shape src/api/errors.ts maps), so the client gets one line
 * that names the object and what to do. `storeError` turns the datastore library's errors into
 * these where the status matters to the client (full disk, mode, locks).
 */
import { BackendIoError, NotFoundError } from "../datastore/backends/backend.ts";
import { BlobError } from "../datastore/blob.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { CorruptError, LockedError, ModeError } from "../datastore/errors.ts";
import { isNoSpace, StatusError } from "../util/errors.ts";

export class SessionError extends StatusError {
  override name = "SessionError";
}

export const badRequest = (message: string, code = "bad_request", hint?: string) => new SessionError(message, 400, code, hint);
export const forbidden = (message: string, code = "forbidden", hint?: string) => new SessionError(message, 403, code, hint);
export const notFound = (message: string, code = "not_found", hint?: string) => new SessionError(message, 404, code, hint);
export const conflict = (message: string, code = "conflict", hint?: string) => new SessionError(message, 409, code, hint);

/** The session named in a URL is unknown, ended, or belongs to someone else (indistinguishable on purpose). */
export function noSuchSession(kind: "backup" | "reader", id: string): SessionError {
  return notFound(`${kind} session ${id} does not exist or has ended`, "no_session", `start a new ${kind === "backup" ? "backup" : "restore"}`);
}

const MODE_CODES: Record<string, string> = { quarantined: "quarantined", "read-only": "read_only", offline: "offline" };

/**
 * Maps what the datastore library throws while a session writes or reads to the status a
 * client should see; `what` names the object being written ("chunk ab12…", "index root.didx").
 */
export function storeError(err: unknown, store: Pick<Datastore, "name" | "mode">, what: string): unknown {
  if (err instanceof SessionError) return err;
  if (isNoSpace(err)) {
    return new SessionError(
      `datastore ${store.name}: no space left on device while writing ${what}; the backup was aborted and left no snapshot`,
      507,
      "insufficient_storage",
      `free space on datastore ${store.name} (prune old snapshots, then ironcore-backup gc start ${store.name}) or extend its filesystem, then run the backup again`,
    );
  }
  if (err instanceof ModeError) return new SessionError(err.message, 409, MODE_CODES[store.mode] ?? "datastore_mode", err.hint);
  if (err instanceof LockedError) return new SessionError(err.message, 409, "locked", err.hint);
  if (err instanceof BlobError) return new SessionError(err.message, 400, `invalid_blob`, "the client sent damaged data; run the backup again");
  if (err instanceof CorruptError) {
    return new SessionError(`datastore ${store.name}: ${err.message}`, 500, "corrupt", err.hint ?? `run ironcore-backup verify start ${store.name}`);
  }
  if (err instanceof NotFoundError) return new SessionError(`${what}: not found in datastore ${store.name}`, 404, "not_found");
  if (err instanceof BackendIoError) {
    return new SessionError(`datastore ${store.name}: ${err.message}`, 500, "storage_error", `check the datastore's disk: ironcore-backup datastore probe ${store.name}`);
  }
  return err;
}

const FATAL_CODES = new Set(Object.values(MODE_CODES));

/** Whether an error ends the session (the store cannot take this backup any more). */
export function isFatalForWriter(err: unknown): boolean {
  if (isNoSpace(err) || err instanceof ModeError) return true;
  return err instanceof SessionError && (err.httpStatus === 507 || err.httpStatus === 500 || FATAL_CODES.has(err.code));
}
