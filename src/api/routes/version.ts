/** Unauthenticated liveness routes: what load balancers and `curl -k` checks use. */
import { Hono } from "hono";
import { versionInfo } from "../../version.ts";
import type { ApiDeps } from "../app.ts";

export function versionRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  const info = versionInfo();
  app.get("/version", (c) => c.json({ version: info.version, commit: info.commit, buildDate: info.buildDate }));
  app.get("/health", (c) => {
    // A state database that no longer answers means the node cannot do its work.
    deps.db.$client.query("SELECT 1").get();
    return c.json({ status: "ok", node: deps.config.node });
  });
  return app;
}
