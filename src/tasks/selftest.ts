/**
 * The `selftest` task (`ironcore-backup worker selftest`): holds a worker slot for some
 * seconds, logging and reporting progress every second and stopping at once on abort. It lets
 * an operator check that workers take queued work and that slots bound concurrency.
 */
import type { TaskHandler } from "./runner.ts";

export const SELFTEST_MAX_SECONDS = 86_400;

export const selftest: TaskHandler = async (ctx) => {
  const seconds = Number(ctx.params.seconds ?? 10);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > SELFTEST_MAX_SECONDS) {
    throw new Error(`selftest: seconds must be 0..${SELFTEST_MAX_SECONDS}, got ${ctx.params.seconds}`);
  }
  ctx.log(`selftest: holding a worker slot for ${seconds} s`);
  ctx.progress(0, seconds, "s");
  let elapsed = 0;
  while (elapsed < seconds) {
    const step = Math.min(1, seconds - elapsed);
    await ctx.sleep(step * 1000);
    elapsed = Math.round((elapsed + step) * 1000) / 1000;
    ctx.progress(elapsed, seconds, "s");
    ctx.log(`selftest: ${elapsed}/${seconds} s`);
  }
};
