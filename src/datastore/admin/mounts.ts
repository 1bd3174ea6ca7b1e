/**
 * Which mount a path lives on, from /proc/self/mountinfo (what `findmnt --target` shows):
 * mount point, filesystem type, source device and the read-only flag. The mount is the one
 * with the longest mount point that contains the path; of stacked mounts, the last listed
 * (the top one) wins.
 */
import { readFileSync } from "node:fs";
import { sep } from "node:path";

export interface MountInfo {
  mountPoint: string;
  /** The directory of the source filesystem mounted here ("/" unless a bind mount of a subdirectory). */
  root: string;
  fsType: string;
  source: string;
  /** Per-mount options (`ro`, `nosuid`, …). */
  options: string[];
  /** Filesystem (superblock) options. */
  superOptions: string[];
  /** Read-only either per mount (`mount -o remount,ro,bind`) or for the whole filesystem. */
  readOnly: boolean;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 6 || fields.length < dash + 3) continue; // not a line we understand: skip it
    const options = fields[5]!.split(",");
    const superOptions = (fields[dash + 3] ?? "").split(",");
    mounts.push({
      mountPoint: unescape(fields[4]!),
      root: unescape(fields[3]!),
      fsType: fields[dash + 1]!,
      source: unescape(fields[dash + 2]!),
      options,
      superOptions,
      readOnly: options.includes("ro") || superOptions.includes("ro"),
    });
  }
  return mounts;
}

export function readMounts(): MountInfo[] {
  try {
    return parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return []; // no /proc (containers without it): mount checks report "unknown"
  }
}

/** The mount holding `path` (give a physical path: symlinks resolved). */
export function mountOf(path: string, mounts: MountInfo[] = readMounts()): MountInfo | null {
  let best: MountInfo | null = null;
  for (const m of mounts) {
    const contains = m.mountPoint === sep || path === m.mountPoint || path.startsWith(m.mountPoint + sep);
    if (contains && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}
