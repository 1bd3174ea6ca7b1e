/** Errors of the server's key policy; `httpStatus` and `code` are what the API answers with. */
import { IbsError } from "../util/errors.ts";

export class KeyPolicyError extends IbsError {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly code: string,
    hint?: string,
  ) {
    super(message, httpStatus === 400 ? 2 : 1, hint);
    this.name = "KeyPolicyError";
  }
}
