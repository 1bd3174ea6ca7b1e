/**
 * How an API route is declared. Every route names the privilege it needs and the ACL path it
 * needs it on (a template filled from the validated parameters, query and body), or says
 * explicitly that it is `public` or open to any `authenticated` caller. The router
 * (router.ts) enforces the declaration before the handler runs, so a handler never checks
 * permissions itself, and a test walks the table to prove no route lacks one.
 *
 * A route group is one file in routes/ that exports `routeGroup(...)`; listing it in
 * routes/index.ts mounts it under /api/v1.
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { Privilege } from "../access/privileges.ts";
import type { ApiDeps } from "./app.ts";
import type { AuthInfo } from "./auth/authenticate.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export type Access =
  /** No authentication: version, health, login. */
  | "public"
  /** Any valid user or token; the handler only ever shows the caller's own data. */
  | "authenticated"
  | {
      priv: Privilege;
      /** ACL path template, e.g. "/datastore/{store}/{ns}"; `{x}` is filled from params, query, body. */
      path: string;
      /** Also allowed when the caller is the user (not a token) named by this parameter. */
      orSelf?: string;
    };

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface HandlerContext<P, Q, B> extends RouteInput<P, Q, B> {
  /** The caller; null only on public routes. */
  auth: AuthInfo | null;
  deps: ApiDeps;
  /** Client address. */
  source: string;
  c: Context;
}

export interface AuditSpec<P, Q, B> {
  /** e.g. "user.create" */
  action: string;
  target?: (input: RouteInput<P, Q, B>) => string | null | undefined;
  /** Non-secret context for the audit record (never passwords or secrets). */
  details?: (input: RouteInput<P, Q, B>) => Record<string, unknown>;
}

export interface RouteSpec<P = any, Q = any, B = any> {
  method: HttpMethod;
  /** Hono path below /api/v1, e.g. "/access/users/:userid". */
  path: string;
  /** One line for docs/api listings. */
  summary: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Largest accepted body (default 64 KiB). */
  maxBodyBytes?: number;
  /**
   * State-changing routes (every method but GET) are audited; this names the action and
   * target. Default action: "<METHOD> <path>". `false` only where the handler audits itself.
   */
  audit?: AuditSpec<P, Q, B> | false;
  /** Returns the JSON body (status 200), or a Response of its own. */
  handler(ctx: HandlerContext<P, Q, B>): unknown;
}

export interface RouteGroup {
  name: string;
  routes: RouteSpec[];
}

/** Declares a route; exists for type inference of params, query and body from the schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(spec: RouteSpec<P, Q, B>): RouteSpec<P, Q, B> {
  return spec;
}

export function routeGroup(name: string, routes: RouteSpec<any, any, any>[]): RouteGroup {
  return { name, routes };
}

/** The placeholders `{x}` of an ACL path template. */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z0-9_-]+)\}/g)].map((m) => m[1]);
}
