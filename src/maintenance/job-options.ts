/**
 * A job's options checked with the parser its task will use, when the job is created or
 * changed: a typo in `--option` then fails at `job create` with the option named, instead of
 * in the task log at 2 a.m. Types without a parser here (sync, tape: later issues) are not checked.
 */
import { parseGcTaskOptions } from "./gc-task.ts";
import { parsePruneTaskOptions } from "./prune-task.ts";
import { parseVerifyTaskOptions } from "./verify-task.ts";

export function checkJobOptions(type: string, options: Record<string, string>): void {
  if (type === "gc") parseGcTaskOptions(options);
  else if (type === "verify") parseVerifyTaskOptions(options);
  else if (type === "prune") parsePruneTaskOptions(options);
}
