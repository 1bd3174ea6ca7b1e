/**
 * Mounts declared routes (route.ts) on the hono app and enforces their declarations:
 * authenticate (401) -> read and validate params, query and JSON body (400, naming the
 * field) -> check the privilege on the ACL path (403, naming privilege and path) -> handler
 * -> audit every state-changing request with its outcome. Errors leave in one JSON shape.
 */
import type { Context, Hono } from "hono";
import type { z } from "zod";
import { normalizeAclPath } from "../access/acl-path.ts";
import { hasPrivilege } from "../access/permissions.ts";
import type { ApiDeps } from "./app.ts";
import { authenticate, AuthFailure, type AuthInfo } from "./auth/authenticate.ts";
import { makeRoomForCleanup } from "./disk-full.ts";
import { ApiError, badRequest, forbidden, mapError } from "./errors.ts";
import type { RouteGroup, RouteInput, RouteSpec } from "./route.ts";
import { readCapped } from "./read-capped.ts";

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Every route mounted, with the full path: what the route-table test walks. */
export interface MountedRoute {
  group: string;
  method: string;
  path: string;
  spec: RouteSpec;
}

export function mountRouteGroups(app: Hono, prefix: string, groups: RouteGroup[], deps: ApiDeps): MountedRoute[] {
  const mounted: MountedRoute[] = [];
  for (const group of groups) {
    for (const spec of group.routes) {
      const path = prefix + spec.path;
      app.on(spec.method, path, (c) => handle(spec, c, deps));
      mounted.push({ group: group.name, method: spec.method, path, spec });
    }
  }
  return mounted;
}

export function sourceAddress(c: Context): string {
  try {
    const addr: string | undefined = (c.env as any)?.requestIP?.(c.req.raw)?.address;
    if (addr) return addr.startsWith("::ffff:") ? addr.slice(7) : addr;
  } catch {
    // no server behind the request (in-process tests): fall through
  }
  return "local";
}

async function handle(spec: RouteSpec, c: Context, deps: ApiDeps): Promise<Response> {
  const source = sourceAddress(c);
  let auth: AuthInfo | null = null;
  let input: RouteInput<any, any, any> | null = null;
  let claimed: string | null = null;
  let response: Response;
  try {
    if (spec.access !== "public") {
      try {
        auth = authenticate(deps.db, deps.ticketKey, c.req.raw);
      } catch (err) {
        if (err instanceof AuthFailure) claimed = err.claimed;
        throw err;
      }
    }
    input = await readInput(spec, c);
    if (auth && typeof spec.access === "object") authorize(deps, auth, spec.access, input);
    const out = await spec.handler({ ...input, auth, deps, source, c });
    response = out instanceof Response ? out : c.json(out ?? {});
  } catch (err) {
    const m = mapError(err);
    if (m.internal) deps.log.error("request failed", { err: m.internal as Error, method: spec.method, path: c.req.path });
    // Not for a backup's own requests: a backup that fills the disk must not take the room kept for cleaning up.
    if (!spec.path.startsWith("/backup")) makeRoomForCleanup(deps, m);
    response = c.json(m.body, m.status as any, m.headers);
    if (spec.method !== "GET" && spec.audit !== false) {
      const reason = err instanceof AuthFailure ? err.reason : m.body.error.message;
      audit(spec, deps, { auth, claimed, source, input, result: `${m.status} ${m.body.error.code}: ${reason}` });
    }
    return response;
  }
  if (spec.method !== "GET" && spec.audit !== false) audit(spec, deps, { auth, claimed, source, input, result: "ok" });
  return response;
}

function audit(
  spec: RouteSpec,
  deps: ApiDeps,
  e: { auth: AuthInfo | null; claimed: string | null; source: string; input: RouteInput<any, any, any> | null; result: string },
): void {
  const a = spec.audit || undefined;
  let target: string | null = null;
  let details: Record<string, unknown> | undefined;
  try {
    if (e.input) {
      target = a?.target?.(e.input) ?? null;
      details = a?.details?.(e.input);
    }
  } catch {
    // a target that cannot be computed must not lose the audit record
  }
  if (e.claimed && !e.auth) details = { ...details, claimedAuthId: e.claimed };
  deps.audit.record({ authId: e.auth?.authId ?? null, source: e.source, action: a?.action ?? `${spec.method} ${spec.path}`, target, result: e.result, details });
}

function authorize(deps: ApiDeps, auth: AuthInfo, access: Exclude<RouteSpec["access"], string>, input: RouteInput<any, any, any>): void {
  if (access.orSelf && auth.kind === "user" && input.params?.[access.orSelf] === auth.userid) return;
  const path = resolveAclPath(access.path, input);
  if (!hasPrivilege(deps.db, auth.authId, path, access.priv)) throw forbidden(access.priv, path);
}

/** Fills `{x}` in an ACL path template from params, then query, then body; empty parts drop out. */
export function resolveAclPath(template: string, input: Partial<RouteInput<any, any, any>>): string {
  const parts: string[] = [];
  for (const seg of template.split("/")) {
    const m = /^\{([A-Za-z0-9_-]+)\}$/.exec(seg);
    if (!m) {
      if (seg) parts.push(seg);
      continue;
    }
    const v = input.params?.[m[1]] ?? input.query?.[m[1]] ?? input.body?.[m[1]];
    if (v === undefined || v === null || v === "") continue;
    parts.push(String(v).replace(/^\/+|\/+$/g, ""));
  }
  return normalizeAclPath("/" + parts.filter(Boolean).join("/"));
}

async function readInput(spec: RouteSpec, c: Context): Promise<RouteInput<any, any, any>> {
  const params = validate(spec.params, c.req.param(), "params");
  const query = validate(spec.query, c.req.query(), "query");
  // No body at all reads as {}, so a missing required field is named like any other.
  const body = spec.body ? validate(spec.body, (await readJsonBody(c, spec.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)) ?? {}, "body") : undefined;
  return { params, query, body };
}

function validate(schema: z.ZodType | undefined, value: unknown, where: string): any {
  if (!schema) return value ?? {};
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = [where, ...issue.path.map(String)].join(".");
  const message = issue.code === "unrecognized_keys" ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}` : issue.message;
  throw new ApiError(400, "invalid_request", `${field}: ${message}`, {
    field,
    issues: r.error.issues.slice(0, 10).map((i) => ({ field: [where, ...i.path.map(String)].join("."), message: i.message })),
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads the body with a size cap (also without Content-Length) and parses strict UTF-8 JSON. */
async function readJsonBody(c: Context, limit: number): Promise<unknown> {
  const tooLarge = () => badRequest(`request body is larger than ${limit} bytes`, { limit });
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const type = c.req.header("content-type");
  if (type !== undefined && !/^application\/json\b/i.test(type.trim())) {
    throw new ApiError(415, "unsupported_media_type", `request body must be application/json, got '${type.slice(0, 100)}'`);
  }
  const stream = c.req.raw.body;
  if (!stream) return undefined;
  const body = await readCapped(stream, limit, tooLarge);
  if (body.byteLength === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw badRequest("request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
