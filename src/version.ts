/**
 * Version, git commit and build date. The compiled binary gets commit and date stamped in by
 * compile/build.ts (--define); from source they are read from git at the time of the call.
 */
import pkg from "../package.json" with { type: "json" };

declare const IBS_BUILD_COMMIT: string;
declare const IBS_BUILD_DATE: string;

export interface VersionInfo {
  version: string;
  commit: string;
  buildDate: string;
  compiled: boolean;
}

export const VERSION: string = pkg.version;

export function versionInfo(): VersionInfo {
  if (typeof IBS_BUILD_COMMIT === "string") {
    return { version: VERSION, commit: IBS_BUILD_COMMIT, buildDate: IBS_BUILD_DATE, compiled: true };
  }
  const git = (...args: string[]) => {
    const r = Bun.spawnSync(["git", ...args], { cwd: import.meta.dir, stderr: "ignore" });
    return r.success ? r.stdout.toString().trim() : "";
  };
  const commit = git("rev-parse", "--short=12", "HEAD") || "unknown";
  const dirty = commit !== "unknown" && git("status", "--porcelain", "--untracked-files=no") ? "-dirty" : "";
  return { version: VERSION, commit: commit + dirty, buildDate: "source", compiled: false };
}

export function versionLine(v = versionInfo()): string {
  return `ironcore-backup ${v.version} (commit ${v.commit}, ${v.compiled ? `built ${v.buildDate}` : "running from source"})`;
}
