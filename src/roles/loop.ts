/**
 * The loop most roles are: do one round of work, sleep, repeat until stopped. A round that
 * throws is logged and the loop goes on: one bad job must not take the service down.
 */
import type { RoleContext, RunningRole } from "./role.ts";

export function periodic(ctx: RoleContext, intervalMs: number, round: () => Promise<void>): RunningRole {
  let wake: (() => void) | null = null;
  const done = (async () => {
    while (!ctx.signal.aborted) {
      try {
        await round();
      } catch (err) {
        ctx.log.error("round failed", { err });
      }
      if (ctx.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  })();
  ctx.signal.addEventListener("abort", () => (wake as (() => void) | null)?.());
  return { stop: () => done };
}
