/**
 * Errors of datastore administration. Each carries the HTTP status and code the API answers
 * with (`httpStatus`, `code`, the shape src/api/errors.ts maps) and the CLI exit code, so the
 * CLI and the API report the same thing in the same words.
 */
import { StatusError } from "../../util/errors.ts";

export class DatastoreAdminError extends StatusError {
  override name = "DatastoreAdminError";
}

export const invalid = (message: string, hint?: string) => new DatastoreAdminError(message, 400, "invalid_request", hint);
export const notFound = (message: string, hint?: string) => new DatastoreAdminError(message, 404, "not_found", hint);
export const conflict = (message: string, hint?: string) => new DatastoreAdminError(message, 409, "conflict", hint);
/** The datastore is registered but its directory cannot be used now (not mounted, wrong disk). */
export const unavailable = (message: string, hint?: string) => new DatastoreAdminError(message, 503, "datastore_unavailable", hint);
