/**
 * Reading errors of the AWS SDK: the HTTP status, the S3 error code, and one line for
 * messages. SDK errors carry `$metadata.httpStatusCode` and a `name` that is the S3 code
 * (`NoSuchKey`, `SlowDown`, …); network failures are plain Node errors with a `code`
 * (`ECONNRESET`, `ENOTFOUND`, …); HEAD answers have no body, so only the status is known.
 */

export function s3Status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** The S3 error code, or a network error code, or the error's name. */
export function s3Code(err: unknown): string {
  const e = err as { Code?: string; name?: string; code?: string };
  if (typeof e?.Code === "string") return e.Code;
  if (typeof e?.code === "string") return e.code;
  return e?.name ?? "Error";
}

export function isNotFound(err: unknown): boolean {
  const code = s3Code(err);
  return code === "NoSuchKey" || (s3Status(err) === 404 && code !== "NoSuchBucket");
}

export function isNoSuchBucket(err: unknown): boolean {
  return s3Code(err) === "NoSuchBucket";
}

export function isPreconditionFailed(err: unknown): boolean {
  return s3Status(err) === 412 || s3Code(err) === "PreconditionFailed";
}

/** The store does not know the If-None-Match header on PUT (rare; some gateways say so). */
export function isNotImplemented(err: unknown): boolean {
  const status = s3Status(err);
  return status === 501 || s3Code(err) === "NotImplemented";
}

/** "503 SlowDown: Please reduce your request rate." or "ECONNRESET: socket hang up". */
export function describeS3Error(err: unknown): string {
  const status = s3Status(err);
  const code = s3Code(err);
  let message = err instanceof Error ? err.message : String(err);
  if (!message || message === "UnknownError" || message === code) message = "";
  // The SDK's XML-parse failures carry a long dump; the first line says enough.
  message = message.split("\n")[0]!.slice(0, 300);
  const head = status ? `${status} ${code === "Unknown" || code === "UnknownError" ? "" : code}`.trim() : code;
  return message ? `${head}: ${message}` : head;
}
