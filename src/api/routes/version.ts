/** Unauthenticated liveness routes: what load balancers and `curl` checks use. */
import { versionInfo } from "../../version.ts";
import { route, routeGroup } from "../route.ts";

export default routeGroup("version", [
  route({
    method: "GET",
    path: "/version",
    summary: "version, commit and build date of the server",
    access: "public",
    handler: () => {
      const info = versionInfo();
      return { version: info.version, commit: info.commit, buildDate: info.buildDate };
    },
  }),
  route({
    method: "GET",
    path: "/health",
    summary: "the node answers and its state database works",
    access: "public",
    handler: ({ deps }) => {
      // A state database that no longer answers means the node cannot do its work.
      deps.db.$client.query("SELECT 1").get();
      return { status: "ok", node: deps.config.node };
    },
  }),
]);
