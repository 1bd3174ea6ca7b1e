/**
 * What an operation does to the datastore, so the datastore's mode can allow or refuse it:
 * - read:         restore, listing, verify reading chunks
 * - write:        new backups, forget, prune, GC, notes, protection, owners
 * - verify-write: verify recording its results (verify state, moving corrupt chunks aside);
 *                 allowed in read-only and quarantined modes so verify keeps working there
 */
export type OperationClass = "read" | "write" | "verify-write";

export interface AccessGuard {
  /** Throws (ModeError) when the operation is not allowed now; `what` names it for the message. */
  assert(op: OperationClass, what: string): void;
}

export const ALLOW_ALL: AccessGuard = { assert() {} };
