/**
 * The HTTP API: one hono app with the declared route groups (routes/index.ts) under /api/v1.
 * router.ts enforces each route's declared privilege, validates input and audits changes;
 * this file wires the dependencies and answers everything else in the one JSON error shape.
 */
import { Hono } from "hono";
import type { NodeConfig } from "../config/load.ts";
import type { Logger } from "../log/logger.ts";
import type { StateDb } from "../state/db.ts";
import { auditSink, type AuditSink } from "../audit/audit-log.ts";
import type { LoginLimits } from "./auth/login-limit.ts";
import { mapError } from "./errors.ts";
import { mountRouteGroups, type MountedRoute } from "./router.ts";
import type { RouteGroup } from "./route.ts";
import { routeGroups } from "./routes/index.ts";

export const API_PREFIX = "/api/v1";

export interface ApiDeps {
  config: NodeConfig;
  db: StateDb;
  log: Logger;
  /** Signs login tickets and CSRF tokens (auth/ticket-key.ts). */
  ticketKey: Buffer;
  audit: AuditSink;
  loginLimits?: LoginLimits;
}

export interface ApiDepsInput extends Omit<ApiDeps, "audit"> {
  audit?: AuditSink;
}

export interface ApiApp {
  app: Hono;
  routes: MountedRoute[];
}

export function createApi(input: ApiDepsInput, groups: RouteGroup[] = routeGroups): ApiApp {
  const deps: ApiDeps = {
    ...input,
    audit: input.audit ?? auditSink(input.db, input.config.logDir, (err) => input.log.error("cannot append to audit.log", { err: err.message })),
  };
  const app = new Hono();
  const routes = mountRouteGroups(app, API_PREFIX, groups, deps);
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}`, details: {} } }, 404));
  app.onError((err, c) => {
    const m = mapError(err);
    if (m.internal) deps.log.error("request failed", { err: err.message, path: c.req.path, method: c.req.method });
    return c.json(m.body, m.status as any, m.headers);
  });
  return { app, routes };
}

export function createApp(input: ApiDepsInput): Hono {
  return createApi(input).app;
}
