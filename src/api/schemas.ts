/**
 * zod building blocks for request validation, built on the access module's own parsers so
 * the API, the CLI and the database agree on what a valid name is.
 */
import { z } from "zod";
import { normalizeAclPath } from "../access/acl-path.ts";
import { nameProblem, parseAuthId, parseUserId } from "../access/ids.ts";
import { MAX_PASSWORD_LENGTH } from "../access/password.ts";
import { ROLES, type RoleName } from "../access/roles.ts";
import { parseExpire, parseTimeSpec } from "../access/time-spec.ts";

/** Runs a parser that throws with a message; its message becomes the zod issue. */
export function via<T>(parse: (s: string) => T) {
  return z.string().transform((s, ctx) => {
    try {
      return parse(s);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  });
}

export const userIdSchema = via((s) => parseUserId(s).userid);
export const authIdSchema = via((s) => {
  parseAuthId(s);
  return s;
});
export const tokenNameSchema = via((s) => {
  const problem = nameProblem(s, "token name");
  if (problem) throw new Error(problem);
  return s;
});
export const aclPathSchema = via((s) => normalizeAclPath(s));
export const roleSchema = z.enum(ROLES as [RoleName, ...RoleName[]]);
export const passwordSchema = z.string().max(MAX_PASSWORD_LENGTH);
/** An expiry: a time spec, "never", or null. Becomes unix ms or null. */
export const expireSchema = z.union([z.string(), z.null()]).transform((s, ctx) => {
  try {
    return parseExpire(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});
/** A past point in time (for "since"). Becomes unix ms. */
export const sinceSchema = via((s) => parseTimeSpec(s, "past", "since"));
export const commentSchema = z.string().max(512).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters");
/** Query-string booleans: 1/0/true/false. */
export const boolParam = z.enum(["1", "0", "true", "false"]).transform((s) => s === "1" || s === "true");
