/**
 * Every route group of the API, mounted under /api/v1 in this order. Adding a group: write
 * routes/<name>.ts whose default export is `routeGroup(...)` (see ../route.ts), and add its
 * line here.
 */
import type { RouteGroup } from "../route.ts";

export const routeGroups: RouteGroup[] = (
  await Promise.all([
    import("./version.ts"),
    import("./ticket.ts"),
    import("./users.ts"),
    import("./tokens.ts"),
    import("./acl.ts"),
    import("./audit.ts"),
    import("./certificate.ts"),
    import("./backup.ts"),
    import("./reader.ts"),
    import("./snapshots.ts"),
    import("./keys.ts"),
    import("./datastores.ts"),
    import("./datastore-namespaces.ts"),
    import("./datastore-maintenance.ts"),
  ])
).map((m) => m.default);
