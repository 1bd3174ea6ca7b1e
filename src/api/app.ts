/**
 * The HTTP API: one hono app composed of route groups under /api/v1. Every route group is a
 * sub-app in routes/; this file only mounts them and maps errors to one JSON shape.
 */
import { Hono } from "hono";
import type { NodeConfig } from "../config/load.ts";
import type { Logger } from "../log/logger.ts";
import type { StateDb } from "../state/db.ts";
import { IbsError } from "../util/errors.ts";
import { versionRoutes } from "./routes/version.ts";

export interface ApiDeps {
  config: NodeConfig;
  db: StateDb;
  log: Logger;
}

export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  app.route("/api/v1", versionRoutes(deps));
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => {
    if (err instanceof IbsError) {
      return c.json({ error: { code: "bad_request", message: err.message } }, 400);
    }
    deps.log.error("request failed", { err, path: c.req.path, method: c.req.method });
    return c.json({ error: { code: "internal", message: "internal error; see api.log" } }, 500);
  });
  return app;
}
