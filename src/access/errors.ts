/**
 * Errors of the access module. Each carries the HTTP status the API answers with
 * (`httpStatus`, `code`) and the CLI exit code, so the API and the CLI report the same thing.
 */
import { StatusError } from "../util/errors.ts";

export class AccessError extends StatusError {
  override name = "AccessError";
}

export const invalid = (message: string, hint?: string) => new AccessError(message, 400, "invalid_request", hint);
export const notFound = (message: string, hint?: string) => new AccessError(message, 404, "not_found", hint);
export const conflict = (message: string, hint?: string) => new AccessError(message, 409, "conflict", hint);
