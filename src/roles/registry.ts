/**
 * Which code runs each role. Roles whose work has not landed yet run an idle loop, so that
 * they heartbeat and shut down like the rest; each gets its own file when its work arrives.
 */
import { periodic } from "./loop.ts";
import type { RoleName, RoleStart } from "./role.ts";

const idle = (role: RoleName): RoleStart => async (ctx) => {
  ctx.log.info(`${role} ready`);
  return periodic(ctx, 5000, async () => {});
};

export const roleStarters: Record<RoleName, () => Promise<RoleStart>> = {
  api: async () => (await import("./api.ts")).start,
  scheduler: async () => (await import("./scheduler.ts")).start,
  worker: async () => (await import("./worker.ts")).start,
  verifier: async () => (await import("./verifier.ts")).start,
  gc: async () => (await import("./gc.ts")).start,
  sync: async () => idle("sync"),
  notify: async () => idle("notify"),
};
