/**
 * Ctrl-C (SIGINT) or SIGTERM during a backup or restore: the first one aborts the run at its
 * next safe point, so the session is closed on the server with the reason; a second one, or
 * 15 s without the run ending, exits at once (the session's watch connection then closes, and
 * the server aborts the session itself).
 */
import { IbsError } from "../util/errors.ts";

export function interruptSignal(what: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let forced: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${sig}: stopping the ${what}; press Ctrl-C again to exit at once\n`);
    controller.abort(new IbsError(`${what} interrupted by ${sig}: the session was aborted, nothing of it became visible`, 130));
    forced = setTimeout(() => process.exit(130), 15_000);
    forced.unref?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (forced) clearTimeout(forced);
    },
  };
}
