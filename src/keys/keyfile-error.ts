import { IbsError } from "../util/errors.ts";

/** Why a keyfile operation failed, for callers that react differently (e.g. ask again on a wrong passphrase). */
export type KeyfileFailure =
  | "not-found"
  | "exists"
  | "io"
  | "corrupt"
  | "unsupported-version"
  | "passphrase-missing"
  | "passphrase-too-short"
  | "wrong-passphrase"
  | "tampered"
  | "bad-request";

export class KeyfileError extends IbsError {
  constructor(
    readonly reason: KeyfileFailure,
    message: string,
    hint?: string,
  ) {
    super(message, reason === "passphrase-missing" || reason === "passphrase-too-short" || reason === "bad-request" ? 2 : 1, hint);
    this.name = "KeyfileError";
  }
}
