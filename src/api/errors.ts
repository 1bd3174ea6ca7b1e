/**
 * One error shape for every route: `{"error": {"code", "message", "details"}}`.
 * Errors thrown anywhere below a route become that shape: an `ApiError` as it is; an error
 * that carries `httpStatus` and `code` (the access module's errors) with those; any other
 * `IbsError` (bad input found by a module) as 400; a full disk or quota on the server as 507
 * that says so; anything else as 500 with the detail only in api.log.
 */
import { IbsError, isNoSpace } from "../util/errors.ts";

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (message: string, details: Record<string, unknown> = {}) => new ApiError(400, "bad_request", message, details);
export const unauthorized = (message = "authentication required") =>
  new ApiError(401, "unauthorized", message, {}, { "WWW-Authenticate": 'IBSAPIToken realm="ironcore-backup"' });
export const forbidden = (privilege: string, path: string) =>
  new ApiError(403, "forbidden", `permission check failed: ${privilege} on ${path} is required`, { privilege, path });

export interface MappedError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Set for 500s: the error to log. */
  internal?: unknown;
}

export function mapError(err: unknown): MappedError {
  if (err instanceof ApiError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, details: err.details } }, headers: err.headers };
  }
  if (isNoSpace(err)) {
    // Where a datastore write ran out of space the session code names the datastore
    // (backup-server/errors.ts); this is the server's own state database, logs or certificates.
    const what = (err as { code: string }).code === "EDQUOT" ? "disk quota exceeded" : "no space left on device";
    const message = `the backup server could not write its own files: ${what}`;
    const hint = "free space on the backup server's filesystems (its data directory and logs), then try again; api.log names the file";
    return { status: 507, body: { error: { code: "insufficient_storage", message, details: { hint } } }, headers: {}, internal: err };
  }
  if (err instanceof IbsError) {
    const status = typeof (err as any).httpStatus === "number" ? (err as any).httpStatus : 400;
    const code = typeof (err as any).code === "string" ? (err as any).code : "bad_request";
    const details: Record<string, unknown> = err.hint ? { hint: err.hint } : {};
    return { status, body: { error: { code, message: err.message, details } }, headers: {} };
  }
  return { status: 500, body: { error: { code: "internal", message: "internal error; see api.log", details: {} } }, headers: {}, internal: err };
}
