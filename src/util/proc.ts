/**
 * Process identity on Linux: a pid alone is reused after a reboot or wrap-around, so a
 * process is named by (pid, pstart), its start time in clock ticks since boot, as Proxmox does.
 */
import { readFileSync } from "node:fs";

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat; 0 where /proc is not available. */
export function processStartTime(pid = process.pid): number {
  const f = statFields(pid);
  return f ? Number(f[19]) : 0; // field 22 is the 20th after "pid (comm)"
}

/** True when the process with this pid exists and is the same one that started at pstart. */
export function processAlive(pid: number, pstart: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err: any) {
    if (err?.code !== "EPERM") return false;
  }
  const f = statFields(pid);
  if (!f) return true; // no /proc: trust kill(0)
  if (f[0] === "Z" || f[0] === "X") return false; // killed, not yet reaped by its parent
  return !pstart || Number(f[19]) === pstart;
}
