/** Errors of the datastore that reach operators; each names the object it is about. */
import { IbsError } from "../util/errors.ts";

export class DatastoreError extends IbsError {
  constructor(message: string, hint?: string, exitCode = 1) {
    super(message, exitCode, hint);
    this.name = "DatastoreError";
  }
}

/** A lock is held by someone else (another backup in the group, a reader, a verify). */
export class LockedError extends DatastoreError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = "LockedError";
  }
}

/** The datastore's mode (read-only, offline, quarantined) forbids the operation. */
export class ModeError extends DatastoreError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = "ModeError";
  }
}

/** Stored data is damaged: a file failed its checksum or does not parse. */
export class CorruptError extends DatastoreError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = "CorruptError";
  }
}
