/** The `api` role: serves the HTTP API on the configured address. */
import { createApp } from "../api/app.ts";
import { IbsError } from "../util/errors.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => {
  const { host, port } = ctx.config.listen;
  const app = createApp({ config: ctx.config, db: ctx.db, log: ctx.log });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: host, port, fetch: app.fetch, maxRequestBodySize: 64 * 1024 * 1024 });
  } catch (err: any) {
    const why = err?.code === "EADDRINUSE" ? "address already in use (another api role or program holds the port)"
      : err?.code === "EACCES" ? "permission denied (ports below 1024 need privileges)" : err?.message;
    throw new IbsError(`api: cannot listen on ${host}:${port}: ${why}`);
  }
  ctx.log.info("listening", { url: `http://${host}:${server.port}` });
  return {
    stop: async () => {
      // Stop accepting, let requests in flight finish (bounded), then drop idle keep-alive
      // connections, which would otherwise hold the process open.
      void server.stop(false);
      const deadline = Date.now() + 10_000;
      while (server.pendingRequests > 0 && Date.now() < deadline) await Bun.sleep(50);
      await server.stop(true);
    },
  };
};
