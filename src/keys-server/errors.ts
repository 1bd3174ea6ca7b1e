/** Errors of the server's key policy; `httpStatus` and `code` are what the API answers with. */
import { StatusError } from "../util/errors.ts";

export class KeyPolicyError extends StatusError {
  override name = "KeyPolicyError";
}
