/**
 * Errors of S3 endpoint administration, with the HTTP status and code an API route answers
 * with (the shape src/api/errors.ts maps) and the CLI exit code.
 */
import { StatusError } from "../util/errors.ts";

export class S3AdminError extends StatusError {
  override name = "S3AdminError";
}

export const invalid = (message: string, hint?: string) => new S3AdminError(message, 400, "invalid_request", hint);
export const notFound = (message: string, hint?: string) => new S3AdminError(message, 404, "not_found", hint);
export const conflict = (message: string, hint?: string) => new S3AdminError(message, 409, "conflict", hint);
