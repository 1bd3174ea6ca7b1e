/**
 * Errors that reach a user. `IbsError` carries the exit code the CLI uses and an optional
 * hint ("what to do"); any other Error is a bug and exits 1 with its stack in debug mode.
 */
export class IbsError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "IbsError";
  }
}

/**
 * An error the API answers with an HTTP status and a code (src/api/errors.ts maps it) and the
 * CLI with an exit code (2 for bad input, else 1), so both faces report the same thing in the
 * same words. Each module names its own subclass, so logs say where it came from.
 */
export class StatusError extends IbsError {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly code: string,
    hint?: string,
    exitCode = httpStatus === 400 ? 2 : 1,
  ) {
    super(message, exitCode, hint);
    this.name = "StatusError";
  }
}

/** Bad input given by the user (arguments, specs, config): exit code 2, like usage errors. */
export class UsageError extends IbsError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
    this.name = "UsageError";
  }
}

/** Adds context to an error as it travels up: "load chunk ab12…: CRC mismatch". */
export function withContext(context: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const wrapped = err instanceof IbsError ? new IbsError(`${context}: ${msg}`, err.exitCode, err.hint) : new Error(`${context}: ${msg}`);
  (wrapped as any).cause = err;
  return wrapped;
}

/**
 * ENOSPC or EDQUOT: a filesystem (or quota) is full; SQLITE_FULL: bun:sqlite's word for it (a
 * state database or catalog that cannot grow). Also for errors that carry the errno of their
 * cause as `code` (the datastore backends' BackendIoError).
 */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
